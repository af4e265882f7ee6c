"""Feature extraction (batched in torch), the 3-channel image and the per-actor HDF5 shards."""
from ser.features.extract import FEATURES, extract, extract_all, extract_batches
from ser.features.image import compose_image
from ser.features.shards import EXTRACTOR_VERSION, build_actor_shard, read_shards, write_shard

__all__ = ["EXTRACTOR_VERSION", "FEATURES", "build_actor_shard", "compose_image", "extract",
           "extract_all", "extract_batches", "read_shards", "write_shard"]
