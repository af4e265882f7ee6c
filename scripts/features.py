"""Extract one feature kind for every actor into its HDF5 shards (rule features)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.encoders import runs_encoder
from ser.features.shards import build_kind_shards, extraction_plan
from ser.gpu import claim_gpu
from ser.logs import job_log

if runs_encoder(snakemake.wildcards.feature):
    # before CUDA starts: a pretrained encoder runs on the job's GPU when it has one
    claim_gpu(**snakemake.config["gpu"])

with job_log(snakemake.log[0], "features") as log:
    device, workers = extraction_plan(snakemake.wildcards.feature, snakemake.threads)
    build_kind_shards(
        snakemake.input.metadata,
        actors=snakemake.params.actors,
        kind=snakemake.wildcards.feature,
        params=snakemake.params.feature,
        audio_params=snakemake.params.audio,
        out_paths=list(snakemake.output),
        log=log,
        workers=workers,
        device=device,
        weights_dir=snakemake.params.weights_dir,
    )
