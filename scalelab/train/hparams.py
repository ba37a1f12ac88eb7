"""Learning rate and batch size across model sizes: a documented power-law rule, overridable per
run.

We use the fits of DeepSeek LLM (Bi et al. 2024, arXiv:2401.02954, §3.1), which give the optimal
peak learning rate and batch size (in tokens) as power laws of the training compute C:

    lr(C)    = 0.3118 · C^-0.1250
    batch(C) = 0.2920 · C^0.3271   tokens

with C = 6·N·D (N non-embedding, active for MoE; DeepSeek count the attention term too, which we
leave out). The coefficients are DeepSeek's fitted values (η_opt = 0.3118 · C^-0.1250,
B_opt = 0.2920 · C^0.3271, B in tokens), checked against the paper's formulas as reproduced in
public hyper-parameter calculators. At a fixed number of tokens per parameter r = D/N (default 20,
Chinchilla) C = 6·r·N², so both are power laws of N: lr ∝ N^-0.25 and batch ∝ N^0.654. The batch
is rounded to a whole number of sequences (at least one). These fits come from 100M–3B models on
web text; at our tiny scales they are a starting point, and any run can override ``lr`` and
``batch_tokens``.
"""

from __future__ import annotations

LR_COEF, LR_EXP = 0.3118, -0.1250
BATCH_COEF, BATCH_EXP = 0.2920, 0.3271
DEFAULT_TOKENS_PER_PARAM = 20.0


def compute_of(n_params: float, n_tokens: float | None = None) -> float:
    d = DEFAULT_TOKENS_PER_PARAM * n_params if n_tokens is None else n_tokens
    return 6.0 * n_params * d


def lr_rule(n_params: float, n_tokens: float | None = None) -> float:
    """Peak learning rate for N non-embedding parameters trained on D tokens (D = 20·N if
    omitted)."""
    return LR_COEF * compute_of(n_params, n_tokens) ** LR_EXP


def batch_rule(n_params: float, n_tokens: float | None = None, n_ctx: int = 1) -> int:
    """Batch size in tokens, rounded to a whole number (>= 1) of ``n_ctx``-token sequences."""
    tokens = BATCH_COEF * compute_of(n_params, n_tokens) ** BATCH_EXP
    return max(1, round(tokens / n_ctx)) * n_ctx


LOGIT_BYTES_PER_ELEMENT = 12  # bf16 logits + fp32 copy + fp32 gradient, roughly
LOGIT_MEMORY_BUDGET = 1 << 29  # 512 MiB of logits per micro-batch


def default_micro_batch(
    sequences: int,
    n_ctx: int,
    max_tokens: int = 16384,
    max_seqs: int = 64,
    vocab_size: int | None = None,
) -> int:
    """Largest divisor of ``sequences`` with at most ``max_seqs`` sequences and ``max_tokens``
    tokens, and (given ``vocab_size``) at most ~512 MiB of logits per forward pass."""
    if vocab_size:
        max_tokens = min(max_tokens, LOGIT_MEMORY_BUDGET // (LOGIT_BYTES_PER_ELEMENT * vocab_size))
    cap = max(1, min(max_seqs, max_tokens // n_ctx))
    return max(d for d in range(1, min(cap, sequences) + 1) if sequences % d == 0)
