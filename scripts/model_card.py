"""A final model's model card (rule model_card)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.logs import job_log
from ser.report.model_card import write_model_card

with job_log(snakemake.log[0], "model_card") as log:
    write_model_card(
        final_metrics=snakemake.input.metrics,
        final_history=snakemake.input.history,
        final_folds=snakemake.input.final_folds,
        folds=snakemake.input.folds,
        fold_metrics=list(snakemake.input.cv),
        corpus_json=snakemake.input.corpus,
        out=snakemake.output[0],
        calibration_json=snakemake.input.calibration,
    )
