"""`ser predict`: class probabilities of new recordings from a trained model (a torch model.pt,
a linear model.npz or a fusion's model.json), over their speech only (ser.use.score), as a
table of one row per file and, for `--windows` or a long recording, one per window or stretch of
speech.

Files are scored a group at a time, the windows of the group batched through the model; a long
recording (or every one with `--timeline`) is read in blocks and scored stretch by stretch. A file
that cannot be scored is reported with the reason and the others still run.
"""
from __future__ import annotations

import glob
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from ser.audio import AV_SUFFIXES, AudioError, audio_seconds
from ser.io import atomic_file
from ser.use.load import model_file
from ser.use.score import (LONG_SECONDS, MIN_SECONDS, FileScore, fused_score, score_clips,
                           score_timeline)
from ser.use.trained import FusionTrained

EXTENSIONS = {f".{ext.lower()}" for ext in sf.available_formats()} | {".oga", ".opus"} | \
    AV_SUFFIXES
GROUP = 16  # clips decoded, then scored together
NO_SPEECH = "no speech"


def audio_files(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files named, found under folders (recursively, by audio extension) or matched by
    globs, in order and once each; and (input, reason) for inputs that give none."""
    found, failed = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in EXTENSIONS)
        elif path.exists():
            files = [path]
        else:
            files = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
        if not files:
            failed.append((item, "no audio files there" if path.is_dir() else "no such file"))
        found.extend(files)
    return list(dict.fromkeys(found)), failed


def score_file(path: Path, trained, hop: float = 0.5, min_seconds: float = MIN_SECONDS,
               timeline: bool = False, progress: bool = False) -> FileScore:
    """One recording by a TrainedModel, LinearTrained or FusionTrained; AudioError names it
    and the reason it cannot be scored. With `progress`, a long one's bar (seconds) on stderr."""
    if timeline or audio_seconds(path) > LONG_SECONDS:
        from tqdm import tqdm

        with tqdm(total=round(audio_seconds(path)), desc=path.name, unit="s",
                  disable=not progress, leave=False) as bar:
            return score_timeline(path, trained, hop, min_seconds, bar.update)
    if isinstance(trained, FusionTrained):
        return fused_score(path, trained, hop, min_seconds)
    scores, failed = score_clips([path], trained, hop, min_seconds)
    if failed:
        raise AudioError(path, failed[0][1])
    return scores[0]


def _is_long(path: Path, timeline: bool) -> bool:
    try:
        return timeline or audio_seconds(path) > LONG_SECONDS
    except AudioError:
        return False  # score_clips names the reason


def predict_files(paths: list[Path], trained, hop: float = 0.5,
                  min_seconds: float = MIN_SECONDS, progress: bool = True,
                  timeline: bool = False) -> tuple[list[FileScore], list[tuple[str, str]]]:
    """Scores of the files that could be scored, in order, and (file, reason) of those that
    could not; a progress bar on stderr for more than one file."""
    from tqdm import tqdm

    done: dict[Path, FileScore] = {}
    failed = []
    bar = tqdm(total=len(paths), desc="predict", unit="file",
               disable=not progress or len(paths) < 2)
    # a fusion's members read the clip each their own way: one file at a time
    batched = [] if isinstance(trained, FusionTrained) else \
        [p for p in paths if not _is_long(p, timeline)]
    for path in [p for p in paths if p not in set(batched)]:
        try:
            done[path] = score_file(path, trained, hop, min_seconds, timeline, progress)
        except AudioError as err:
            failed.append((str(path), err.reason))
        bar.update()
    for i in range(0, len(batched), GROUP):
        scores, bad = score_clips(batched[i:i + GROUP], trained, hop, min_seconds)
        done.update((s.path, s) for s in scores)
        failed += bad
        bar.update(len(batched[i:i + GROUP]))
    bar.close()
    return [done[p] for p in paths if p in done], failed


def _row(file: str, classes: list[str], probs: np.ndarray | None, **extra) -> dict:
    if probs is None:
        return {"file": file, **extra, "top_class": NO_SPEECH, "top_p": np.nan,
                **{f"p_{c}": np.nan for c in classes}}
    top = int(np.argmax(probs))
    return {"file": file, **extra, "top_class": classes[top], "top_p": float(probs[top]),
            **{f"p_{c}": float(p) for c, p in zip(classes, probs)}}


def score_table(scores: list[FileScore], classes: list[str], with_windows: bool = False
                ) -> pd.DataFrame:
    """One row per file (window `mean`: over its speech), and with `with_windows` (always for
    a timeline) one per window or stretch of speech after it."""
    rows = []
    for score in scores:
        rows.append(_row(str(score.path), classes, score.probs, window="mean", start_s=0.0,
                         end_s=score.seconds, speech_s=score.speech))
        if with_windows or score.timeline:
            rows += [_row(str(score.path), classes, p, window=str(i), start_s=a, end_s=b,
                          speech_s=speech)
                     for i, (a, b, speech, p) in enumerate(score.windows, 1)]
    table = pd.DataFrame(rows)
    shown = with_windows or any(s.timeline for s in scores)
    return table if shown or table.empty else table.drop(columns=["window"])


def summary(table: pd.DataFrame, n_files: int) -> str:
    """A few lines for the console when the table goes to a file: files by top class."""
    files = table[table["window"] == "mean"] if "window" in table else table
    counts = Counter(files["top_class"])
    parts = ", ".join(f"{c} {n}" for c, n in counts.most_common())
    return f"{len(files)} of {n_files} files scored; top class: {parts}"


def write_table(table: pd.DataFrame, out: str | Path) -> None:
    """CSV or JSON (a list of row objects) by the extension of `out`, written atomically."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"{out}: the output must end in .csv or .json")
    with atomic_file(out) as tmp:
        if out.suffix.lower() == ".csv":
            table.to_csv(tmp, index=False)
        else:  # a no-speech row's probabilities are null, not NaN (which JSON does not have)
            rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
            tmp.write_text(json.dumps(rows, indent=2) + "\n")


def validation_note(model: str | Path) -> str | None:
    """One line: the model's scores on its validation actors' files (from the metrics.json
    beside it), which is what it can be trusted to do on new speakers; None without them."""
    path = model_file(model).with_name("metrics.json")
    try:
        m = json.loads(path.read_text())
        ua, wa = float(m["val_unweighted_accuracy"]), float(m["val_accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if np.isnan(ua):
        return None
    source = m.get("val_source") or "its validation actors' files"
    files = f"{m['n_val']} files, " if m.get("n_val") else ""
    return (f"{m.get('model', path.parent.name)} ({m.get('family', '?')}): UA {100 * ua:.1f} %, "
            f"WA {100 * wa:.1f} % on {source} ({files}speakers it was not trained on)")
