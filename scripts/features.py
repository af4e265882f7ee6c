"""Extract one feature kind for every actor into its HDF5 shards (rule features)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.features.functionals import is_functional
from ser.features.shards import build_kind_shards
from ser.logs import job_log

with job_log(snakemake.log[0], "features") as log:
    build_kind_shards(
        snakemake.input[0],
        actors=snakemake.params.actors,
        kind=snakemake.wildcards.feature,
        params=snakemake.params.feature,
        audio_params=snakemake.params.audio,
        out_paths=list(snakemake.output),
        log=log,
        # openSMILE runs on one core: the job's threads extract that many actors at once
        workers=snakemake.threads if is_functional(snakemake.wildcards.feature) else 1,
    )
