"""Assign every file to train / validation / test in each fold (rule folds)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.folds import make_folds, write_folds
from ser.data.ravdess import read_metadata
from ser.logs import job_log

with job_log(snakemake.log[0], "folds") as log:
    p = snakemake.params.protocol
    folds = make_folds(
        read_metadata(snakemake.input[0]),
        p["scheme"],
        k=p["k"],
        seed=p["seed"],
        n_val_actors=p["n_val_actors"],
    )
    write_folds(folds, snakemake.output[0])
