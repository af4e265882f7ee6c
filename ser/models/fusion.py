"""The fusion family: late fusion, a weighted average of other models' class probabilities.

A `fusion` model names member models of the same run (a CNN and a classical model, say) and
averages their per-file class probabilities, p = sum_m w_m p_m, with the weights w on the simplex
(w_m >= 0, sum 1). The weights are the point of a grid on the simplex (every multiple of `step`)
of highest UA on the fold's validation actors, ties going to the weights closest to equal ones:
they are chosen without any test file, then applied once to the members' test probabilities
(ser.train.fusion, rule fuse).

The members' validation probabilities of a torch model come from the checkpoint chosen on the
same validation actors (best validation UA), so the validation UA of a weighting is slightly
optimistic, and so is the choice between members; the test scores are not affected.

A fitted model is its weights, members and classes, saved as plain JSON (`model.json`).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ser.metrics import classification_metrics, log_loss
from ser.models.registry import InputSpec, ModelSpec, register


@dataclass(frozen=True)
class Weighting:
    """One candidate weighting and its validation scores."""

    weights: tuple[float, ...]
    val_accuracy: float
    val_unweighted_accuracy: float
    val_loss: float


def simplex_grid(n_members: int, step: float) -> np.ndarray:
    """(candidates, n_members): every weight vector of multiples of `step` that sums to 1."""
    if n_members < 1:
        raise ValueError(f"a fusion needs members, got {n_members}")
    parts = round(1 / step) if step > 0 else 0
    if parts < 1 or not math.isclose(parts * step, 1.0, abs_tol=1e-9):
        raise ValueError(f"step must divide 1 into a whole number of parts, got {step}")
    # stars and bars: n_members - 1 bars among parts + n_members - 1 places
    grid = []
    for bars in itertools.combinations(range(parts + n_members - 1), n_members - 1):
        edges = (-1, *bars, parts + n_members - 1)
        grid.append([edges[i + 1] - edges[i] - 1 for i in range(n_members)])
    return np.asarray(grid, dtype=np.float64) / parts


def weighted_average(weights: Sequence[float], member_probs: Sequence[np.ndarray]) -> np.ndarray:
    """sum_m w_m p_m over members' (files, classes) probabilities in the same file order."""
    return sum(float(w) * np.asarray(p, np.float64) for w, p in zip(weights, member_probs))


@dataclass
class LateFusion:
    """Unfitted (then fitted) late fusion of `members`; see the module docstring."""

    members: tuple[str, ...]
    step: float = 0.1
    weights_description: str = "none (weighted average of its members' probabilities)"
    weights: tuple[float, ...] | None = None
    candidates: list[Weighting] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.members = tuple(str(m) for m in self.members)
        if len(self.members) < 2 or len(set(self.members)) != len(self.members):
            raise ValueError(f"a fusion needs at least 2 distinct members, got {list(self.members)}")
        simplex_grid(len(self.members), self.step)  # checks the step

    def fit(self, member_probs: Sequence[np.ndarray], y: np.ndarray, n_classes: int) -> LateFusion:
        """Score every weighting of the grid on (validation) labels `y`; keep the best by UA,
        ties: the closest to equal weights, then the first of the grid."""
        y = np.asarray(y, np.int64)
        if not len(y):
            raise ValueError("fusion weights need validation files, got none")
        shapes = [np.shape(p) for p in member_probs]
        if len(shapes) != len(self.members) or set(shapes) != {(len(y), n_classes)}:
            raise ValueError(f"members {list(self.members)} give probabilities of shapes "
                             f"{shapes}, not ({len(y)}, {n_classes}) each")
        self.candidates = []
        for w in simplex_grid(len(self.members), self.step):
            probs = weighted_average(w, member_probs)
            m = classification_metrics(y, probs.argmax(1), n_classes)
            self.candidates.append(Weighting(tuple(float(v) for v in w), m["accuracy"],
                                             m["unweighted_accuracy"], log_loss(probs, y)))
        self.weights = max(self.candidates, key=self._preference).weights
        return self

    def _preference(self, c: Weighting) -> tuple[float, float]:
        """Higher UA first, then nearer to equal weights (rounded: float noise is no tie-break)."""
        spread = np.linalg.norm(np.subtract(c.weights, 1 / len(self.members)))
        return round(c.val_unweighted_accuracy, 12), -round(float(spread), 12)

    @property
    def chosen(self) -> Weighting:
        return next(c for c in self.candidates if c.weights == self.weights)

    def probabilities(self, member_probs: Sequence[np.ndarray]) -> np.ndarray:
        if self.weights is None:
            raise ValueError("the fusion is not fitted")
        return weighted_average(self.weights, member_probs)

    def cross_fitted(self, member_probs: Sequence[np.ndarray], y: np.ndarray,
                     groups: np.ndarray, n_classes: int) -> np.ndarray | None:
        """Each group's (validation actor's) fused probabilities under weights chosen on the
        other groups' files: a validation score that no weighting was chosen on, of the same
        kind as every other model's (issue 42). None with fewer than 2 groups."""
        groups = np.asarray(groups)
        if len(set(groups.tolist())) < 2:
            return None
        out = np.zeros((len(groups), n_classes))
        for group in sorted(set(groups.tolist())):
            held = groups == group
            other = LateFusion(self.members, self.step).fit(
                [np.asarray(p)[~held] for p in member_probs], np.asarray(y)[~held], n_classes)
            out[held] = other.probabilities([np.asarray(p)[held] for p in member_probs])
        return out


ALL = "all"


def run_members(name: str, hparams: Mapping, run_models: Sequence[str],
                n_val_actors: int, fusions: Sequence[str] = ()) -> list[str]:
    """The members of fusion model `name` (config `models.<name>.hparams.members`), checked
    before anything runs: models of this run other than itself, with validation actors to
    choose the weights on. `members: all` names every model of the run but the fusions
    (`fusions`): a fusion of every family."""
    members = hparams.get("members") or []
    members = [ALL] if members == ALL else [str(m) for m in members]
    if members == [ALL]:
        members = [m for m in run_models if m != name and m not in fusions]
    if len(members) < 2:
        raise ValueError(f"models.{name}.hparams.members must name at least 2 models of this "
                         f"run, got {members}")
    absent = [m for m in members if m not in run_models or m == name]
    if absent:
        raise ValueError(f"models.{name}.hparams.members names {absent}, which this run does "
                         f"not train besides {name} (run_models trains {list(run_models)})")
    if n_val_actors < 1:
        raise ValueError(f"models.{name}: fusion weights need validation actors, but "
                         f"protocol.n_val_actors is {n_val_actors}; leave {name} out of "
                         "run_models under this protocol")
    return members


def _build(n_classes: int, pretrained: str = "none", cache_dir=None, **hparams) -> LateFusion:
    del n_classes, cache_dir  # the members' probabilities carry both
    if pretrained != "none":
        raise ValueError(f"a fusion model has no pretrained weights, got {pretrained!r}")
    return LateFusion(members=tuple(hparams.pop("members", ())), **hparams)


register(ModelSpec("fusion", "fusion", InputSpec(()), defaults={"members": [], "step": 0.1},
                   source="late fusion of class probabilities, weights chosen on validation "
                          "actors"))(_build)
