"""`ser predict`: class probabilities of new recordings from a trained model (a torch model.pt,
a linear model.npz or a fusion's model.json).

A recording is decoded at the model's sample rate (any rate, mono or stereo, whatever soundfile
reads) and cut into the windows the model was trained on. One no longer than the window is
treated exactly as the features rule treated the training clips (cut or zero-padded from the
offset, or its whole clip stretched); a longer one is scored in windows of that length every
`hop` of a window, the last one ending at the recording's end, and its score is the mean of the
windows' probabilities. A file that cannot be scored is reported with the reason and the others
still run.
"""
from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from ser.audio import AudioError, fix_length, load_audio
from ser.io import atomic_file
from ser.use.load import model_file
from ser.use.trained import FusionTrained, LinearTrained, TrainedModel

# Shorter recordings are refused rather than padded into a window of near silence: 0.5 s holds
# about one word, and the shortest RAVDESS clip lasts about 3 s.
MIN_SECONDS = 0.5
EXTENSIONS = {f".{ext.lower()}" for ext in sf.available_formats()} | {".oga", ".opus"}


@dataclass
class FileScore:
    """A file's mean probabilities and each window's (start s, end s, probabilities)."""

    path: Path
    probs: np.ndarray
    windows: list[tuple[float, float, np.ndarray]]


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


def windows(wave: np.ndarray, trained: TrainedModel | LinearTrained, hop: float = 0.5
            ) -> list[tuple[int, np.ndarray]]:
    """(start sample, window) pairs covering the recording from the model's offset."""
    pre, sr, n = trained.preprocessing, trained.sample_rate, trained.window_samples
    start = int(round(pre["offset"] * sr))
    body = wave[start:]
    stretched = any(made["stretch_frames"] for made in pre["features"].values())
    if len(body) <= n:
        # as the features rule cut the training clips: whole (stretched), unpadded (functionals,
        # encoders) or cut or zero-padded
        window = body if stretched or trained.unpadded else \
            fix_length(wave, sr, pre["offset"], pre["duration"])
        return [(start, window)]
    step = max(1, int(round(n * hop)))
    starts = list(range(0, len(body) - n + 1, step))
    if starts[-1] + n < len(body):
        starts.append(len(body) - n)
    return [(start + s, body[s:s + n]) for s in starts]


def fused_score(path: Path, fusion: FusionTrained, hop: float = 0.5,
                min_seconds: float = MIN_SECONDS) -> FileScore:
    """A fusion's probabilities of one recording: each member scores it its own way (as the
    fuse rule's members scored a fold's files), then their weighted average. One window, the
    whole recording: the members' windows differ."""
    scores = [score_file(path, trained, hop, min_seconds) for _, _, trained in fusion.members]
    probs = fusion.fuse([s.probs for s in scores])
    end = max(s.windows[-1][1] for s in scores)
    return FileScore(path, probs, [(0.0, end, probs)])


def score_file(path: Path, trained, hop: float = 0.5,
               min_seconds: float = MIN_SECONDS, batch_size: int = 32) -> FileScore:
    """Probabilities of one recording by a TrainedModel, LinearTrained or FusionTrained;
    AudioError names it and the reason it cannot be scored."""
    if isinstance(trained, FusionTrained):
        return fused_score(path, trained, hop, min_seconds)
    sr = trained.sample_rate
    wave = load_audio(path, sr)
    seconds = len(wave) / sr
    if seconds < min_seconds:
        raise AudioError(path, f"too short: {seconds:.2f} s, below the {min_seconds:g} s minimum")
    offset = trained.preprocessing["offset"]
    if seconds <= offset:
        raise AudioError(path, f"nothing after the model's offset of {offset:g} s "
                               f"(the recording lasts {seconds:.2f} s)")
    parts = windows(wave, trained, hop)
    probs = np.concatenate([trained.probabilities([w for _, w in parts[i:i + batch_size]])
                            for i in range(0, len(parts), batch_size)])
    spans = [(s / sr, min(s + len(w), len(wave)) / sr) for s, w in parts]
    return FileScore(path, probs.mean(0), [(a, b, p) for (a, b), p in zip(spans, probs)])


def predict_files(paths: list[Path], trained, hop: float = 0.5,
                  min_seconds: float = MIN_SECONDS, progress: bool = True
                  ) -> tuple[list[FileScore], list[tuple[str, str]]]:
    """Scores of the files that could be scored and (file, reason) of those that could not."""
    from tqdm import tqdm

    scores, failed = [], []
    for path in tqdm(paths, desc="predict", unit="file", disable=not progress or len(paths) < 2):
        try:
            scores.append(score_file(path, trained, hop, min_seconds))
        except AudioError as err:
            failed.append((str(path), err.reason))
    return scores, failed


def _row(file: str, classes: list[str], probs: np.ndarray, **extra) -> dict:
    top = int(np.argmax(probs))
    return {"file": file, **extra, "top_class": classes[top], "top_p": float(probs[top]),
            **{f"p_{c}": float(p) for c, p in zip(classes, probs)}}


def score_table(scores: list[FileScore], classes: list[str], with_windows: bool = False
                ) -> pd.DataFrame:
    """One row per file (window `mean`), and with `with_windows` one per window after it."""
    rows = []
    for score in scores:
        last = score.windows[-1][1] if score.windows else 0.0
        rows.append(_row(str(score.path), classes, score.probs, window="mean", start_s=0.0,
                         end_s=last))
        if with_windows:
            rows += [_row(str(score.path), classes, p, window=str(i), start_s=a, end_s=b)
                     for i, (a, b, p) in enumerate(score.windows, 1)]
    table = pd.DataFrame(rows)
    return table if with_windows or table.empty else table.drop(columns=["window"])


def write_table(table: pd.DataFrame, out: str | Path) -> None:
    """CSV or JSON (a list of row objects) by the extension of `out`, written atomically."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"{out}: the output must end in .csv or .json")
    with atomic_file(out) as tmp:
        if out.suffix.lower() == ".csv":
            table.to_csv(tmp, index=False)
        else:
            tmp.write_text(json.dumps(table.to_dict(orient="records"), indent=2) + "\n")


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
