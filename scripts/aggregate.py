"""Collect every fold's metrics into results/metrics.csv (rule aggregate)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.report.aggregate import write_metrics_table
from ser.logs import job_log

with job_log(snakemake.log[0], "aggregate") as log:
    write_metrics_table(list(snakemake.input), snakemake.output[0])
