"""Decoder-only transformer, exact parameter/FLOP counting, and shape rules (needs torch for ``GPT``)."""

from scalelab.model.counting import (ParamCounts, count_params, counts_from_model, forward_flops_per_token,
                                     full_training_flops_per_token, kaplan_approx, training_flops,
                                     training_flops_per_token)
from scalelab.model.gpt import GPT, GPTConfig
from scalelab.model.shapes import shape_family, shape_for

__all__ = ["GPT", "GPTConfig", "ParamCounts", "count_params", "counts_from_model", "forward_flops_per_token",
           "full_training_flops_per_token", "kaplan_approx", "shape_family", "shape_for", "training_flops",
           "training_flops_per_token"]
