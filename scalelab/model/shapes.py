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
MAX_D_MODEL = 32768
"""The widest model the shape rule considers (so the search is bounded: at most
``MAX_D_MODEL / WIDTH_STEP`` widths per depth, and fewer, see :func:`_width_window`)."""
MAX_LAYERS = 64
FF_RANGE = (0.75, 1.25)
"""How far d_ff may move off its default ratio to land on N."""


def head_size(d_model: int) -> int:
    return 64 if d_model >= 256 else 32


def heads_for(d_model: int) -> int:
    return max(1, d_model // head_size(d_model))


def _n_at(base: GPTConfig, n_layer: int, d: int, ff_ratio: float) -> int:
    """Non-embedding N at this depth and width with d_ff = ``ff_ratio`` × its default."""
    cfg = replace(base, n_layer=n_layer, d_model=d, n_head=1, d_ff=0)  # N needs no head count
    return count_params(replace(cfg, d_ff=max(1, int(ff_ratio * cfg.ff)))).non_embedding


def _width_window(n_params: float, n_layer: int, base: GPTConfig, tol: float) -> range:
    """The widths (multiples of WIDTH_STEP up to the old bound and MAX_D_MODEL) that can land
    within ``tol`` of N: N grows with the width, so a bisection finds the first width whose
    largest N (d_ff well above its range) reaches N·(1 - tol) and the last whose smallest N (d_ff
    well below) stays under N·(1 + tol). A superset of the candidates, found in O(log) counts."""
    d_max = min(int(math.sqrt(n_params / max(n_layer, 1) / 4)) + WIDTH_STEP, MAX_D_MODEL)
    k_max = d_max // WIDTH_STEP  # widths WIDTH_STEP * k, k = 1..k_max
    lo_ratio, hi_ratio = FF_RANGE[0] - 0.1, FF_RANGE[1] + 0.1  # slack for rounding d_ff

    def first(pred) -> int:  # the smallest k in 1..k_max + 1 with pred(k) (pred is monotone)
        a, b = 1, k_max + 1
        while a < b:
            mid = (a + b) // 2
            if pred(mid):
                b = mid
            else:
                a = mid + 1
        return a

    k_lo = first(lambda k: _n_at(base, n_layer, WIDTH_STEP * k, hi_ratio) >= n_params * (1 - tol))
    k_hi = first(lambda k: _n_at(base, n_layer, WIDTH_STEP * k, lo_ratio) > n_params * (1 + tol))
    return range(WIDTH_STEP * k_lo, WIDTH_STEP * k_hi, WIDTH_STEP)


def largest_n(base: GPTConfig | None = None, max_layers: int = MAX_LAYERS) -> int:
    """The largest non-embedding N the shape rule can give (``max_layers`` deep, MAX_D_MODEL
    wide, d_ff at the top of its range)."""
    return _n_at(base or GPTConfig(), max_layers, MAX_D_MODEL, FF_RANGE[1])


def _candidates_at_depth(n_params: float, n_layer: int, base: GPTConfig, tol: float):
    """(shape, N) pairs at this depth within tol of n_params, over the widths that can reach it."""
    out = []
    for d in _width_window(n_params, n_layer, base, tol):
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
            lo, hi = FF_RANGE
            if not (lo * default_ff <= ff <= hi * default_ff) or ff < WIDTH_STEP:
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
    max_layers: int = MAX_LAYERS,
) -> GPTConfig:
    """The shape (n_layer, d_model, n_head, d_ff) for a target non-embedding N, by the rule above.

    ``base`` supplies everything else (vocab_size, n_ctx, mlp, positions, experts, ...).
    Raises ``ValueError`` when no shape lands within ``tol``, or N is beyond the largest shape
    (:func:`largest_n`: ``max_layers`` deep, ``MAX_D_MODEL`` wide); the search is bounded.
    """
    base = base or GPTConfig()
    if not (n_params > 0 and math.isfinite(n_params)):
        raise ValueError(f"target N must be positive and finite, got {n_params}")
    top = largest_n(base, max_layers)
    if n_params > top * (1 + tol):
        raise ValueError(
            f"N = {n_params:.4g} is above the largest size the shape rule supports, about "
            f"{top:.3g} ({max_layers} layers, d_model {MAX_D_MODEL}); give explicit shapes"
        )
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
