"""Train one model on one fold and evaluate it on the fold's test actors (rules train and
train_classical: the torch trainer, or the classical family's linear models)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.gpu import claim_gpu
from ser.logs import job_log

classical = snakemake.rule == "train_classical"
if not classical:
    # Before anything touches CUDA: Snakemake does not give each GPU job its own card.
    claim_gpu()

with job_log(snakemake.log[0], snakemake.rule) as log:
    from ser.train.classical import run_classical
    from ser.train.run import run_training

    p = snakemake.params
    kinds = [k for k in snakemake.input.keys() if k not in ("metadata", "folds", "code")]
    torch_only = {} if classical else {"state_dir": p.state_dir,
                                       "weights_cache_dir": p.weights_cache}
    (run_classical if classical else run_training)(
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
        **torch_only,
    )
