"""A final model's calibration.json (rule calibration)."""
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.logs import job_log
from ser.use.calibration import calibrate

with job_log(snakemake.log[0], "calibration") as log:
    dirs = sorted({Path(p).parent for p in snakemake.input.folds})
    folds = [(int(d.name.removeprefix("fold_")), d / "val_predictions.csv",
              d / "predictions.csv") for d in dirs]
    record = calibrate(snakemake.input.val, folds, snakemake.output[0])
    log.info("temperature %.3f on %d validation files; test ECE over %d folds %s -> %s",
             record["temperature"], record["n_val"], len(record["folds"]),
             record.get("test_ece_before"), record.get("test_ece_after"))
