"""RAVDESS file names and the corpus scan that turns a folder of recordings into metadata.

A RAVDESS name `MM-VV-EE-II-SS-RR-AA` codes modality (01 audio-video, 02 video-only, 03
audio-only), vocal channel (01 speech, 02 song), emotion (01-08), intensity (01 normal, 02 strong;
neutral has no strong version), statement (01 "Kids are talking by the door", 02 "Dogs are sitting
by the door"), repetition (01-02) and actor (01-24, odd actors male). This pipeline studies the
audio-only speech (or, with `ravdess.vocal_channel: song`, the song) recordings: the release's
other files (song or speech, audio-video and video-only) are skipped and counted, never mixed in.

A corpus folder may consist of symbolic links to folders or files anywhere readable (a shared
dataset directory, DataLad/git-annex or DVC caches): they are followed, and the corpus record
lists where they lead (`resolved_locations`).
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from ser.audio import AudioError, probe_audio
from ser.data import copies
from ser.io import atomic_file

EMOTIONS = {
    1: "neutral", 2: "calm", 3: "happy", 4: "sad",
    5: "angry", 6: "fearful", 7: "disgust", 8: "surprised",
}
AUDIO_SUFFIXES = {".wav", ".flac"}
VIDEO_SUFFIXES = {".mp4"}  # the release's audio-video and video-only files: skipped, counted
VOCAL_CHANNELS = {"speech": 1, "song": 2}
COLUMNS = [
    "path", "file", "actor", "gender", "emotion", "emotion_name", "intensity", "statement",
    "repetition", "sample_rate", "channels", "n_frames", "duration", "vocal_channel",
]
# what a metadata file must hold (vocal_channel came later: older files read as speech)
REQUIRED = [c for c in COLUMNS if c != "vocal_channel"]
# field name -> allowed codes, in name order
_FIELDS = {
    "modality": range(1, 4), "vocal_channel": range(1, 3), "emotion": range(1, 9),
    "intensity": range(1, 3), "statement": range(1, 3), "repetition": range(1, 3),
    "actor": range(1, 25),
}
_NAME = re.compile(r"^\d\d(-\d\d){6}$")
_IGNORED_DIRS = {"__MACOSX"}


def actor_gender(actor: int) -> str:
    """RAVDESS actors with odd numbers are male, even numbers female."""
    return "male" if actor % 2 else "female"


class RavdessNameError(ValueError):
    """A file name that is not a RAVDESS audio-only speech name; names the file and the reason."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"{name}: {reason}")


# reason fragment -> kind, for the counts that head a long listing
_KINDS = (("not a RAVDESS name", "not a RAVDESS name"), ("code", "code out of range"),
          ("only 0", "not audio-only speech"), ("no strong", "not audio-only speech"),
          ("but the file is in", "in the wrong Actor_XX folder"),
          ("also appears as", "duplicate recording"), ("symbolic link", "link loop"),
          ("requested actor", "requested actor missing"), ("no .wav", "no audio"),
          ("no file of audio-only", "no audio"))
SHOWN = 8  # problems listed on the console; the job's log gets them all


def problem_kind(reason: str) -> str:
    return next((kind for key, kind in _KINDS if key in reason), "unreadable audio")


def capped_listing(problems: list[tuple[str, str]], shown: int = SHOWN) -> str:
    """Counts by kind, then the first `shown` problems, one line each."""
    counts: dict[str, int] = defaultdict(int)
    for _, reason in problems:
        counts[problem_kind(reason)] += 1
    lines = ["  by kind: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())]
    lines += [f"  {where}: {reason}" for where, reason in problems[:shown]]
    if len(problems) > shown:
        lines.append(f"  ... and {len(problems) - shown} more (all of them: the job's log)")
    return "\n".join(lines)


class CorpusError(ValueError):
    """Every problem found in a corpus folder: the message shows counts by kind and the first
    few; `details` (written to the job's log by ser.logs.job_log) lists them all."""

    def __init__(self, root: Path, problems: list[tuple[str, str]]):
        self.root, self.problems = root, problems
        self.details = "\n".join(f"{where}: {reason}" for where, reason in problems)
        super().__init__(f"{len(problems)} problem(s) in the RAVDESS corpus at {root}:\n"
                         f"{capped_listing(problems)}")


class NotSelected(RavdessNameError):
    """A RAVDESS recording of the release that this run does not study (song or speech, a video
    file): skipped and counted by `kind`, not a problem."""

    def __init__(self, name: str, reason: str, kind: str):
        super().__init__(name, reason)
        self.kind = kind


@dataclass(frozen=True)
class RavdessName:
    modality: int
    vocal_channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def gender(self) -> str:
        return actor_gender(self.actor)

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.emotion]

    @property
    def stem(self) -> str:
        return "-".join(f"{getattr(self, f):02d}" for f in _FIELDS)


def parse_name(name: str | Path, vocal_channel: int = VOCAL_CHANNELS["speech"]) -> RavdessName:
    """Parse a RAVDESS audio-only file name of `vocal_channel` (with or without its directory
    and suffix); another release file of RAVDESS raises `NotSelected`, anything else
    `RavdessNameError`."""
    shown = Path(name).name
    stem = shown.split(".", 1)[0]
    if not _NAME.match(stem):
        raise RavdessNameError(
            shown, "not a RAVDESS name (expected MM-VV-EE-II-SS-RR-AA, two digits each)"
        )
    codes = dict(zip(_FIELDS, (int(part) for part in stem.split("-"))))
    for field, allowed in _FIELDS.items():
        if codes[field] not in allowed:
            span = f"{allowed[0]:02d}-{allowed[-1]:02d}"
            raise RavdessNameError(shown, f"{field} code {codes[field]:02d} is outside {span}")
    parsed = RavdessName(**codes)
    if parsed.modality != 3:
        kind = "audio-video" if parsed.modality == 1 else "video-only"
        raise NotSelected(
            shown, f"modality {parsed.modality:02d} is {kind}; only 03 (audio-only) is used", kind
        )
    if parsed.vocal_channel != vocal_channel:
        kind, used = ("song", "speech") if parsed.vocal_channel == 2 else ("speech", "song")
        raise NotSelected(shown, f"vocal channel {parsed.vocal_channel:02d} is {kind}; only "
                                 f"{vocal_channel:02d} ({used}) is used", kind)
    if parsed.emotion == 1 and parsed.intensity == 2:
        raise RavdessNameError(shown, "neutral (01) has no strong intensity (02) in RAVDESS")
    return parsed


def _walk_audio(root: Path, problems: list[tuple[str, str]]) -> list[Path]:
    """Audio and video files under `root`, skipping hidden entries, following symbolic links to
    folders and files wherever they lead; a folder reached twice through links is a problem."""
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        seen.add(here.resolve())
        kept = []
        for d in sorted(dirnames):
            if d.startswith(".") or d in _IGNORED_DIRS:
                continue
            if (here / d).resolve() in seen or (here / d).resolve() in root.resolve().parents:
                problems.append((str(here / d), f"symbolic link to {(here / d).resolve()}, a "
                                                "folder already read (a link loop)"))
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in AUDIO_SUFFIXES | VIDEO_SUFFIXES:
                continue
            if path.exists():  # a dangling link is read, and named, as unreadable audio
                found.append(path)
            else:
                problems.append((str(path), f"symbolic link to {path.resolve()}, which does not "
                                            "exist"))
    return found


def _row(path: Path, vocal_channel: int) -> dict:
    """One metadata row; raises RavdessNameError (NotSelected for the release's other files) or
    AudioError naming the file."""
    name = parse_name(path.name, vocal_channel)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise RavdessNameError(str(path), "a video file with an audio-only name")
    folder = copies.ACTOR_DIR.match(path.parent.name)
    if folder and int(folder.group(1)) != name.actor:
        raise RavdessNameError(
            str(path), f"actor {name.actor:02d} in the name, but the file is in {path.parent.name}"
        )
    header = probe_audio(path)
    return {
        "path": str(path), "file": path.stem, "actor": name.actor, "gender": name.gender,
        "emotion": name.emotion, "emotion_name": name.emotion_name, "intensity": name.intensity,
        "statement": name.statement, "repetition": name.repetition,
        "sample_rate": header.sample_rate, "channels": header.channels,
        "n_frames": header.n_frames, "duration": header.duration,
        "vocal_channel": name.vocal_channel,
    }


def _duplicates(rows: list[dict]) -> list[tuple[str, str]]:
    where = defaultdict(list)
    for row in rows:
        where[row["file"]].append(row["path"])
    return [
        (path, f"the same recording also appears as {', '.join(p for p in paths if p != path)}")
        for paths in where.values() if len(paths) > 1
        for path in paths
    ]


def _scan_files(paths: list[Path], vocal_channel: int = 1,
                skipped: dict[str, int] | None = None) -> tuple[list[dict], list[tuple[str, str]]]:
    """Metadata rows of `paths`, and the problems (bad names or audio, duplicates) found; the
    release's files of another kind are counted in `skipped`."""
    rows, problems = [], []
    for path in paths:
        try:
            rows.append(_row(path, vocal_channel))
        except NotSelected as err:
            if skipped is not None:
                skipped[err.kind] = skipped.get(err.kind, 0) + 1
        except (RavdessNameError, AudioError) as err:
            problems.append((str(path), err.reason))
    return rows, problems + _duplicates(rows)


def skipped_files(root: str | Path, vocal_channel: str = "speech") -> dict[str, int]:
    """The release's files under `root` that a scan for `vocal_channel` skips, by kind (names
    only: cheap)."""
    counts: dict[str, int] = {}
    for path in _walk_audio(Path(root), []):
        try:
            parse_name(path.name, VOCAL_CHANNELS[vocal_channel])
        except NotSelected as err:
            counts[err.kind] = counts.get(err.kind, 0) + 1
        except RavdessNameError:
            pass
    return counts


def skipped_line(counts: dict[str, int], vocal_channel: str = "speech") -> str:
    """One line counting the skipped files by kind ('' when none)."""
    if not counts:
        return ""
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items()))
    return (f"skipped {sum(counts.values()):,} RAVDESS files that are not audio-only "
            f"{vocal_channel}: {kinds}")


def resolved_locations(root: str | Path) -> list[str]:
    """Where the symbolic links among the corpus files lead: each linked file's folder, once."""
    return sorted({str(p.resolve().parent) for p in _walk_audio(Path(root), [])
                   if p.resolve() != p.absolute()})


def scan_corpus(root: str | Path, actors: Iterable[int] | None = None,
                vocal_channel: str = "speech", log=None) -> pd.DataFrame:
    """Metadata of every RAVDESS speech file under `root` (any depth, e.g. Kaggle's nesting).

    Every problem (bad names, unreadable or truncated files, files in the wrong Actor_XX folder,
    duplicates, symlinks leaving `root`, requested actors without files) is collected and raised
    together as one `CorpusError`, so a broken copy is fixed in one go. A folder holding several
    copies of the corpus is handled by `ser.data.copies`. With `actors`, only those are kept.
    The release's files of other kinds (song or speech, video) are skipped, counted in one line
    on `log`.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: the RAVDESS corpus folder does not exist")
    if actors is not None and not set(actors) <= set(_FIELDS["actor"]):
        raise ValueError(f"actors must be within 1-24, got {sorted(set(actors))}")
    if vocal_channel not in VOCAL_CHANNELS:
        raise ValueError(f"vocal_channel must be one of {sorted(VOCAL_CHANNELS)}, "
                         f"got {vocal_channel!r}")
    problems: list[tuple[str, str]] = []
    paths = _walk_audio(root, problems)
    skipped: dict[str, int] = {}
    scan = functools.partial(_scan_files, vocal_channel=VOCAL_CHANNELS[vocal_channel],
                             skipped=skipped)
    groups = copies.group_copies(paths, root)
    if len([g for g in groups if g is not None]) > 1:
        wanted = set(_FIELDS["actor"] if actors is None else actors)
        rows, found = copies.choose_copy(root, groups, wanted, scan)
    else:
        rows, found = scan(paths)
    if skipped and log is not None:
        log.info("%s", skipped_line(skipped, vocal_channel))
    problems += found
    present = {row["actor"] for row in rows}
    wanted = set(present if actors is None else actors)
    if not rows and skipped:  # the folder holds the release's other files only: say so once
        problems.append((str(root), f"{skipped_line(skipped, vocal_channel)}, and no file of "
                         f"audio-only {vocal_channel} is left (ravdess.vocal_channel selects "
                         f"speech or song)"))
    elif not rows and not problems:
        problems.append((str(root), "no .wav or .flac files found"))
    else:
        problems += [(f"Actor_{actor:02d}", "requested actor, but no files of it were found")
                     for actor in sorted(wanted - present)]
    if problems:
        raise CorpusError(root, problems)
    df = pd.DataFrame([r for r in rows if r["actor"] in wanted], columns=COLUMNS)
    return df.sort_values(["actor", "file"], ignore_index=True)


def folder_listing(root: str | Path) -> str:
    """A digest of the audio files `scan_corpus` would read under `root`: relative path and size.

    The workflow reruns the metadata (and all that follows) when this changes, not when the
    folder's modification time does: copying, re-mounting or touching a corpus folder moves that
    time without changing a file, and would otherwise retrain every model.
    """
    root = Path(root)
    digest = hashlib.blake2b(digest_size=16)
    for path in _walk_audio(root, []):
        digest.update(f"{path.relative_to(root)}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def write_metadata(df: pd.DataFrame, path: str | Path) -> None:
    """Write the metadata CSV under a temporary name and rename it into place."""
    with atomic_file(path) as tmp:
        df.to_csv(tmp, index=False)


def read_metadata(path: str | Path, columns: Iterable[str] = REQUIRED) -> pd.DataFrame:
    """Read a metadata CSV, checking it has `columns` (by default all that `scan_corpus` writes
    but `vocal_channel`, which older files lack: they are speech)."""
    df = pd.read_csv(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a metadata file, columns {missing} are missing")
    return df
