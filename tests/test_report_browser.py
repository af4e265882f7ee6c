"""The report opened in headless Chromium: no console error, no request off the machine, every
figure decoded, and a screenshot (ser.report.browser drives Chromium). A control page with an
external image and a console error proves the probe sees both.
"""
from __future__ import annotations

import pytest

from report_fixtures import MODELS, build_run
from ser.report.aggregate import write_metrics_table
from ser.report.browser import off_machine, visit
from ser.report.html import render_report

pytestmark = pytest.mark.browser


@pytest.mark.timeout(120)
def test_report_in_headless_chromium(chromium, tmp_path, ravdess16k) -> None:
    run = build_run(tmp_path / "run", ravdess16k, "emobox_6fold")
    metrics_csv = run.root / "results" / "metrics.csv"
    write_metrics_table(run.metrics_paths, metrics_csv)
    page = render_report(metrics_csv, run.models_dir, run.folds_csv, run.metadata_csv,
                         run.benchmark_paths, run.config, run.root / "reports" / "report.html",
                         corpus_json=run.corpus_json)
    shot = tmp_path / "report.png"
    seen = visit(chromium, page, tmp_path, shot)
    assert seen["errors"] == []
    assert seen["urls"] and off_machine(seen["urls"]) == []
    ids = {f[0] for f in seen["figures"]}
    assert len(ids) == len(seen["figures"]) == 1 + 4 * len(MODELS)
    assert {f"fig-{m}-confusion" for m in MODELS} <= ids
    assert all(alt and decoded for _, alt, decoded in seen["figures"])
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    # the misclassified files of each model are there, collapsed: none of their rows is shown
    assert len(seen["details"]) == len(MODELS)
    assert all(opened is False and shown == 0 for opened, shown in seen["details"]), \
        seen["details"]


@pytest.mark.timeout(60)
def test_probe_sees_external_requests_and_console_errors(chromium, tmp_path) -> None:
    """The control: a page that breaks both rules must be caught, or the test above proves
    nothing. Port 9 of the loopback refuses at once, so the request fails fast and stays here."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><img src='http://127.0.0.1:9/x.png'>"
                    "<script>console.error('boom')</script><details class='misclassified' open>"
                    "<summary>s</summary><table><tbody><tr><td>x</td></tr></tbody></table>"
                    "</details></body></html>")
    seen = visit(chromium, page, tmp_path)
    assert off_machine(seen["urls"]) == ["http://127.0.0.1:9/x.png"]
    assert any("boom" in e for e in seen["errors"])
    assert seen["details"] == [[True, 1]]  # an open list is seen as open, its row as shown


@pytest.mark.timeout(120)
def test_pipeline_report_in_headless_chromium(chromium, tmp_path, tiny_run) -> None:
    """The page the real pipeline wrote on six real actors: loads clean, every figure present."""
    shot = tmp_path / "tiny_report.png"
    seen = visit(chromium, tiny_run / "reports" / "report.html", tmp_path, shot)
    assert seen["errors"] == []
    assert seen["urls"] and off_machine(seen["urls"]) == []
    ids = {f[0] for f in seen["figures"]}
    models = ("kaggle_cnn1d", "resnet18")
    assert len(ids) == 1 + 4 * len(models)
    assert {f"fig-{m}-{kind}" for m in models for kind in ("confusion", "curves")} <= ids
    assert all(alt and decoded for _, alt, decoded in seen["figures"])
    assert shot.stat().st_size > 20_000
