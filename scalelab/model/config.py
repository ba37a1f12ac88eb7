"""The shape of a GPT as a plain dataclass, without torch: parameter and FLOP arithmetic, shape
rules and run planning use it without importing the model (:mod:`scalelab.model.gpt` builds it)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

MLP_KINDS = ("gelu", "swiglu")
POSITION_KINDS = ("learned", "rotary")


@dataclass(frozen=True)
class GPTConfig:
    """The shape of a model. ``d_ff = 0`` means the default (4·d_model for GELU, 8/3·d_model rounded
    up to a multiple of 8 for SwiGLU, which keeps the MLP parameter count near 8·d_model²)."""

    vocab_size: int = 256
    n_ctx: int = 128
    n_layer: int = 2
    d_model: int = 64
    n_head: int = 4
    d_ff: int = 0
    mlp: str = "gelu"
    positions: str = "learned"
    tie_embeddings: bool = True
    n_expert: int = 0  # 0 = dense MLP; >= 2 = mixture of experts
    top_k: int = 2  # experts per token when n_expert >= 2
    init_std: float = 0.02

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with this shape, as readable lines (empty if nothing)."""
        out = []
        for name in ("vocab_size", "n_ctx", "n_layer", "d_model", "n_head"):
            if getattr(self, name) < 1:
                out.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_ff < 0:
            out.append(f"d_ff must be >= 0 (0 = default), got {self.d_ff}")
        if self.n_head >= 1 and self.d_model % self.n_head:
            out.append(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        elif self.positions == "rotary" and self.n_head >= 1 and (self.d_model // self.n_head) % 2:
            head = self.d_model // self.n_head
            out.append(f"rotary positions need an even head size, got d_model/n_head = {head}")
        if self.mlp not in MLP_KINDS:
            out.append(f"mlp must be one of {MLP_KINDS}, got {self.mlp!r}")
        if self.positions not in POSITION_KINDS:
            out.append(f"positions must be one of {POSITION_KINDS}, got {self.positions!r}")
        if self.n_expert == 1 or self.n_expert < 0:
            out.append(f"n_expert must be 0 (dense) or >= 2, got {self.n_expert}")
        if self.n_expert >= 2 and not 1 <= self.top_k <= self.n_expert:
            out.append(f"top_k must be in 1..n_expert ({self.n_expert}), got {self.top_k}")
        return out

    @property
    def ff(self) -> int:
        """The MLP hidden width actually used."""
        if self.d_ff:
            return self.d_ff
        if self.mlp == "swiglu":
            return 8 * math.ceil(8 * self.d_model / 3 / 8)
        return 4 * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)
