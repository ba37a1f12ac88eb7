"""A decoder-only transformer (GPT) in plain PyTorch, readable in one sitting.

Pre-norm blocks: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``; causal self-attention through
``torch.nn.functional.scaled_dot_product_attention``; a GELU or SwiGLU MLP, or a mixture of such
MLPs with top-k routing (so active parameters < total parameters); learned or rotary positions;
optional tied input/output embeddings. No biases anywhere; norms are LayerNorm with a weight only.

Initialisation (GPT-2 / nanoGPT): every weight matrix and embedding ~ N(0, 0.02²); the matrices that
write into the residual stream (attention output, MLP output) ~ N(0, (0.02/√(2·n_layer))²) so the
residual variance does not grow with depth; norm weights 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scalelab.model.config import MLP_KINDS, POSITION_KINDS, GPTConfig

__all__ = ["GPT", "GPTConfig", "MLP_KINDS", "POSITION_KINDS", "MoE"]


class MLP(nn.Module):
    """GELU: W2·gelu(W1·x). SwiGLU: W2·(silu(W1·x) ⊙ W3·x)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.kind = cfg.mlp
        self.fc = nn.Linear(cfg.d_model, cfg.ff, bias=False)
        self.gate = nn.Linear(cfg.d_model, cfg.ff, bias=False) if cfg.mlp == "swiglu" else None
        self.proj = nn.Linear(cfg.ff, cfg.d_model, bias=False)
        self.proj.residual_out = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is not None:
            return self.proj(F.silu(self.gate(x)) * self.fc(x))
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class MoE(nn.Module):
    """Token-choice top-k mixture of MLP experts (softmax over the chosen k router logits).

    A Switch-style load-balancing loss, ``n_expert · Σ_e f_e · p_e``, is left in ``self.aux_loss``
    after each forward pass; the training loop adds ``moe_aux_weight`` times it to the loss.
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.top_k = cfg.top_k
        self.router = nn.Linear(cfg.d_model, cfg.n_expert, bias=False)
        self.experts = nn.ModuleList(MLP(cfg) for _ in range(cfg.n_expert))
        self.aux_loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        logits = self.router(x).float()
        weights, chosen = logits.topk(self.top_k, dim=-1)
        weights = weights.softmax(dim=-1).to(x.dtype)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows, slot = torch.where(chosen == e)
            if rows.numel():
                out.index_add_(0, rows, (expert(x[rows]) * weights[rows, slot, None]).to(out.dtype))
        n_expert = len(self.experts)
        frac = F.one_hot(chosen, n_expert).float().sum(dim=(0, 1)) / chosen.numel()
        prob = logits.softmax(dim=-1).mean(dim=0)
        self.aux_loss = n_expert * (frac * prob).sum()
        return out.reshape(shape)


def rotary_tables(
    n_ctx: int, head_dim: int, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(n_ctx, dtype=torch.float32), inv)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[..., :h/2], x[..., h/2:]) by position-dependent angles (x: B, H, T, h)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.proj.residual_out = True
        self.rotary = cfg.positions == "rotary"

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        if rope is not None:
            cos, sin = rope[0][:T], rope[1][:T]
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.mlp = MoE(cfg) if cfg.n_expert >= 2 else MLP(cfg)

    def forward(self, x: torch.Tensor, rope) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), rope)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    """``GPT(cfg)(idx)`` → logits (B, T, vocab); ``GPT(cfg)(idx, targets)`` → (logits, mean CE
    loss)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model) if cfg.positions == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_f = nn.LayerNorm(cfg.d_model, bias=False)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        if cfg.positions == "rotary":
            cos, sin = rotary_tables(cfg.n_ctx, cfg.head_dim)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        std = self.cfg.init_std
        for module in self.modules():
            if isinstance(module, nn.Linear):
                scale = (
                    1 / math.sqrt(2 * self.cfg.n_layer)
                    if getattr(module, "residual_out", False)
                    else 1.0
                )
                nn.init.normal_(module.weight, mean=0.0, std=std * scale)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        B, T = idx.shape
        if T > self.cfg.n_ctx:
            raise ValueError(f"sequence length {T} exceeds n_ctx {self.cfg.n_ctx}")
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(T, device=idx.device))
        rope = (self.rope_cos, self.rope_sin) if self.cfg.positions == "rotary" else None
        for block in self.blocks:
            x = block(x, rope)
        logits = self.lm_head(self.norm_f(x))
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def aux_loss(self) -> torch.Tensor:
        """Sum of the MoE load-balancing losses of the last forward pass (0 for a dense model)."""
        losses = [b.mlp.aux_loss for b in self.blocks if isinstance(b.mlp, MoE)]
        return torch.stack(losses).sum() if losses else torch.zeros(())
