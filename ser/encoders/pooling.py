"""An utterance from an encoder's frames: each layer's mean and standard deviation over time."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def pool(frames: Sequence[torch.Tensor]) -> np.ndarray:
    """Each layer's (T, D) frames -> [mean, std] over T (population std; 0 for T = 1),
    all layers side by side: (sum of 2 D,) float32."""
    parts = []
    for x in frames:
        x = x.detach().double()
        parts += [x.mean(0), x.std(0, correction=0)]
    return torch.cat(parts).float().cpu().numpy()
