"""Extract one feature kind for one actor into an HDF5 shard (rule features)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.features.shards import build_actor_shard
from ser.logs import job_log

with job_log(snakemake.log[0], "features") as log:
    build_actor_shard(
        snakemake.input[0],
        actor=int(snakemake.wildcards.actor),
        kind=snakemake.wildcards.feature,
        params=snakemake.params.feature,
        audio_params=snakemake.params.audio,
        out_path=snakemake.output[0],
        log=log,
    )
