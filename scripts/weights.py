"""Fetch one pretrained weights file into the cache and verify it (rule weights)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.logs import job_log

with job_log(snakemake.log[0], "weights") as log:
    from ser.models.weight_files import WeightFile, fetch

    path = fetch(WeightFile(**snakemake.params.record), snakemake.params.cache_dir)
    log.info("%s verified", path)
