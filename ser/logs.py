"""Logging for the pipeline's scripts: one log file per job, and one clear line per failure."""
from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def job_log(log_path: str | Path, name: str = "ser") -> Iterator[logging.Logger]:
    """Log to `log_path` and stderr; a failure becomes one line there and the job exits 1.

    The full traceback still goes to the log file, because the one line is for the user and the
    traceback for whoever debugs the code.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console = logging.StreamHandler(sys.stderr)
    # records logged with extra={"file_only": True} (full listings) stay out of the console
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    handlers = [logging.FileHandler(log_path, mode="w"), console]
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    logger = logging.getLogger(name)
    try:
        yield logger
    except Exception as exc:  # noqa: BLE001 - every failure must reach the user as one line
        with open(log_path, "a") as fh:
            # an error whose message is capped keeps its full listing here
            if getattr(exc, "details", None):
                fh.write(f"{type(exc).__name__} in full:\n{exc.details}\n")
            traceback.print_exc(file=fh)
        logger.error("%s: %s", type(exc).__name__, exc)
        logging.shutdown()
        sys.exit(1)
