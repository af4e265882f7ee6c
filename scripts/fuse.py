"""Late fusion of one fold (rule fuse): weights chosen on the members' validation predictions,
applied to their test predictions; or of the final split (rule final_fuse: no test files)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.folds import FINAL_FOLD
from ser.logs import job_log

with job_log(snakemake.log[0], snakemake.rule) as log:
    from ser.train.fusion import FusionJob, run_fusion

    inputs = snakemake.input
    final = snakemake.rule == "final_fuse"
    run_fusion(FusionJob(
        model_name=snakemake.wildcards.model,
        model_cfg=snakemake.params.model,
        protocol=snakemake.params.protocol,
        val_predictions=list(inputs.val_predictions),
        test_predictions=None if final else list(inputs.predictions),
        member_metrics=list(inputs.metrics),
        folds_csv=inputs.folds,
        fold=FINAL_FOLD if final else int(snakemake.wildcards.fold),
        out_dir=snakemake.output.metrics.rsplit("/", 1)[0],
    ), log)
