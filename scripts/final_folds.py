"""The final model's split: every actor trains but the validation actors (rule final_folds)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

import pandas as pd

from ser.data.folds import final_folds, write_folds
from ser.logs import job_log

with job_log(snakemake.log[0], "final_folds") as log:
    p = snakemake.params.protocol
    folds = final_folds(pd.read_csv(snakemake.input[0]), p["n_val_actors"], p["seed"])
    write_folds(folds, snakemake.output[0])
