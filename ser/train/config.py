"""Training settings: the config's `training` block merged with one model's overrides.

Choices that the config does not spell out:
- RMSprop uses Keras's rho 0.9 and epsilon 1e-7, because the projects that chose RMSprop
  (the Kaggle baseline, jingwoo4710's transfer models) were written in Keras; SGD uses momentum 0.9.
- The learning-rate schedule steps once per epoch. `cosine` decays to 0 over the epochs after a
  linear warm-up of `warmup_epochs`; `plateau` halves the rate after `patience // 3` (at least 1)
  epochs without a lower validation loss; `none` keeps it constant after the warm-up.
- `crop_frames` trains on random crops of that many frames of the model input (after its resize)
  and tests on `test_crops` evenly spaced crops, their class probabilities averaged;
  `ema` keeps a moving average of the weights, which is what is validated, tested and saved
  (ser.train.recipe).
- `normalise` z-scores each frequency bin (or image channel) with the training split's statistics.
  `false` feeds the features as stored, as dchung1209 fed his dB images to his CNNs.
  `speaker_norm` first z-scores every file's stored features with its own speaker's statistics
  (ser.train.normalise.by_speaker); it reads the test speakers' unlabelled files.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULERS = ("cosine", "plateau", "none")
SELECT = ("best_val", "final")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    epochs: int = 60
    patience: int = 15
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup_epochs: int = 0
    class_weights: bool = False
    specaugment: bool = False
    mixup: float = 0.0
    label_smoothing: float = 0.0
    ema: float = 0.0                # decay of the weights' moving average; 0: none
    crop_frames: int | None = None  # random crops of this many frames in training
    test_crops: int = 1             # evenly spaced crops averaged at test time
    mel_shift: int = 0              # random frequency shifts of up to this many bins in training
    amp: bool = True                # mixed precision on a GPU (bf16 where it has it, else fp16)
    amp_cpu: bool = False           # bf16 autocast on a CPU with bf16 instructions; fp32 elsewhere
    channels_last: bool = True
    normalise: bool = True
    speaker_norm: bool = False      # z-score per speaker first, test speakers too (transductive)
    select: str = "best_val"
    device: str | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS),
                              ("select", SELECT)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"training.{name} = {getattr(self, name)!r}; valid: {allowed}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("training.epochs, batch_size and patience must be at least 1")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"training.warmup_epochs must be in [0, epochs), "
                             f"got {self.warmup_epochs}")
        if self.warmup_epochs and self.scheduler == "plateau":
            raise ValueError("training.warmup_epochs is not supported with scheduler 'plateau'")
        if self.mixup < 0 or self.lr <= 0:
            raise ValueError("training.mixup must be >= 0 and training.lr > 0")
        if not (0 <= self.label_smoothing < 1 and 0 <= self.ema < 1):
            raise ValueError("training.label_smoothing and training.ema must be in [0, 1)")
        if self.mel_shift < 0:
            raise ValueError(f"training.mel_shift must be >= 0, got {self.mel_shift}")
        if self.test_crops < 1 or (self.crop_frames is not None and self.crop_frames < 1):
            raise ValueError("training.test_crops and training.crop_frames must be at least 1")

    @classmethod
    def from_layers(cls, *layers: Mapping) -> TrainConfig:
        """Later layers override earlier ones; an unknown key is an error, not silently ignored."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        merged: dict = {}
        for layer in layers:
            unknown = sorted(set(layer) - set(fields))
            if unknown:
                raise ValueError(f"unknown training keys {unknown}; valid: {sorted(fields)}")
            merged.update(layer)
        return cls(**{k: _coerce(fields[k].type, v) for k, v in merged.items()})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(kind: str, value):
    # YAML reads 1e-4 (no dot) as a string, so numbers are converted by the field's type
    if value is None:
        return None
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return value


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """`params`: tensors, or param groups (dicts with their own "lr") of a pretrained trunk."""
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in params]
    else:
        params = [p for p in params if p.requires_grad]
    # The fused kernels update every parameter in one pass: on a 2-core CPU they nearly halve the step
    # time of a model with a large dense layer (CNN-X), and they exist on CPU and CUDA alike.
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay,
                               fused=True)
    return torch.optim.RMSprop(params, lr=cfg.lr, alpha=0.9, eps=1e-7,
                               weight_decay=cfg.weight_decay)


def resolve_device(name: str | None) -> torch.device:
    """`training.device`, or the GPU when there is one."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: without them bf16 on the CPU is emulated, 7x slower than float32
    (benchmarks/train_speed.py on a CPU without them)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype of training and inference on `device`; None: float32."""
    if device.type == "cuda" and cfg.amp:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cfg.amp_cpu and cpu_has_bf16():
        return torch.bfloat16
    return None


def lr_factor(cfg: TrainConfig, epoch: int) -> float:
    """Multiplier of the base rate for 0-based `epoch` (cosine and none schedules)."""
    if epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    if cfg.scheduler == "none":
        return 1.0
    span = max(1, cfg.epochs - cfg.warmup_epochs)
    return 0.5 * (1 + math.cos(math.pi * (epoch - cfg.warmup_epochs) / span))


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer):
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=max(1, cfg.patience // 3))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(cfg, e))
