"""Parameter and FLOP counting by the conventions of the scaling-law literature (DESIGN.md §2).

Conventions (every number says which one it is):

* ``embedding``: token embedding plus learned position embedding (Kaplan et al. 2020 exclude both).
* ``head``: the output projection when it is *not* tied to the token embedding (0 when tied). It is
  excluded from ``non_embedding`` as well, so N does not depend on whether the head is tied.
* ``non_embedding`` (Kaplan's N): everything else — attention, MLP (all experts), router, norms.
* ``active_non_embedding``: what one token uses — for a mixture of experts only ``top_k`` of the
  ``n_expert`` MLPs (plus the router); equal to ``non_embedding`` for a dense model. FLOPs use it.
* Forward FLOPs per token (Kaplan): ``2·N + 2·n_layer·n_ctx·d_model``; training ≈ 3× forward, so
  ``6·N + 6·n_layer·n_ctx·d_model`` per token, and the run-table convention ``C = 6·N·D``.
* The *full* count (for throughput/MFU) adds the output-head matmul: ``6·(N + vocab·d_model) +
  6·n_layer·n_ctx·d_model`` per trained token.

Everything here is analytic (no torch needed) except :func:`counts_from_model`, which counts a real
module's ``numel()`` so the tests can check the two agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scalelab.model.config import GPTConfig


@dataclass(frozen=True)
class ParamCounts:
    total: int
    embedding: int
    head: int
    non_embedding: int
    active_non_embedding: int

    @property
    def active_total(self) -> int:
        return self.active_non_embedding + self.embedding + self.head

    def to_dict(self) -> dict:
        return {**asdict(self), "active_total": self.active_total}


def mlp_params(cfg: GPTConfig) -> int:
    """Parameters of one (dense) MLP: 2·d·d_ff for GELU, 3·d·d_ff for SwiGLU."""
    return (3 if cfg.mlp == "swiglu" else 2) * cfg.d_model * cfg.ff


def layer_params(cfg: GPTConfig, active: bool = False) -> int:
    """One block: attention 4·d² (+ no biases), two norm weights 2·d, and the MLP or MoE."""
    d = cfg.d_model
    if cfg.n_expert >= 2:
        experts = (cfg.top_k if active else cfg.n_expert) * mlp_params(cfg)
        mlp = experts + d * cfg.n_expert  # + router
    else:
        mlp = mlp_params(cfg)
    return 4 * d * d + 2 * d + mlp


def count_params(cfg: GPTConfig) -> ParamCounts:
    """Exact parameter counts of ``GPT(cfg)`` computed from the shape alone."""
    d = cfg.d_model
    embedding = cfg.vocab_size * d + (cfg.n_ctx * d if cfg.positions == "learned" else 0)
    head = 0 if cfg.tie_embeddings else cfg.vocab_size * d
    non_embedding = cfg.n_layer * layer_params(cfg) + d  # + final norm
    active = cfg.n_layer * layer_params(cfg, active=True) + d
    return ParamCounts(
        total=embedding + head + non_embedding,
        embedding=embedding,
        head=head,
        non_embedding=non_embedding,
        active_non_embedding=active,
    )


def kaplan_approx(
    n_layer: int, d_model: int, d_ff: int | None = None, d_attn: int | None = None
) -> int:
    """Kaplan's approximation N ≈ 2·d_model·n_layer·(2·d_attn + d_ff) (= 12·n_layer·d_model² by
    default)."""
    d_ff = 4 * d_model if d_ff is None else d_ff
    d_attn = d_model if d_attn is None else d_attn
    return 2 * d_model * n_layer * (2 * d_attn + d_ff)


def forward_flops_per_token(cfg: GPTConfig) -> float:
    """Kaplan: 2·N + 2·n_layer·n_ctx·d_model, N = active non-embedding parameters."""
    n = count_params(cfg).active_non_embedding
    return 2.0 * n + 2.0 * cfg.n_layer * cfg.n_ctx * cfg.d_model


def training_flops_per_token(cfg: GPTConfig) -> float:
    """Training ≈ 3 × forward (forward + backward): 6·N + 6·n_layer·n_ctx·d_model."""
    return 3.0 * forward_flops_per_token(cfg)


def full_training_flops_per_token(cfg: GPTConfig) -> float:
    """Training FLOPs per token including the output head: 6·(N + V·d) + 6·n_layer·n_ctx·d_model."""
    return training_flops_per_token(cfg) + 6.0 * cfg.vocab_size * cfg.d_model


def training_flops(n_params: float, n_tokens: float) -> float:
    """The run-table convention C = 6·N·D (N non-embedding, active for MoE)."""
    return 6.0 * float(n_params) * float(n_tokens)


def counts_from_model(model) -> ParamCounts:
    """Count a real ``GPT`` module's parameters with ``numel()`` (shared tensors counted once)."""
    from scalelab.model.gpt import MoE  # noqa: PLC0415 - needs torch; the rest of this module does not

    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    embedding = model.wte.weight.numel() + (
        model.wpe.weight.numel() if model.wpe is not None else 0
    )
    head = 0 if model.lm_head.weight is model.wte.weight else model.lm_head.weight.numel()
    non_embedding = total - embedding - head
    inactive = 0
    for module in model.modules():
        if isinstance(module, MoE):
            per_expert = sum(p.numel() for p in module.experts[0].parameters())
            inactive += (len(module.experts) - module.top_k) * per_expert
    return ParamCounts(
        total=total,
        embedding=embedding,
        head=head,
        non_embedding=non_embedding,
        active_non_embedding=non_embedding - inactive,
    )
