"""The optimiser of every run: AdamW with decoupled weight decay on matrices and embeddings only.

:mod:`scalelab.train.trainer` re-exports :func:`make_optimizer`.
"""

from __future__ import annotations

import torch

from scalelab.train.config import RunConfig


def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: torch.nn.Module, cfg: RunConfig, lr: float, device: str):
    """AdamW, decoupled weight decay on matrices and embeddings (none on norm weights); fused
    where the build supports it."""
    t = cfg.train
    kwargs = dict(lr=lr, betas=(t.beta1, t.beta2), eps=t.eps)
    try:
        return torch.optim.AdamW(_param_groups(model, t.weight_decay), fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(_param_groups(model, t.weight_decay), foreach=True, **kwargs)
