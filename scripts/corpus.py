"""Record which corpus the run read, and its checksum status, in results/corpus.json (rule corpus)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.data.provenance import write_corpus_record
from ser.logs import job_log

with job_log(snakemake.log[0], "corpus") as log:
    record = write_corpus_record(snakemake.params.source, snakemake.params.md5,
                                 snakemake.input.metadata, snakemake.output[0],
                                 snakemake.input.audio, snakemake.params.vocal_channel)
    log.info("%s corpus at %s, checksum %s", record["source_kind"], record["path"],
             record["checksum"])
