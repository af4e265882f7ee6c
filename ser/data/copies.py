"""Folders that hold the corpus more than once, as the Kaggle download does.

Kaggle's RAVDESS page ships `audio_speech_actors_01-24/Actor_XX` and, beside it, top-level
`Actor_XX` folders; in copies users have, some files of the second set were re-encoded at another
sample rate or misfiled. A copy is a folder holding Actor_XX folders. When a source holds more
than one, the summary says which copies there are, how complete each is and which files differ;
the one copy that is complete, free of problems and in one format (one sample rate, one file
type, as the release is) is used and the choice logged. With no such copy, or several, nothing is
guessed: the error names the copies and asks for `ravdess.source` to be set to one of them.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# a copy's actor folders (Actor_01 ... Actor_24), which ser.data.ravdess checks names against too
ACTOR_DIR = re.compile(r"^actor_(\d{1,2})$", re.IGNORECASE)
FILES_PER_ACTOR = 60  # the speech release: 8 emotions, 2 intensities (neutral 1), 2 x 2 takes
SHOWN = 3             # differing files listed on the console; the job's log gets them all

Scan = Callable[[list[Path]], tuple[list[dict], list[tuple[str, str]]]]


@dataclass
class Copy:
    root: Path
    all_rows: list[dict]
    problems: list[tuple[str, str]]
    actors: set[int]

    @property
    def rows(self) -> list[dict]:
        return [r for r in self.all_rows if r["actor"] in self.actors]

    @property
    def expected(self) -> int:
        return FILES_PER_ACTOR * len(self.actors)

    def is_clean(self) -> bool:
        """Complete, without problems, one sample rate and one file type (as the release)."""
        rows = self.rows
        formats = {(r["sample_rate"], Path(r["path"]).suffix.lower()) for r in rows}
        return not self.problems and len(rows) == self.expected and len(formats) == 1

    def summary(self) -> str:
        rows = self.rows
        rates = Counter(r["sample_rate"] for r in rows)
        types = Counter(Path(r["path"]).suffix.lower().lstrip(".") for r in rows)
        shown = lambda c: ", ".join(f"{k} ({n})" if len(c) > 1 else str(k)  # noqa: E731
                                    for k, n in c.most_common())
        return (f"{self.root}: {len(rows)} of {self.expected} files usable, "
                f"{shown(rates)} Hz, {shown(types)}, {len(self.problems)} problem(s)")


class CorpusCopiesError(ValueError):
    """A source holding several copies of the corpus, none of them (or several) usable as is."""

    def __init__(self, root: Path, lines: list[str], details: str):
        self.root, self.details = root, details
        super().__init__("\n".join(lines + ["set ravdess.source to the copy to use"]))


def copy_root(path: Path, root: Path) -> Path | None:
    """The folder holding the Actor_XX folder `path` lies in; None outside any Actor_XX."""
    for parent in path.parents:
        if ACTOR_DIR.match(parent.name):
            return parent.parent
        if parent == root:
            return None
    return None


def group_copies(paths: Iterable[Path], root: Path) -> dict[Path | None, list[Path]]:
    groups: dict[Path | None, list[Path]] = {}
    for path in paths:
        groups.setdefault(copy_root(path, root), []).append(path)
    return groups


def _describe(stem: str, copy: Copy) -> str:
    row = next((r for r in copy.rows if r["file"] == stem), None)
    if row:
        return f"{row['sample_rate']} Hz {Path(row['path']).suffix.lstrip('.')}"
    problem = next((reason for where, reason in copy.problems if Path(where).stem == stem), None)
    return problem or "missing"


def differences(copies: list[Copy]) -> list[str]:
    """One line per recording that is not the same in every copy."""
    stems = sorted({Path(p).stem for c in copies for p in
                    [r["path"] for r in c.rows] + [w for w, _ in c.problems]})
    lines = []
    for stem in stems:
        seen = [_describe(stem, c) for c in copies]
        if len(set(seen)) > 1:
            lines.append(f"{stem}: " + " | ".join(seen))
    return lines


def choose_copy(root: Path, groups: dict[Path | None, list[Path]], actors: set[int],
                scan: Scan) -> tuple[list[dict], list[tuple[str, str]]]:
    """The scan (rows, problems) of the one clean copy in `groups` (logged), else
    CorpusCopiesError."""
    copies = []
    for where in sorted(g for g in groups if g is not None):
        rows, problems = scan(groups[where])
        copies.append(Copy(where, rows, problems, actors))
    diff = differences(copies)
    lines = [f"{root} holds {len(copies)} copies of the RAVDESS corpus:"]
    lines += [f"  {c.summary()}" for c in copies]
    lines.append(f"  {len(diff)} recording(s) differ between them (" + " | ".join(
        str(c.root.relative_to(root)) or "." for c in copies) + ")")
    lines += [f"    {line}" for line in diff[:SHOWN]]
    if len(diff) > SHOWN:
        lines.append(f"    ... and {len(diff) - SHOWN} more (all of them: the job's log)")
    if None in groups:
        lines.append(f"  {len(groups[None])} audio file(s) outside any Actor_XX folder ignored")
    details = "\n".join(diff)
    clean = [c for c in copies if c.is_clean()]
    if len(clean) != 1:
        lines.append(f"  {len(clean) or 'none'} of them complete and in one format")
        raise CorpusCopiesError(root, lines, details)
    lines.append(f"  using {clean[0].root} (complete, one format, no problems)")
    log.warning("\n".join(lines))
    log.info("recordings that differ between the copies:\n%s", details,
             extra={"file_only": True})
    return clean[0].all_rows, clean[0].problems
