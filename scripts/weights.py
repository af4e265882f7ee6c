"""Fetch one pretrained weights file into the cache and verify it (rule weights)."""
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.logs import job_log

with job_log(snakemake.log[0], "weights") as log:
    from ser.models.weight_files import WeightFile, fetch

    path = fetch(WeightFile(**snakemake.params.record), Path(snakemake.output[0]).parent)
    log.info("%s verified", path)
