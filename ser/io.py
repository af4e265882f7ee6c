"""Writes that never leave a half-written file or folder behind: a temporary name, then a rename."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def ordinary_mode(directory: bool = False) -> int:
    """The mode `open`/`mkdir` would give a new file or folder under the current umask.

    mkstemp and mkdtemp create 0600/0700 for their own safety; the final outputs must be readable
    by whoever the user's umask lets read them (a project group opening the report, say).
    """
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, ordinary_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it becomes `path` only if the block succeeds.

    An existing `path` is moved aside first and deleted after the swap, so a reader sees the old
    folder or the new one, never a mixture.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        os.chmod(tmp, ordinary_mode(directory=True))
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, old / "x")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def short_error(err: BaseException) -> str:
    """An exception's message on one line (its type when it has none)."""
    return " ".join(str(err).split()) or type(err).__name__


def rebuild_hint(path: str | Path) -> str:
    """How to recover from a damaged output of the pipeline (a full disk, a killed copy)."""
    return (f"rebuild it: `rm {path}`, then rerun the same snakemake command (the job that wrote "
            f"it runs again, and then what reads it)")


def read_json_object(path: str | Path, what: str, required: Iterable[str] = ()) -> dict:
    """A JSON object from `path`; a ValueError naming the file and the reason otherwise."""
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read {what}: {exc}; {rebuild_hint(path)}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ValueError(f"{path}: {what} lacks keys {missing}")
    return value


def require_columns(table, columns: Iterable[str], where, what: str):
    """`table` (a DataFrame) when it has every one of `columns`; a ValueError naming `where`."""
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"{where}: {what} lacks columns {missing}")
    return table


def read_table(path: str | Path, what: str, columns: Iterable[str] = ()):
    """A CSV (TSV for .tsv) as a DataFrame with `columns`; a ValueError naming the file and the
    reason otherwise."""
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: cannot read {what}: {exc}; {rebuild_hint(path)}") from exc
    return require_columns(table, columns, path, what)
