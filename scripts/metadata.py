"""Parse every RAVDESS file name and header into results/metadata.csv (rule metadata)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.download import source_differences
from ser.data.ravdess import scan_corpus, write_metadata
from ser.logs import job_log

with job_log(snakemake.log[0], "metadata") as log:
    table = scan_corpus(snakemake.input.audio, actors=snakemake.params.actors)
    write_metadata(table, snakemake.output[0])
    log.info("%d files from %d actors", len(table), table["actor"].nunique())
    p = snakemake.params
    for line in source_differences(p.source, table, p.md5, p.size):
        log.warning("differs from the RAVDESS release: %s", line)
