"""Open a page in headless Chromium and see what it does: the requests it makes, its console
errors, its figures, and a screenshot. Used by the report's tests and by
`benchmarks/publish_report.py`.

Chromium is driven through the DevTools protocol over `--remote-debugging-pipe` (JSON messages
separated by NUL bytes on file descriptors 3 and 4), which needs no websocket package and opens
no port.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1280,1600"]
TIMEOUT = 30.0
FIRST_SCREEN = {"x": 0, "y": 0, "width": 1280, "height": 900, "scale": 1}
FIGURES_JS = ("JSON.stringify([...document.querySelectorAll('img.report-figure')]"
              ".map(i => [i.id, i.alt, i.complete && i.naturalWidth > 0]))")
ANSWER_JS = "(document.getElementById('answer') || {innerText: ''}).innerText"
# Each model's misclassified files: [open?, rows of its table the browser renders]
# (checkVisibility: a closed <details> hides its content with content-visibility, not display)
DETAILS_JS = ("JSON.stringify([...document.querySelectorAll('details.misclassified')]"
              ".map(d => [d.open, [...d.querySelectorAll('tbody tr')]"
              ".filter(r => r.checkVisibility()).length]))")


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


def visit(chromium: Path, page: Path, workdir: Path, screenshot: Path | None = None,
          first_screen: bool = False) -> dict:
    """Open `page`; return the requested URLs, console errors, figures (id, alt, decoded), the
    misclassified lists (open, rows shown) and the text of its answer paragraph.

    `screenshot`: a PNG of the whole page, or of its first 1280 x 900 pixels with
    `first_screen` (what a reader sees before scrolling)."""
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
        answer = tools.call("Runtime.evaluate", session, expression=ANSWER_JS,
                            returnByValue=True)["result"]["value"]
        if screenshot is not None:
            area = {"clip": FIRST_SCREEN} if first_screen else {"captureBeyondViewport": True}
            shot = tools.call("Page.captureScreenshot", session, format="png", **area)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.3)  # late console messages (e.g. a CSP report) arrive after the load event
    finally:
        tools.close()
    return {"urls": [e["params"]["request"]["url"] for e in tools.events
                     if e.get("method") == "Network.requestWillBeSent"],
            "errors": _errors(tools.events), "figures": json.loads(figures),
            "details": json.loads(details), "answer": answer}


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
    """The URLs that leave the machine: anything but files and data: URIs."""
    return [u for u in urls if not u.startswith(("file://", "data:"))]
