"""Training of one fold: epochs, model selection on validation actors, early stopping, resume.

Selection: the checkpoint kept is the epoch with the highest validation unweighted accuracy (UA,
the mean per-class recall that SER papers report), ties broken by the lower validation loss.
Training stops early after `patience` epochs without a better one. With `select: final`, or when
the protocol holds out no validation actors (the dchung1209 protocol), the last epoch is kept.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ser.digest import config_hash
from ser.metrics import classification_metrics
from ser.train import outputs, state
from ser.train.config import (TrainConfig, autocast_dtype, make_optimizer, make_scheduler,
                              resolve_device)
from ser.train.data import FoldData
from ser.train.recipe import WeightEMA, crop_mean, mel_shift, mixup, random_crop, spec_augment


@dataclass
class Progress:
    """What an interrupted run must carry over besides the model and optimiser."""

    epoch: int = 0                      # epochs finished
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_score: list[float] = field(default_factory=list)   # [val UA, -val loss]
    since_best: int = 0

    def record(self, row: dict, selects_on_val: bool) -> bool:
        """Add an epoch's row; True when it is the new checkpoint to keep."""
        self.history.append(row)
        self.epoch = row["epoch"]
        score = [row["val_ua"], -row["val_loss"]] if selects_on_val else [float(self.epoch)]
        if not self.best_score or score > self.best_score:
            self.best_score, self.best_epoch, self.since_best = score, self.epoch, 0
            return True
        self.since_best += 1
        return False

    def finished(self, cfg: TrainConfig, selects_on_val: bool) -> bool:
        """All epochs run, or (early stopping) `patience` epochs without a better one."""
        return self.epoch >= cfg.epochs or (selects_on_val and self.since_best >= cfg.patience)


class Trainer:
    """The model with its optimiser, schedule, loss, mixed precision and batch generator."""

    def __init__(self, model: nn.Module, data: FoldData, cfg: TrainConfig,
                 device: torch.device) -> None:
        self.data, self.cfg, self.device = data, cfg, device
        # channels-last lets oneDNN (CPU) and cuDNN pick their fast convolution kernels
        self.channels_last = cfg.channels_last
        self.model = model.to(device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # a model with a pretrained trunk may give it a lower learning rate than its new head
        groups = getattr(self.model, "parameter_groups", None)
        self.optimizer = make_optimizer(cfg, groups(cfg.lr) if groups else self.model.parameters())
        self.scheduler = make_scheduler(cfg, self.optimizer)
        self.amp_dtype = autocast_dtype(cfg, device)  # None: float32
        # bf16 has float32's range, so only fp16 needs loss scaling
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.criterion = nn.CrossEntropyLoss(weight=self._class_weights(),
                                             label_smoothing=cfg.label_smoothing)
        self.ema = WeightEMA(self.model, cfg.ema) if cfg.ema else None

    def _class_weights(self) -> torch.Tensor | None:
        if not self.cfg.class_weights:
            return None
        counts = torch.bincount(self.data.splits["train"].y.cpu(), minlength=self.data.n_classes)
        weights = counts.sum() / (len(counts) * counts.clamp_min(1).float())
        return (weights * (counts > 0)).to(self.device)

    def _forward(self, x: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype,
                            enabled=self.amp_dtype is not None):
            return (model or self.model)(x).float()

    def train_epoch(self) -> tuple[float, float]:
        """One pass over the training split; (mean loss, accuracy)."""
        self.model.train()
        # sums stay on the device: a .item() per batch would wait for the GPU every step
        total = correct = torch.zeros((), device=self.device, dtype=torch.float64)
        count = 0
        for x, y, _ in self.data.batches("train", self.cfg.batch_size, self.generator,
                                         drop_singleton=True):
            loss, logits = self.step(x, y)
            total = total + loss * len(y)
            correct = correct + (logits.argmax(1) == y).sum()
            count += len(y)
        return total.item() / max(count, 1), correct.item() / max(count, 1)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment, forward, backward and update on one batch; (loss, logits)."""
        x = self.augment(x)
        x, y_mix, lam = mixup(x, y, self.cfg.mixup, self.generator)
        logits = self._forward(x)
        loss = lam * self.criterion(logits, y) + (1 - lam) * self.criterion(logits, y_mix)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        return loss.detach(), logits.detach()

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """The training-only views of a batch: a random crop, a mel shift, SpecAugment masks."""
        if self.cfg.crop_frames:
            x = random_crop(x, self.cfg.crop_frames, self.generator)
        if self.cfg.mel_shift:
            x = mel_shift(x, self.cfg.mel_shift, self.generator)
        if self.cfg.specaugment:
            x = spec_augment(x, self.generator)
        return x

    @property
    def precision(self) -> str:
        dtype = self.amp_dtype
        return f"{str(dtype).removeprefix('torch.')} autocast" if dtype else "float32"

    @property
    def evaluated(self) -> nn.Module:
        """The weights that are validated, tested and kept: the average when there is one."""
        return self.model if self.ema is None else self.ema.module

    @torch.no_grad()
    def predict(self, split: str) -> tuple[np.ndarray, float]:
        """Class probabilities in row order, and the mean unweighted cross-entropy.

        With `crop_frames`, each example's probabilities are the mean over its `test_crops`
        evenly spaced crops."""
        model = self.evaluated.eval()
        probs, loss, count = [], 0.0, 0
        for x, y, _ in self.data.batches(split, self.cfg.batch_size):
            p = crop_mean(lambda v: self._forward(v, model), x, self.cfg.crop_frames,
                          self.cfg.test_crops)                           # (B, n_classes)
            loss += F.nll_loss(p.clamp_min(1e-12).log(), y, reduction="sum").item()
            count += len(y)
            probs.append(p.cpu())
        if not probs:
            return np.zeros((0, self.data.n_classes), dtype=np.float32), float("nan")
        return torch.cat(probs).numpy(), loss / count

    def step_schedule(self, val_loss: float) -> None:
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(val_loss)
        else:
            self.scheduler.step()

    def state_dict(self) -> dict:
        saved = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                 "rng": state.rng_state(self.generator)}
        if self.ema is not None:
            saved["ema"] = {"module": self.ema.module.state_dict(), "steps": self.ema.steps}
        return saved

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        if self.ema is not None:
            self.ema.module.load_state_dict(saved["ema"]["module"])
            self.ema.steps = int(saved["ema"]["steps"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        state.set_rng_state(saved["rng"], self.generator)


def _epoch(trainer: Trainer, epoch: int) -> dict:
    start = time.perf_counter()
    train_loss, train_acc = trainer.train_epoch()
    lr = trainer.optimizer.param_groups[0]["lr"]
    val_probs, val_loss = trainer.predict("val")
    y_val = trainer.data.splits["val"].y.cpu().numpy()
    val = classification_metrics(y_val, val_probs.argmax(1), trainer.data.n_classes)
    trainer.step_schedule(val_loss if len(y_val) else train_loss)
    return {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
            "val_loss": val_loss, "val_acc": val["accuracy"] if len(y_val) else float("nan"),
            "val_ua": val["unweighted_accuracy"] if len(y_val) else float("nan"),
            "lr": lr, "seconds": time.perf_counter() - start}


def _log_epoch(log: logging.Logger, row: dict, cfg: TrainConfig, progress: Progress) -> None:
    best = progress.history[progress.best_epoch - 1]
    line = (f"epoch {row['epoch']}/{cfg.epochs} train_loss {row['train_loss']:.4f} "
            f"train_acc {row['train_acc']:.3f}")
    if math.isnan(row["val_ua"]):  # no validation split: the final epoch is the one kept
        log.info("%s lr %.2e %.1fs | no validation: final epoch kept", line, row["lr"],
                 row["seconds"])
        return
    log.info("%s val_loss %.4f val_acc %.3f val_ua %.3f lr %.2e %.1fs | best epoch %d "
             "(val_ua %.3f)", line, row["val_loss"], row["val_acc"], row["val_ua"], row["lr"],
             row["seconds"], progress.best_epoch, best["val_ua"])


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def train_fold(model: nn.Module, data: FoldData, cfg: TrainConfig, out_dir: str | Path,
               log: logging.Logger, state_dir: str | Path | None = None,
               info: dict | None = None,
               after_epoch: Callable[[int], None] | None = None) -> dict:
    """Train, select, test and write model.pt, history.csv, predictions.csv and metrics.json.

    `info` (model name, arch, hparams, ...) goes into metrics.json and model.pt and, with the
    config and a digest of the data, into the resume key. `after_epoch(epoch)` runs after each
    epoch's resume state is saved (tests use it to interrupt a run).
    """
    info = dict(info or {})
    device = resolve_device(cfg.device)
    state.seed_everything(cfg.seed, device)
    data.to(device, normalise=cfg.normalise)
    trainer = Trainer(model, data, cfg, device)
    selects_on_val = cfg.select == "best_val" and len(data.splits["val"]) > 0
    state_dir = Path(state_dir) if state_dir is not None else None
    # The architecture's parameter shapes are in the key: a state saved before the model's code
    # changed is ignored instead of failing to load.
    shapes = [[name, list(t.shape)] for name, t in model.state_dict().items()]
    key = config_hash([cfg.as_dict(), info, data.fingerprint, device.type, trainer.precision,
                       shapes])
    log.info("training on %s in %s", device, trainer.precision)
    progress, best = _restore(trainer, state_dir, key, log)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    while not progress.finished(cfg, selects_on_val):
        row = _epoch(trainer, progress.epoch + 1)
        if progress.record(row, selects_on_val) or best is None:
            best = _cpu_copy(trainer.evaluated)
        _log_epoch(log, row, cfg, progress)
        if state_dir is not None:
            state.save_resume(state_dir, {"key": key, "trainer": trainer.state_dict(),
                                          "progress": asdict(progress), "best": best})
        if after_epoch is not None:
            after_epoch(progress.epoch)
    trainer.evaluated.load_state_dict(best)
    result = _finish(trainer, progress, out_dir, info, device)
    state.clear_resume(state_dir)
    return result


def _restore(trainer: Trainer, state_dir: Path | None, key: str,
             log: logging.Logger) -> tuple[Progress, dict | None]:
    saved = state.load_resume(state_dir, key, log)
    if saved is None:
        return Progress(), None
    trainer.load_state_dict(saved["trainer"])
    return Progress(**saved["progress"]), saved["best"]


def kept_validation_scores(progress: Progress) -> dict:
    """Validation WA and UA of the kept checkpoint; null without a validation split.

    The report chooses each family's representative by these, never by test scores.
    """
    row = progress.history[progress.best_epoch - 1] if progress.best_epoch else {}
    acc, ua = row.get("val_acc", math.nan), row.get("val_ua", math.nan)
    return {"val_accuracy": None if math.isnan(acc) else float(acc),
            "val_unweighted_accuracy": None if math.isnan(ua) else float(ua)}


def _finish(trainer: Trainer, progress: Progress, out_dir: str | Path, info: dict,
            device: torch.device) -> dict:
    data = trainer.data
    probs, _ = trainer.predict("test")
    val_probs, _ = trainer.predict("val")  # for late fusion (ser.train.fusion)
    y_true = data.splits["test"].y.cpu().numpy()
    scores = classification_metrics(y_true, probs.argmax(1), data.n_classes)
    if not len(y_true):  # a final model: nothing tested, no score to claim
        scores = {k: (float("nan") if isinstance(v, float) else v) for k, v in scores.items()}
    metrics = {**info, "label_set": data.label_set, "fold": data.fold,
               "n_train": len(data.splits["train"]), "n_val": len(data.splits["val"]),
               "n_test": len(y_true), **scores, **kept_validation_scores(progress),
               "best_epoch": progress.best_epoch,
               "epochs_run": progress.epoch,
               "train_seconds": float(sum(r["seconds"] for r in progress.history)),
               "device": str(device), "precision": trainer.precision, "seed": trainer.cfg.seed,
               "classes": list(data.classes),
               "peak_memory_mb": outputs.peak_memory_mb(device)}
    outputs.write_fold_outputs(Path(out_dir), trainer.evaluated.state_dict(), data, probs,
                               progress.history, metrics, info, val_probs)
    return metrics
