"""Extract the RAVDESS zip into its own folder, refusing members that would escape it (rule unpack)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.download import safe_extract
from ser.logs import job_log

with job_log(snakemake.log[0], "unpack") as log:
    safe_extract(snakemake.input[0], snakemake.output[0])
