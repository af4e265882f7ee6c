"""Seeding, and the resume state that lets a killed training job finish as if never stopped.

After every epoch the whole state of the run (model, optimiser, scheduler, grad scaler, every
random generator, history, best checkpoint, epochs since the best) is written atomically to one
file. A rerun with the same configuration and data continues from it and ends with exactly the
same result (on CPU; CUDA kernels are not bitwise deterministic). Everything in the file is a
tensor or a primitive, so it is read back with `torch.load(weights_only=True)` like any checkpoint.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch

from ser.io import atomic_file

RESUME_FILE = "resume.pt"


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed torch, numpy and random; on CPU also ask for deterministic kernels.

    On CUDA, cuDNN may pick the fastest kernels instead (inputs have one fixed size), as GPU
    runs are not bitwise reproducible anyway.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True


def rng_state(generator: torch.Generator) -> dict:
    np_name, np_keys, np_pos, np_gauss, np_cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_name, np_keys.tolist(), np_pos, np_gauss, np_cached],
        "random": random.getstate(),
        "generator": generator.get_state(),
    }


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, gauss, cached))
    version, internal, gauss_next = state["random"]
    random.setstate((version, tuple(internal), gauss_next))
    generator.set_state(state["generator"])


def save_resume(state_dir: Path, state: dict) -> None:
    with atomic_file(Path(state_dir) / RESUME_FILE) as tmp:
        torch.save(state, tmp)


def load_resume(state_dir: Path | None, key: str, log: logging.Logger) -> dict | None:
    """The saved state if there is one written under `key`; otherwise None, saying why."""
    if state_dir is None or not (Path(state_dir) / RESUME_FILE).exists():
        return None
    path = Path(state_dir) / RESUME_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an unreadable state only costs a fresh start
        log.warning("ignoring unreadable resume state %s (%s); starting afresh", path, exc)
        return None
    if state.get("key") != key:
        log.info("ignoring resume state %s: written for another config or other inputs", path)
        return None
    log.info("resuming from %s after epoch %d", path, state["progress"]["epoch"])
    return state


def clear_resume(state_dir: Path | None) -> None:
    if state_dir is not None:
        (Path(state_dir) / RESUME_FILE).unlink(missing_ok=True)
