"""Choosing a model shape for a target non-embedding parameter count N.

The rule (documented, deterministic):

1. Widths are multiples of 32 below 256 with 32-wide heads, and multiples of 64 from 256 on with
   64-wide heads (n_head = d_model / head size). Wide heads matter on CPU: attention cost grows
   with n_head·n_ctx² (the softmax), not with the head size.
2. For every depth n_layer in ``[min_layers, max_layers]`` and width d_model, the MLP width d_ff is
   the default ratio (4·d_model for GELU, 8/3·d_model for SwiGLU) when that lands within ``tol`` of
   N; otherwise it is solved for N, rounded to a multiple of 32 and kept within ±25% of the default.
3. Among the shapes within ``tol`` (5% by default) of N, pick the one closest to the target aspect
   ratio d_model/n_layer (``aspect``, default 64 — Kaplan et al. 2020 found loss flat within a few
   percent for ratios from about 20 to 200), with a penalty ``2·|log(d_ff/default)|`` for moving
   d_ff off its default. N is counted exactly (norm weights included), see :mod:`counting`.

:func:`shape_family` gives shapes of the *same* N at different depths (the shape-insensitivity
experiment, DESIGN.md M9).
"""

from __future__ import annotations

import math
from dataclasses import replace

from scalelab.model.config import GPTConfig
from scalelab.model.counting import count_params

WIDTH_STEP = 32


def head_size(d_model: int) -> int:
    return 64 if d_model >= 256 else 32


def heads_for(d_model: int) -> int:
    return max(1, d_model // head_size(d_model))


def _candidates_at_depth(n_params: float, n_layer: int, base: GPTConfig, tol: float):
    """(shape, N) pairs at this depth within tol of n_params, over all widths."""
    out = []
    d_max = int(math.sqrt(n_params / max(n_layer, 1) / 4)) + WIDTH_STEP
    for d in range(WIDTH_STEP, d_max + 1, WIDTH_STEP):
        if d % head_size(d):
            continue
        cfg = replace(base, n_layer=n_layer, d_model=d, n_head=heads_for(d), d_ff=0)
        default_ff = cfg.ff
        n = count_params(cfg).non_embedding
        if abs(n / n_params - 1) > tol:
            # solve N(d_ff) = n_params: N is linear in d_ff
            per_ff = count_params(replace(cfg, d_ff=default_ff + 1)).non_embedding - n
            ff = default_ff + (n_params - n) / per_ff
            ff = int(round(ff / WIDTH_STEP)) * WIDTH_STEP
            if not (0.75 * default_ff <= ff <= 1.25 * default_ff) or ff < WIDTH_STEP:
                continue
            cfg = replace(cfg, d_ff=ff)
            n = count_params(cfg).non_embedding
            if abs(n / n_params - 1) > tol:
                continue
        out.append((cfg, n, default_ff))
    return out


def _score(cfg: GPTConfig, default_ff: int, aspect: float) -> float:
    return abs(math.log(cfg.d_model / cfg.n_layer / aspect)) + 2 * abs(
        math.log(cfg.ff / default_ff)
    )


def shape_for(
    n_params: float,
    base: GPTConfig | None = None,
    aspect: float = 64.0,
    tol: float = 0.05,
    min_layers: int = 2,
    max_layers: int = 64,
) -> GPTConfig:
    """The shape (n_layer, d_model, n_head, d_ff) for a target non-embedding N, by the rule above.

    ``base`` supplies everything else (vocab_size, n_ctx, mlp, positions, experts, ...).
    Raises ``ValueError`` when no shape lands within ``tol``.
    """
    base = base or GPTConfig()
    if not n_params > 0:
        raise ValueError(f"target N must be positive, got {n_params}")
    best = None
    for n_layer in range(min_layers, max_layers + 1):
        for cfg, n, default_ff in _candidates_at_depth(n_params, n_layer, base, tol):
            key = (_score(cfg, default_ff, aspect), abs(n / n_params - 1))
            if best is None or key < best[0]:
                best = (key, cfg)
    if best is None:
        raise ValueError(
            f"no shape within {tol:.0%} of N = {n_params:.4g} "
            f"(depth {min_layers}..{max_layers}, widths multiple of {WIDTH_STEP})"
        )
    return best[1]


def shape_family(
    n_params: float, n_layers=(2, 4, 6, 8, 12, 16), base: GPTConfig | None = None, tol: float = 0.05
) -> list[GPTConfig]:
    """Shapes of the same non-embedding N (within ``tol``) at each depth in ``n_layers``, keeping
    d_ff at its default ratio where possible. Depths with no width within ``tol`` are skipped."""
    base = base or GPTConfig()
    family = []
    for n_layer in n_layers:
        cands = _candidates_at_depth(n_params, n_layer, base, tol)
        if cands:
            family.append(
                min(
                    cands,
                    key=lambda c: (2 * abs(math.log(c[0].ff / c[2])), abs(c[1] / n_params - 1)),
                )[0]
            )
    return family
