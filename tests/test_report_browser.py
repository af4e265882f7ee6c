"""The report opened in headless Chromium: no console error, no request off the machine, every
figure decoded, and a screenshot.

Chromium is driven through the DevTools protocol over `--remote-debugging-pipe` (JSON messages
separated by NUL bytes on file descriptors 3 and 4), which needs no websocket package and opens
no port. A control page with an external image and a console error proves the probe sees both.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from report_fixtures import MODELS, build_run
from ser.report.aggregate import write_metrics_table
from ser.report.html import render_report

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1280,1600"]
TIMEOUT = 30.0
FIGURES_JS = ("JSON.stringify([...document.querySelectorAll('img.report-figure')]"
              ".map(i => [i.id, i.alt, i.complete && i.naturalWidth > 0]))")
# Each model's misclassified files: [open?, rows of its table the browser renders]
# (checkVisibility: a closed <details> hides its content with content-visibility, not display)
DETAILS_JS = ("JSON.stringify([...document.querySelectorAll('details.misclassified')]"
              ".map(d => [d.open, [...d.querySelectorAll('tbody tr')]"
              ".filter(r => r.checkVisibility()).length]))")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed here when missing and we may (root); else the test skips."""
    if not CHROMIUM.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                       env=env, check=False, timeout=600)
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and cannot be installed (needs root and apt-get)")
    return CHROMIUM


def _high_fd(fd: int) -> int:
    """A copy of `fd` numbered >= 10, so the redirections to 3 and 4 cannot clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class DevTools:
    """Minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, chromium: Path, user_dir: Path):
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()
        cmd_r, out_w = _high_fd(cmd_r), _high_fd(out_w)
        shell = f'exec "$0" "$@" 3<&{cmd_r} 4>&{out_w} {cmd_r}<&- {out_w}>&-'
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", shell, str(chromium), *FLAGS, f"--user-data-dir={user_dir}"],
            pass_fds=(cmd_r, out_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self.events: list[dict] = []
        self._replies: queue.Queue = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        while chunk := os.read(self._out_r, 1 << 16):
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                (self._replies.put if "id" in msg else self.events.append)(msg)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._replies.get(timeout=TIMEOUT)
            if reply["id"] == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {TIMEOUT} s")
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a hung browser must not outlive the test
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)


def visit(chromium: Path, page: Path, workdir: Path, screenshot: Path | None = None) -> dict:
    """Open `page`; return the requested URLs, console errors and figures (id, alt, decoded)."""
    tools = DevTools(chromium, workdir / "profile")
    try:
        target = tools.call("Target.createTarget", url="about:blank")["targetId"]
        session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            tools.call(f"{domain}.enable", session)
        tools.call("Page.navigate", session, url=page.resolve().as_uri())
        tools.wait_for("Page.loadEventFired")
        figures = tools.call("Runtime.evaluate", session, expression=FIGURES_JS,
                             returnByValue=True)["result"]["value"]
        details = tools.call("Runtime.evaluate", session, expression=DETAILS_JS,
                             returnByValue=True)["result"]["value"]
        if screenshot is not None:
            shot = tools.call("Page.captureScreenshot", session, format="png",
                              captureBeyondViewport=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.3)  # late console messages (e.g. a CSP report) arrive after the load event
    finally:
        tools.close()
    return {"urls": [e["params"]["request"]["url"] for e in tools.events
                     if e.get("method") == "Network.requestWillBeSent"],
            "errors": _errors(tools.events), "figures": json.loads(figures),
            "details": json.loads(details)}


def _errors(events: list[dict]) -> list[str]:
    errors = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.exceptionThrown":
            errors.append(json.dumps(p["exceptionDetails"])[:300])
        elif e.get("method") == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            errors.append(json.dumps(p["args"])[:300])
        elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(p["entry"]["text"])
    return errors


def off_machine(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("file://", "data:"))]


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
