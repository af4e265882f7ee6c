"""Fetch one pretrained weights file into the cache and verify it (rule weights)."""
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.logs import job_log

with job_log(snakemake.log[0], "weights") as log:
    from ser.weight_files import WeightFile, fetch

    # a hub file's name is its path in the hub's cache layout, below the cache folder
    path = fetch(WeightFile(**snakemake.params.record), Path(snakemake.params.cache_dir))
    log.info("%s verified", path)
