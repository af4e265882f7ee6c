"""The report's calibration section: how far each model's probabilities on the test folds are
from frequencies, before and after a temperature fitted on the same fold's validation actors
(as the final model is calibrated, ser.use.calibration; never on a test file)."""
from __future__ import annotations

import numpy as np

from ser.metrics import expected_calibration_error
from ser.report.inputs import FoldRun, RunData
from ser.report.tables import html_table
from ser.use.calibration import apply_temperature, fit_temperature

NOTE = ("Expected calibration error (15 bins of the top class's probability) on each fold's "
        "test files, mean over the folds with validation actors: as the model gives them, and "
        "after dividing their log-probabilities by a temperature fitted on the fold's "
        "validation actors. `ser predict` applies the final model's temperature "
        "(calibration.json).")


def fold_calibration(fold: FoldRun) -> tuple[float, float, float] | None:
    """(temperature, test ECE before, after) of one fold; None without validation files."""
    if fold.val_predictions is None or fold.val_predictions.empty:
        return None
    cols = [f"p_{c}" for c in fold.classes]
    pv, yv = fold.val_predictions[cols].to_numpy(), fold.val_predictions["y_true"].to_numpy()
    pt, yt = fold.predictions[cols].to_numpy(), fold.predictions["y_true"].to_numpy()
    t = fit_temperature(pv, yv)
    return t, expected_calibration_error(pt, yt), \
        expected_calibration_error(apply_temperature(pt, t), yt)


def calibration_html(run: RunData) -> str:
    """A table of one row per model with validation actors; empty without any."""
    rows = []
    for model in run.models:
        checks = [c for f in run.model_folds(model) if (c := fold_calibration(f))]
        if checks:
            t, before, after = np.array(checks).T
            rows.append([model, len(checks), f"{np.median(t):.2f}", f"{100 * before.mean():.1f}",
                         f"{100 * after.mean():.1f}"])
    if not rows:
        return ""
    table = html_table("calibration", ["Model", "Folds", "Temperature (median)",
                                       "Test ECE (%)", "Calibrated test ECE (%)"], rows,
                       caption=NOTE)
    return f"<section id='calibration'><h2>Calibrated probabilities</h2>{table}</section>"
