"""Generate the offline demo corpus in RAVDESS form (rule synthesize)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.synth import synthesize_corpus
from ser.logs import job_log

with job_log(snakemake.log[0], "synthesize") as log:
    opts = snakemake.params.synthetic
    files = synthesize_corpus(
        snakemake.output[0],
        actors=snakemake.params.actors,
        seed=opts["seed"],
        statements=opts["statements"],
        repetitions=opts["repetitions"],
    )
    log.info("wrote %d files to %s", len(files), snakemake.output[0])
