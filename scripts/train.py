"""Train one model on one fold and evaluate it on the fold's test actors (rules train and
train_classical: the torch trainer, or the classical family's linear models), or on the final
split with no test actors (rule final_train)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.folds import FINAL_FOLD
from ser.gpu import claim_gpu
from ser.logs import job_log

classical = snakemake.rule in ("train_classical", "final_train_classical")
if not classical:
    # Before anything touches CUDA: Snakemake does not give each GPU job its own card.
    claim_gpu(**snakemake.config["gpu"])  # not a param: sharing a card changes no result

with job_log(snakemake.log[0], snakemake.rule) as log:
    from ser.train.classical import run_classical
    from ser.train.run import TrainJob, run_training

    p = snakemake.params
    kinds = [k for k in snakemake.input.keys() if k not in ("metadata", "folds", "code", "weights")]
    job = TrainJob(
        model_name=snakemake.wildcards.model,
        model_cfg=p.model,
        training_defaults=p.training,
        protocol=p.protocol,
        label_set=p.labels,
        feature_shards={k: list(snakemake.input[k]) for k in kinds},
        feature_params={k: p.features[k] for k in kinds},
        metadata_csv=snakemake.input.metadata,
        folds_csv=snakemake.input.folds,
        fold=int(snakemake.wildcards.get("fold", FINAL_FOLD)),  # rule final_train: none
        out_dir=snakemake.output.metrics.rsplit("/", 1)[0],
        state_dir=getattr(p, "state_dir", None),  # the classical fits need no resume state
        weights_cache_dir=getattr(p, "weights_cache", None),
        threads=snakemake.threads,
    )
    (run_classical if classical else run_training)(job, log)
