"""Fit one classical model (openSMILE functionals + linear model) on one fold (rule
train_classical)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.logs import job_log

with job_log(snakemake.log[0], "train_classical") as log:
    from ser.train.classical import run_classical

    p = snakemake.params
    kinds = [k for k in snakemake.input.keys() if k not in ("metadata", "folds", "code")]
    run_classical(
        model_name=snakemake.wildcards.model,
        model_cfg=p.model,
        training_defaults=p.training,
        protocol=p.protocol,
        label_set=p.labels,
        feature_shards={k: list(snakemake.input[k]) for k in kinds},
        feature_params={k: p.features[k] for k in kinds},
        metadata_csv=snakemake.input.metadata,
        folds_csv=snakemake.input.folds,
        fold=int(snakemake.wildcards.fold),
        out_dir=snakemake.output.metrics.rsplit("/", 1)[0],
        threads=snakemake.threads,
        log=log,
    )
