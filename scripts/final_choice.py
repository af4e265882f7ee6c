"""The final model when `final.models` names none: the family representative best on validation
UA (checkpoint final_choice)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.logs import job_log

with job_log(snakemake.log[0], "final_choice") as log:
    from ser.report.final_choice import write_final_choice

    write_final_choice(snakemake.input[0], snakemake.params.pinned, snakemake.output[0], log)
