"""Dropout whose mask takes one 64-bit random draw per four elements on the CPU (issue 34).

torch's CPU dropout draws a random number per element (`bernoulli_`), and on the 2-core machine
that was a sixth of a `cnn6` training step in bf16 (torch.profiler; benchmarks/README.md).
Here every 64-bit draw gives four 16-bit numbers, and an element is kept when its number falls
below round((1 - p) * 2^16): a Bernoulli(1 - p) mask to within 2^-17, scaled by 1 / (1 - p) as
torch's. The mask is drawn from torch's default generator, so `torch.manual_seed` fixes it, and
laid out like the input (channels-last stays channels-last for the next convolution).
On a GPU torch's fused dropout kernel is kept: the masks were measured on the CPU only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def keep_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """A boolean mask shaped and laid out like `x`, True with probability 1 - p."""
    order = sorted(range(x.ndim), key=lambda d: -x.stride(d))  # x's dims in memory order
    n = x.numel()
    # random_(min, None) is torch's full 64-bit range: all four 16-bit quarters are uniform
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-2**63, None)
    bits = words.view(torch.int16)[:n].view([x.shape[d] for d in order])
    keep = bits < round((1 - p) * 65536) - 32768
    return keep.permute([order.index(d) for d in range(x.ndim)])


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`F.dropout(x, p, training)` with `keep_mask` on the CPU."""
    if not training or not 0 < p < 1 or x.device.type != "cpu":
        return F.dropout(x, p, training)
    # one multiplication by a mask of 0 and 1 / (1 - p): a pass forward and one backward
    return x * keep_mask(x, p).to(x.dtype).mul_(1 / (1 - p))
