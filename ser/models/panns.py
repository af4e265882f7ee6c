"""PANNs Cnn14 (Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio
Pattern Recognition", arXiv 1912.10211; qiuqiangkong/audioset_tagging_cnn, pytorch/models.py).

The front-end lives inside the model as in the original (torchlibrosa): an STFT computed as two
1-D convolutions with fixed DFT kernels (Hann window, centred, reflect padding), power, a Slaney
mel filterbank (`librosa.filters.mel`), 10·log10 with amin 1e-10, ref 1.0 and no top_db, and
batch-norm over the mel bins (`bn0`). Module and parameter names follow the original exactly, so
the released checkpoints load with strict keys. Our choice: the front-end runs in float32 even
under autocast, because squared STFT magnitudes overflow float16.
"""
from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ser.models.registry import InputSpec, ModelSpec, register
from ser.weight_files import WeightFile
from ser.models.weights import describe, fetch, file_description, load_strict, read_state_dict

ZENODO = "https://zenodo.org/records/3987831/files/"
# sample rate -> (checkpoint file, window, hop, fmax, MD5 that Zenodo lists for the file), the
# two released configurations
CHECKPOINTS = {
    16000: ("Cnn14_16k_mAP=0.438.pth", 512, 160, 8000.0, "362fc5ff18f1d6ad2f6d464b45893f2c"),
    32000: ("Cnn14_mAP=0.431.pth", 1024, 320, 14000.0, "541141fa2ee191a88f24a3219fff024e"),
}


def init_layer(layer: nn.Module) -> None:
    """PANNs' initialisation: Xavier-uniform weights, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)


class ConvBlock(nn.Module):
    """[3x3 conv (no bias) -> BN -> ReLU] x 2 -> average pooling (PANNs' ConvBlock)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        init_layer(self.conv1)
        init_layer(self.conv2)

    def forward(self, x: torch.Tensor, pool_size: tuple[int, int] = (2, 2)) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))            # (B, C_out, H, W)
        x = F.relu(self.bn2(self.conv2(x)))            # (B, C_out, H, W)
        return F.avg_pool2d(x, kernel_size=pool_size)  # (B, C_out, H/p0, W/p1)


def add_conv_blocks(module: nn.Module, widths: tuple[int, ...], in_channels: int = 1) -> None:
    """Attach `conv_block1`..`conv_blockN` (the original attribute names) to `module`."""
    for i, width in enumerate(widths, start=1):
        setattr(module, f"conv_block{i}", ConvBlock(in_channels, width))
        in_channels = width


def run_conv_blocks(module: nn.Module, x: torch.Tensor, pools: list[tuple[int, int]],
                    dropout: float) -> torch.Tensor:
    """Blocks 1..len(pools), each followed by dropout, as in Cnn14.forward."""
    for i, pool in enumerate(pools, start=1):
        x = getattr(module, f"conv_block{i}")(x, pool)
        x = F.dropout(x, p=dropout, training=module.training)
    return x


class STFT(nn.Module):
    """torchlibrosa's STFT: DFT as conv1d, kernels (n_fft/2+1, 1, n_fft), frozen."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        window = librosa.filters.get_window("hann", n_fft, fftbins=True)
        k = np.arange(n_fft // 2 + 1)[:, None] * np.arange(n_fft)[None, :]
        dft = np.exp(-2j * np.pi * k / n_fft) * window[None, :]        # (n_fft/2+1, n_fft)
        self.conv_real = nn.Conv1d(1, n_fft // 2 + 1, n_fft, stride=hop_length, bias=False)
        self.conv_imag = nn.Conv1d(1, n_fft // 2 + 1, n_fft, stride=hop_length, bias=False)
        for conv, part in ((self.conv_real, dft.real), (self.conv_imag, dft.imag)):
            conv.weight.data = torch.tensor(part[:, None, :], dtype=torch.float32)
            conv.weight.requires_grad_(False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = F.pad(waveform[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        real = self.conv_real(x).transpose(1, 2)[:, None]  # (B, 1, T, n_fft/2+1)
        imag = self.conv_imag(x).transpose(1, 2)[:, None]  # (B, 1, T, n_fft/2+1)
        return real, imag


class Spectrogram(nn.Module):
    """Power spectrogram (B, S) -> (B, 1, T, n_fft/2+1)."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.stft = STFT(n_fft, hop_length)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        real, imag = self.stft(waveform)
        return real.square() + imag.square()  # (B, 1, T, n_fft/2+1)


class LogmelFilterBank(nn.Module):
    """Mel filterbank and power_to_db (ref 1.0, amin 1e-10, no top_db): -> (B, 1, T, n_mels)."""

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float):
        super().__init__()
        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        self.melW = nn.Parameter(torch.tensor(mel.T, dtype=torch.float32), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(power, self.melW)              # (B, 1, T, n_mels)
        return 10.0 * torch.log10(mel.clamp(min=1e-10))  # (B, 1, T, n_mels)


def drop_stripes(x: torch.Tensor, dim: int, width: int, n_stripes: int) -> torch.Tensor:
    """torchlibrosa's DropStripes: per example, `n_stripes` stripes of width < `width` set to 0."""
    batch, total = x.shape[0], x.shape[dim]
    positions = torch.arange(total, device=x.device)
    shape = [batch, 1, 1, 1]
    shape[dim] = total
    for _ in range(n_stripes):
        distance = torch.randint(0, width, (batch, 1), device=x.device)
        begin = (torch.rand(batch, 1, device=x.device) * (total - distance)).long()
        stripe = (positions >= begin) & (positions < begin + distance)  # (B, total)
        x = x.masked_fill(stripe.view(shape), 0.0)
    return x


class Cnn14(nn.Module):
    """PANNs Cnn14 on waveforms (B, S); `forward` returns the logits of `fc_audioset`.

    For fine-tuning, `fc_audioset` is replaced by a new head (PANNs' Transfer_Cnn14 adds one on
    the embedding; replacing keeps the original key names). SpecAugment (time masks 64 x 2,
    frequency masks 8 x 2) runs only in training; mixup is left to the trainer.
    """

    def __init__(self, n_classes: int = 527, sample_rate: int = 16000, window_size: int = 512,
                 hop_size: int = 160, mel_bins: int = 64, fmin: float = 50.0,
                 fmax: float = 8000.0, specaugment: bool = True):
        super().__init__()
        self.specaugment = specaugment
        self.spectrogram_extractor = Spectrogram(window_size, hop_size)
        self.logmel_extractor = LogmelFilterBank(sample_rate, window_size, mel_bins, fmin, fmax)
        self.bn0 = nn.BatchNorm2d(mel_bins)
        add_conv_blocks(self, (64, 128, 256, 512, 1024, 2048))
        self.fc1 = nn.Linear(2048, 2048)
        self.fc_audioset = nn.Linear(2048, n_classes)
        init_layer(self.fc1)
        init_layer(self.fc_audioset)

    def logmel(self, waveform: torch.Tensor) -> torch.Tensor:
        """The front-end's log-mel spectrogram (B, 1, T, mel_bins), before bn0."""
        with torch.autocast(waveform.device.type, enabled=False):
            return self.logmel_extractor(self.spectrogram_extractor(waveform.float()))

    def embedding(self, waveform: torch.Tensor) -> torch.Tensor:
        """The 2048-d embedding `fc1` gives (after its ReLU and dropout)."""
        x = self.logmel(waveform)                                  # (B, 1, T, M)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)            # (B, 1, T, M)
        if self.training and self.specaugment:
            x = drop_stripes(drop_stripes(x, 2, 64, 2), 3, 8, 2)  # (B, 1, T, M)
        x = run_conv_blocks(self, x, [(2, 2)] * 5 + [(1, 1)], 0.2)  # (B, 2048, T/32, M/32)
        x = x.mean(dim=3)                                          # (B, 2048, T/32)
        x = x.amax(dim=2) + x.mean(dim=2)                          # (B, 2048)
        x = F.dropout(x, p=0.5, training=self.training)
        x = F.relu(self.fc1(x))                                    # (B, 2048)
        return F.dropout(x, p=0.5, training=self.training)         # (B, 2048)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() == 3 and waveform.shape[1] == 1:
            waveform = waveform[:, 0]                 # (B, 1, S) -> (B, S)
        return self.fc_audioset(self.embedding(waveform))  # (B, n_classes)

    def audioset_outputs(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        """The original model's outputs: clipwise_output (sigmoid), embedding, logmel."""
        embedding = self.embedding(waveform)
        return {"clipwise_output": torch.sigmoid(self.fc_audioset(embedding)),
                "embedding": embedding, "logmel": self.logmel(waveform)}


def load_panns_checkpoint(model: Cnn14, path: str | Path) -> None:
    """Load a PANNs checkpoint (`{'iteration', 'model', 'sampler'}` or a bare state_dict) into a
    527-class `model`, strict keys (the Zenodo files and local copies alike)."""
    load_strict(model, read_state_dict(path), path)


def checkpoint_file(sample_rate: int) -> WeightFile:
    """The released AudioSet checkpoint for Cnn14 at `sample_rate`, with Zenodo's MD5."""
    if sample_rate not in CHECKPOINTS:
        raise ValueError(f"cnn14: sample_rate must be one of {sorted(CHECKPOINTS)} (the released "
                         f"checkpoints), got {sample_rate}")
    name, *_, md5 = CHECKPOINTS[sample_rate]
    return WeightFile(name, ZENODO + name.replace("=", "%3D") + "?download=1", md5=md5)


@register(ModelSpec(
    name="cnn14", family="transfer", input=InputSpec(("waveform",), None),
    defaults={"optimizer": "adam", "lr": 1e-4, "batch_size": 32, "sample_rate": 16000},
    source="Kong et al. 2020, PANNs, arXiv 1912.10211; qiuqiangkong/audioset_tagging_cnn",
    pretrained_options=("none", "audioset"),
    weight_files=lambda pretrained, hparams: [
        checkpoint_file(int(hparams.get("sample_rate", 16000)))]))
def build_cnn14(n_classes: int, pretrained: str, cache_dir: Path, sample_rate: int = 16000,
                specaugment: bool = True) -> Cnn14:
    """Cnn14 at the 16 kHz (default) or 32 kHz configuration of the released checkpoints; with
    weights, the 527-class AudioSet model is loaded strictly and `fc_audioset` then replaced."""
    checkpoint = checkpoint_file(sample_rate)
    _, window, hop, fmax, _ = CHECKPOINTS[sample_rate]
    model = Cnn14(527, sample_rate, window, hop, 64, 50.0, fmax, specaugment)
    if pretrained == "none":
        description = "none (random init)"
    elif pretrained == "audioset":
        load_panns_checkpoint(model, fetch(checkpoint, cache_dir))
        description = f"audioset:{checkpoint.name} (md5 {checkpoint.md5})"
    else:
        load_panns_checkpoint(model, pretrained)
        description = file_description(Path(pretrained))
    model.fc_audioset = nn.Linear(2048, n_classes)
    init_layer(model.fc_audioset)
    return describe(model, description)
