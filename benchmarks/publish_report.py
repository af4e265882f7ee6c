"""Publish a real-corpus run's report: `reports/<name>.html` and a screenshot of its first screen.

    python benchmarks/publish_report.py benchmarks/out/cpu/emobox_6fold --name real-emobox_6fold-cpu

The page is the one the pipeline's report rule wrote into the run's work directory
(`reports/report.html`), copied unchanged: it is self-contained, so the copy opens anywhere. It is
first opened in headless Chromium (ser.report.browser); a page that requests anything off the
machine, logs a console error, or comes from the synthetic demo corpus is refused and nothing is
written. The screenshot (`docs/report-first-screen.png` unless `--screenshot`) is what the README
shows.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ser.data.provenance import is_synthetic  # noqa: E402
from ser.io import atomic_file  # noqa: E402
from ser.report.answer import first_sentence  # noqa: E402
from ser.report.browser import CHROMIUM, off_machine, visit  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path, help="the run's work directory (Snakemake's --directory)")
    parser.add_argument("--name", required=True, help="file name under reports/, without .html")
    parser.add_argument("--reports", type=Path, default=REPO / "reports")
    parser.add_argument("--screenshot", type=Path, default=REPO / "docs" / "report-first-screen.png")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM)
    return parser.parse_args(argv)


def check_run(workdir: Path) -> Path:
    """The run's report, after checking that it is a finished real-corpus run."""
    page = workdir / "reports" / "report.html"
    corpus = workdir / "results" / "corpus.json"
    for path in (page, corpus):
        if not path.is_file():
            raise SystemExit(f"{path}: missing; run the pipeline into {workdir} first")
    if is_synthetic(json.loads(corpus.read_text())):
        raise SystemExit(f"{corpus}: the synthetic demo corpus; reports/ holds real-corpus runs only")
    return page


def publish(workdir: Path, name: str, reports: Path, screenshot: Path, chromium: Path) -> str:
    """Check the page in Chromium, then write the copy and the screenshot; the first sentence."""
    page = check_run(workdir)
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "first-screen.png"
        seen = visit(chromium, page, Path(tmp), shot, first_screen=True)
        leaks = off_machine(seen["urls"])
        if leaks or seen["errors"]:
            raise SystemExit(f"{page}: refused: {len(leaks)} requests off the machine "
                             f"{leaks[:3]}, console errors {seen['errors'][:3]}")
        # a reader never sees half a page or half a picture
        for source, target in ((page, reports / f"{name}.html"), (shot, screenshot)):
            with atomic_file(target) as tmp_target:
                shutil.copyfile(source, tmp_target)
    return first_sentence(seen["answer"])


def main() -> None:
    args = parse_args()
    sentence = publish(args.workdir, args.name, args.reports, args.screenshot, args.chromium)
    print(f"{args.reports / (args.name + '.html')} and {args.screenshot} written")
    print(f"first sentence ({len(sentence.split())} words): {sentence}")


if __name__ == "__main__":
    main()
