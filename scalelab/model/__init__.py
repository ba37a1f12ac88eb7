"""Decoder-only transformer, exact parameter/FLOP counting, and shape rules.

Everything here but :class:`GPT` is torch-free; ``scalelab.model.GPT`` imports torch on first use.
"""

from scalelab.model.config import GPTConfig
from scalelab.model.counting import (
    ParamCounts,
    count_params,
    counts_from_model,
    forward_flops_per_token,
    full_training_flops_per_token,
    kaplan_approx,
    training_flops,
    training_flops_per_token,
)
from scalelab.model.shapes import shape_family, shape_for

__all__ = [
    "GPT",
    "GPTConfig",
    "ParamCounts",
    "count_params",
    "counts_from_model",
    "forward_flops_per_token",
    "full_training_flops_per_token",
    "kaplan_approx",
    "shape_family",
    "shape_for",
    "training_flops",
    "training_flops_per_token",
]


def __getattr__(name: str):
    if name == "GPT":  # the module needs torch: import it only when asked for
        from scalelab.model.gpt import GPT  # noqa: PLC0415

        return GPT
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
