"""U-vector attention pooling (Zhang et al., "Attention Based Fully Convolutional Network for
Speech Emotion Recognition", arXiv 1806.01506), shared by cnn14_attn, vgg19_bn_attn and
alexnet_attn.

A feature map of C channels over L time-frequency positions a_i is pooled as
``alpha_i = softmax_i(lambda * u^T tanh(W a_i + b))``, ``c = sum_i alpha_i a_i``. lambda = 0 gives
average pooling; the paper's lambda = 0.3 keeps the weights from collapsing onto one position.
"""
from __future__ import annotations

import torch
from torch import nn


class UVectorAttention(nn.Module):
    """Attention pooling of (B, C, H, W) or (B, C, L) feature maps to (B, C)."""

    def __init__(self, channels: int, lambda_: float = 0.3):
        super().__init__()
        self.lambda_ = lambda_
        self.W = nn.Linear(channels, channels)
        # the paper draws u Xavier-uniform: as a (1, C) matrix its bound is sqrt(6 / (C + 1))
        self.u = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, channels)).squeeze(0))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights alpha (B, L) over the flattened positions."""
        a = x.flatten(2).transpose(1, 2)                      # (B, L, C)
        scores = torch.tanh(self.W(a)) @ self.u              # (B, L)
        return torch.softmax(self.lambda_ * scores, dim=1)   # (B, L)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (3, 4):
            raise ValueError(f"attention pooling expects (B, C, L) or (B, C, H, W), got "
                             f"{tuple(x.shape)}")
        alpha = self.weights(x)                               # (B, L)
        return torch.einsum("bcl,bl->bc", x.flatten(2), alpha)  # (B, C)
