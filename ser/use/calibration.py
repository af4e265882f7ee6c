"""Probabilities that mean what they say: temperature scaling (Guo et al. 2017) fitted on the
validation actors' predictions, never on test files.

One number T divides the log-probabilities before the softmax, softmax(log p / T): the class
ranking (and so every accuracy) stays, only the confidence moves; T > 1 softens an overconfident
model. Written as log p rather than logits so that it applies to every family alike (a torch
model's softmax, a linear model's, a fusion's weighted average). T is chosen by the negative log
likelihood of the validation files; the expected calibration error (ECE, ser.metrics) on each
cross-validation fold's test files, with that fold's own T from its own validation files, shows
whether it pays on actors neither saw.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ser.io import atomic_file
from ser.metrics import expected_calibration_error

FILE = "calibration.json"
BOUNDS = (0.05, 20.0)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) of (N, classes) probabilities."""
    if temperature == 1.0:
        return probs
    z = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, None)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log likelihood of the true classes."""
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean())


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The T in `BOUNDS` with the lowest NLL of softmax(log p / T) on these files."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda log_t: nll(apply_temperature(probs, np.exp(log_t)), y),
                            bounds=np.log(BOUNDS), method="bounded")
    return float(np.exp(found.x))


def read_predictions(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, true class indices) of a predictions.csv or val_predictions.csv."""
    table = pd.read_csv(path)
    return table[[c for c in table.columns if c.startswith("p_")]].to_numpy(), \
        table["y_true"].to_numpy(dtype=np.int64)


def fold_check(val_csv: str | Path, test_csv: str | Path) -> dict | None:
    """A fold's T from its validation files and its test files' ECE before and after; None for
    a fold without validation files."""
    (pv, yv), (pt, yt) = read_predictions(val_csv), read_predictions(test_csv)
    if not len(yv) or not len(yt):
        return None
    t = fit_temperature(pv, yv)
    return {"temperature": t, "n_val": len(yv), "n_test": len(yt),
            "test_ece_before": expected_calibration_error(pt, yt),
            "test_ece_after": expected_calibration_error(apply_temperature(pt, t), yt)}


def calibrate(final_val_csv: str | Path, folds: list[tuple[int, Path, Path]],
              out: str | Path) -> dict:
    """calibration.json of a final model: T from its validation files, and the check on each
    cross-validation fold (fold, val_predictions.csv, predictions.csv) of the same recipe."""
    probs, y = read_predictions(final_val_csv)
    record = {"method": "temperature scaling: p = softmax(log p_model / T)",
              "fitted_on": "the final split's validation actors' files", "n_val": len(y)}
    if not len(y):  # a final split without validation actors: the folds' instead
        pairs = [read_predictions(val) for _, val, _ in folds] or [(probs, y)]
        probs, y = np.concatenate([p for p, _ in pairs]), np.concatenate([t for _, t in pairs])
        record |= {"fitted_on": "the cross-validation folds' validation actors' files (the "
                                "final split has none)", "n_val": len(y)}
    if len(y):
        t = fit_temperature(probs, y)
        record |= {"temperature": t, "val_nll_before": nll(probs, y),
                   "val_nll_after": nll(apply_temperature(probs, t), y)}
    else:
        record |= {"temperature": 1.0, "note": "no validation actors: not calibrated"}
    checks = [{"fold": k, **c} for k, val, test in folds if (c := fold_check(val, test))]
    record["folds"] = checks
    if checks:
        record["test_ece_before"] = float(np.mean([c["test_ece_before"] for c in checks]))
        record["test_ece_after"] = float(np.mean([c["test_ece_after"] for c in checks]))
    with atomic_file(Path(out)) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return record


def temperature_beside(model: str | Path) -> float:
    """The temperature of the calibration.json beside a model file; 1 without one."""
    path = Path(model).with_name(FILE)
    if not path.is_file():
        return 1.0
    return float(json.loads(path.read_text()).get("temperature", 1.0))


def export_record(temperature: float) -> dict:
    """What an export says of the calibration its graph leaves out."""
    return {"temperature": temperature,
            "apply": "p = softmax(log(probabilities) / temperature), after the graph"
                     if temperature != 1.0 else "not calibrated"}
