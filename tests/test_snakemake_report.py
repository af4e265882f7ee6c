"""Snakemake's own report (`snakemake --report report.zip`) of the finished tiny run."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from conftest import run_snakemake

pytestmark = pytest.mark.slow


def test_report_zip_holds_registered_outputs(tiny_run: Path, tiny_config: Path, tmp_path: Path):
    out = tmp_path / "report.zip"
    run_snakemake(tiny_run, "--report", str(out), configfiles=(tiny_config,), timeout=300)
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None, f"{out}: corrupt member"
        # every output registered with report(), stored as is: figures, metrics table, our page
        stored = [Path(m) for m in archive.namelist() if "/data/raw/" in m]
        by_name = {m.name: m for m in stored}
        assert len(by_name) == len(stored), f"two outputs of one name: {stored}"
        registered = [*(tiny_run / "results" / "figures").glob("*.png"),
                      tiny_run / "results" / "metrics.csv", tiny_run / "reports" / "report.html"]
        assert len(registered) > 2 and {p.name for p in registered} == set(by_name), stored
        for path in registered:
            assert archive.read(str(by_name[path.name])) == path.read_bytes(), path
        # Snakemake's own page, with the three categories of rules/report.smk
        page = archive.read("report/report.html").decode()
        for category in ("Figures", "Metrics", "Report"):
            assert f'"{category}"' in page, category
