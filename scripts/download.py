"""Download the RAVDESS zip, verified by size and MD5 (rule download)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.download import fetch
from ser.logs import job_log

with job_log(snakemake.log[0], "download") as log:
    p = snakemake.params
    fetch(p.url, snakemake.output[0], md5=p.md5, size=p.size, retries=p.retries, timeout=p.timeout)
