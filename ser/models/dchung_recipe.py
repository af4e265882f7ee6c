"""What every model of dchung1209/RAVDESS shares, scratch and ImageNet alike: the 128 x 256 log-mel
image it reads and the notebook's training recipe. A module of its own, with no layers in it, so
that the models which share only the recipe do not depend on each other's layer code (editing a
layer reruns just the models built from it: rules/common.smk `model_code`)."""
from __future__ import annotations

from ser.models.registry import InputSpec

LOGMEL_IMAGE = InputSpec(("logmel",), (128, 256))
SOURCE = "dchung1209/RAVDESS (PyTorch)"


def dchung_defaults(epochs: int, **extra) -> dict:
    """The notebook's optimiser settings, with the epochs it trained each model for."""
    return {"optimizer": "adam", "lr": 1e-4, "weight_decay": 1e-5, "batch_size": 32,
            "epochs": epochs, **extra}
