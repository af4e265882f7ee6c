"""Classification scores shared by the trainer and the report.

`unweighted_accuracy` (UA) is the mean of the per-class recalls, the headline score of the speech
emotion recognition literature because RAVDESS's neutral class has half as many files as the
others; `accuracy` is the weighted accuracy (WA). Macro averages count every one of the
`n_classes` classes, also one absent from a fold, with 0 for an undefined ratio (sklearn's
`zero_division=0`), so scores of different folds average over the same classes.
"""
from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes): rows are true classes, columns predicted classes."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} "
                         "must be equal 1-D shapes")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} has labels outside 0..{n_classes - 1}")
    counts = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num), dtype=np.float64), where=den > 0)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, UA, macro precision/recall/F1 and the confusion matrix (as nested lists)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    hits = np.diag(cm).astype(np.float64)
    precision = _ratio(hits, cm.sum(axis=0).astype(np.float64))
    recall = _ratio(hits, cm.sum(axis=1).astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    total = cm.sum()
    return {
        "accuracy": float(hits.sum() / total) if total else 0.0,
        "unweighted_accuracy": float(recall.mean()),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "confusion_matrix": cm.tolist(),
    }


def log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of class probabilities (files, classes) for labels `y`, clipped at 1e-15."""
    y = np.asarray(y, dtype=np.int64)
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-15, None)).mean())


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE: over `bins` equal-width bins of the top class's probability, the gap between the
    mean probability and the accuracy, weighted by the bin's share of the files."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    correct = predicted == np.asarray(y_true)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    gap = 0.0
    for b in np.unique(which):
        inside = which == b
        gap += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(gap)
