"""Parse every RAVDESS file name and header into results/metadata.csv (rule metadata)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.download import source_differences
from ser.data.ravdess import scan_corpus, write_metadata
from ser.logs import job_log

with job_log(snakemake.log[0], "metadata") as log:
    table = scan_corpus(snakemake.input.audio, actors=snakemake.params.actors,
                        vocal_channel=snakemake.params.vocal_channel, log=log)
    write_metadata(table, snakemake.output[0])
    log.info("%d files from %d actors", len(table), table["actor"].nunique())
    # read from the config, not params: only the log depends on them, so editing them must not
    # rerun the metadata and everything downstream
    release = snakemake.config["ravdess"]
    for line in source_differences(release["source"], table, release["md5"], release["size"]):
        log.warning("differs from the RAVDESS release: %s", line)
