"""The classical family: openSMILE functionals with a linear model (scikit-learn).

The reference point every speech emotion paper reports: standardised eGeMAPS or ComParE 2016
functionals (ser.features.functionals) and a logistic regression or linear SVM, as in the
ComParE baselines (Schuller et al. 2016) and hsn07pk/ravdess-speaker-independent-ser.

Tuning happens inside the training actors only: `fit` chooses the regularisation strength C by
an inner cross-validation grouped by actor (GroupKFold, so no actor is in an inner training and
an inner validation part at once) over the actors it is given, scored by UA (ties: the smaller,
more regularised C), then refits on all of them. The standardisation is fitted on the training
part of every inner split and on all training actors for the final model: test actors never
reach it.

A fitted model is a few arrays (coefficients, intercepts, the scaler's mean and scale, classes,
C), saved as `.npz` and reloaded with `np.load(allow_pickle=False)`; predictions are computed
from those arrays by `LinearModel.probabilities`, so a reloaded model gives the same numbers.
Probabilities: the logistic regression's own (softmax of its multinomial decision values); the
linear SVM (one-vs-rest squared hinge, LinearSVC) has none, so it gets the softmax of its
decision values: their argmax is the SVM's prediction, but they are not calibrated.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ser.io import atomic_file
from ser.metrics import classification_metrics, log_loss
from ser.models.registry import InputSpec, ModelSpec, register

LOSSES = ("logistic", "hinge")
# the decades 1e-4 ... 1, as in the independent ComParE run of issue 17; C above 1 barely
# regularises 6,373 standardised functionals learned from ~1,200 files (they are separable)
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@dataclass
class InnerScores:
    """Inner cross-validation of one C: means over the inner folds."""

    C: float
    val_accuracy: float
    val_unweighted_accuracy: float
    val_loss: float
    train_accuracy: float
    train_loss: float
    layer: str = ""  # the input's layer (a pretrained encoder's), "" for the whole vector


@dataclass
class LinearModel:
    """An unfitted (then fitted) standardiser + linear classifier; see the module docstring."""

    loss: str = "logistic"
    C_grid: tuple[float, ...] = C_GRID
    inner_folds: int = 5
    # LinearSVC's default; the largest C (near-separable data) may stop there unconverged, and
    # the inner cross-validation scores it as it stands
    max_iter: int = 1000
    weights_description: str = "none (fitted on the training actors)"
    coef: np.ndarray | None = None
    intercept: np.ndarray | None = None
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    C: float = float("nan")
    inner: list[InnerScores] = field(default_factory=list)
    inner_actors: list[int] = field(default_factory=list)
    # a pretrained encoder's layers stored side by side, (name, width) in order: the inner
    # cross-validation chooses one layer with C; () reads the whole vector
    layers: tuple[tuple[str, int], ...] = ()
    layer: str = ""

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        self.C_grid = tuple(sorted(float(c) for c in self.C_grid))
        if not self.C_grid or min(self.C_grid) <= 0:
            raise ValueError(f"C_grid must hold positive values, got {self.C_grid}")
        if self.inner_folds < 2:
            raise ValueError(f"inner_folds must be at least 2, got {self.inner_folds}")
        self.layers = tuple((str(name), int(width)) for name, width in self.layers)

    def columns(self, layer: str) -> slice:
        """The columns of `layer` in the stored vector (all of them for "")."""
        if not layer:
            return slice(None)
        start = 0
        for name, width in self.layers:
            if name == layer:
                return slice(start, start + width)
            start += width
        raise ValueError(f"no layer {layer!r}; layers: {[n for n, _ in self.layers]}")

    def chosen(self) -> InnerScores:
        """The inner cross-validation's scores of the chosen layer and C."""
        return next(s for s in self.inner if s.C == self.C and s.layer == self.layer)

    def _estimator(self, class_weights: bool, seed: int):
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        weight = "balanced" if class_weights else None
        if self.loss == "logistic":
            # warm start: each C of the increasing grid starts from the previous solution
            return LogisticRegression(max_iter=self.max_iter, class_weight=weight,
                                      warm_start=True)
        return LinearSVC(max_iter=self.max_iter, class_weight=weight, random_state=seed)

    def _fit_path(self, x: np.ndarray, y: np.ndarray, Cs: tuple[float, ...],
                  class_weights: bool, seed: int, n_classes: int) -> list[tuple[np.ndarray, ...]]:
        """(coef, intercept, mean, scale) for every C of `Cs`, standardised on `x` alone."""
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-8] = 1.0  # a constant functional carries nothing; keep it finite
        basis = row_space((x - mean) / scale)
        z = ((x - mean) / scale) @ basis
        est, path = self._estimator(class_weights, seed), []
        for C in Cs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: the log keeps the scores
                est.set_params(C=C).fit(z, y)
            coef = np.zeros((n_classes, x.shape[1]))
            intercept = np.full(n_classes, -1e9)  # a class absent from training: never predicted
            coef[est.classes_], intercept[est.classes_] = est.coef_ @ basis.T, est.intercept_
            path.append((coef, intercept, mean, scale))
        return path

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int,
            class_weights: bool = False, seed: int = 0) -> LinearModel:
        """Choose C (and the layer, when there are layers) by the inner GroupKFold over `groups`
        (actors), then refit on all of `x`."""
        x = np.asarray(x, np.float64)
        width = sum(w for _, w in self.layers)
        if self.layers and x.shape[1] != width:
            raise ValueError(f"the input has {x.shape[1]} columns, the layers {width}")
        self.inner_actors = sorted(int(g) for g in set(groups))
        self.inner = []
        for layer in [name for name, _ in self.layers] or [""]:
            scores = inner_cv(self, x[:, self.columns(layer)], y, groups, n_classes,
                              class_weights, seed)
            self.inner += [dataclasses.replace(s, layer=layer) for s in scores]
        # ties: the smaller (more regularised) C, then the earlier layer
        best = max(self.inner, key=lambda s: (s.val_unweighted_accuracy, -s.C))
        self.C, self.layer = best.C, best.layer
        self.coef, self.intercept, self.mean, self.scale = self.fit_chosen(
            x, y, n_classes, class_weights, seed)
        return self

    def fit_chosen(self, x: np.ndarray, y: np.ndarray, n_classes: int,
                   class_weights: bool = False, seed: int = 0) -> tuple[np.ndarray, ...]:
        """(coef, intercept, mean, scale) of the chosen C (and layer) fitted on `x` alone; the
        model itself is left as it is. With a layer the arrays span every stored column, those
        of the other layers zero weight (mean 0, scale 1), so that they apply to the stored
        vectors."""
        x = np.asarray(x, np.float64)
        cols = self.columns(self.layer)
        coef, intercept, mean, scale = self._fit_path(x[:, cols], y, (self.C,), class_weights,
                                                      seed, n_classes)[0]
        if not self.layer:
            return coef, intercept, mean, scale
        full = (np.zeros((n_classes, x.shape[1])), np.zeros(x.shape[1]), np.ones(x.shape[1]))
        full[0][:, cols], full[1][cols], full[2][cols] = coef, mean, scale
        return full[0], intercept, full[1], full[2]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N, classes) softmax of the decision values, from the stored arrays only."""
        return softmax(decision(x, self.coef, self.intercept, self.mean, self.scale))


def row_space(z: np.ndarray) -> np.ndarray:
    """An orthonormal basis (d, r) of the rows of `z` (n, d), r <= min(n, d).

    With an L2 penalty the optimal weights of a linear model lie in the span of its training rows
    (the loss gradient is a combination of them), and the penalty and the scores are unchanged by
    an orthonormal change of basis. So fitting on `z @ basis` and mapping the weights back with
    `basis.T` reaches the same optimum as fitting on `z`, with r (~1,200 training files) instead
    of d (6,373 ComParE functionals) columns: 5 times less work per iteration.
    """
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    keep = s > s[0] * max(z.shape) * np.finfo(float).eps if len(s) and s[0] > 0 else s > 0
    return vt[keep].T


def decision(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray, mean: np.ndarray,
             scale: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, np.float64) - mean) / scale) @ coef.T + intercept


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def inner_cv(model: LinearModel, x: np.ndarray, y: np.ndarray, groups: np.ndarray,
             n_classes: int, class_weights: bool, seed: int) -> list[InnerScores]:
    """Scores of every C of `model.C_grid` over a GroupKFold of the actors in `groups`.

    A fold with a single training actor (a tiny corpus: 4 actors in 2 folds, one held out for
    validation) has no actor to hold out, so its files are split instead (stratified by class):
    C is then chosen on that actor's own speech, still never on a validation or test actor."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    n_groups = len(set(groups))
    if n_groups < 2:
        smallest = int(np.bincount(y).compress(np.bincount(y) > 0).min()) if len(y) else 0
        if smallest < 2:
            raise ValueError(f"the inner cross-validation needs 2 training actors, or one with "
                             f"at least 2 files of each class; got {n_groups} actor(s)")
        folds = StratifiedKFold(n_splits=min(model.inner_folds, smallest), shuffle=True,
                                random_state=seed)
        splits = list(folds.split(x, y))
    else:
        splits = list(GroupKFold(n_splits=min(model.inner_folds, n_groups)).split(x, y, groups))
    table = np.zeros((len(model.C_grid), len(splits), 5))
    for j, (tr, va) in enumerate(splits):
        path = model._fit_path(x[tr], y[tr], model.C_grid, class_weights, seed, n_classes)
        for i, arrays in enumerate(path):
            scores = []
            for part in (va, tr):
                probs = softmax(decision(x[part], *arrays))
                m = classification_metrics(y[part], probs.argmax(1), n_classes)
                scores.append((m["accuracy"], m["unweighted_accuracy"], log_loss(probs, y[part])))
            (va_wa, va_ua, va_loss), (tr_wa, _, tr_loss) = scores
            table[i, j] = (va_wa, va_ua, va_loss, tr_wa, tr_loss)
    mean = table.mean(1)
    return [InnerScores(C, *map(float, row)) for C, row in zip(model.C_grid, mean)]


def save_npz(model: LinearModel, classes: list[str], path: str | Path, **extra) -> None:
    """The fitted arrays (and `extra` plain values) as an .npz that loads without pickle."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, coef=model.coef, intercept=model.intercept, mean=model.mean,
                 scale=model.scale, classes=np.array(classes, dtype=str), C=model.C,
                 loss=np.array(model.loss), C_grid=np.array(model.C_grid),
                 inner_actors=np.array(model.inner_actors, dtype=np.int64),
                 layers=np.array([name for name, _ in model.layers], dtype=str),
                 layer_widths=np.array([w for _, w in model.layers], dtype=np.int64),
                 layer=np.array(model.layer),
                 **{k: np.asarray(v) for k, v in extra.items()})


def load_npz(path: str | Path) -> tuple[LinearModel, list[str]]:
    """A fitted model and its class names from `save_npz`'s file."""
    with np.load(path, allow_pickle=False) as npz:
        model = LinearModel(loss=str(npz["loss"]), C_grid=tuple(npz["C_grid"].tolist()),
                            coef=npz["coef"], intercept=npz["intercept"], mean=npz["mean"],
                            scale=npz["scale"], C=float(npz["C"]),
                            inner_actors=npz["inner_actors"].tolist(),
                            layers=tuple(zip(npz["layers"].tolist(),
                                             npz["layer_widths"].tolist()))
                            if "layers" in npz else (),
                            layer=str(npz["layer"]) if "layer" in npz else "")
        return model, npz["classes"].tolist()


def _linear_builder(loss: str):
    def build(n_classes: int, pretrained: str = "none", cache_dir=None, **hparams) -> LinearModel:
        del n_classes, cache_dir  # the model's size follows from the data when it is fitted
        if pretrained != "none":
            raise ValueError(f"a classical model has no pretrained weights, got {pretrained!r}")
        return LinearModel(loss=loss, **hparams)
    return build


for _name, _kind, _loss in (("egemaps_lr", "egemaps", "logistic"),
                            ("compare_lr", "compare", "logistic"),
                            ("egemaps_svm", "egemaps", "hinge"),
                            ("compare_svm", "compare", "hinge")):
    register(ModelSpec(_name, "classical", InputSpec((_kind,)),
                       defaults={"C_grid": list(C_GRID), "inner_folds": 5},
                       source="Schuller et al. 2016 (ComParE); Eyben et al. 2016 (eGeMAPS)"))(
        _linear_builder(_loss))
