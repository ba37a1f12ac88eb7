"""A plan: budget -> compute-optimal (or inference-aware, or data-constrained) model, with time and cost.

    >>> from scalelab.laws import published
    >>> from scalelab.plan import budget, planner
    >>> p = planner.make_plan(published.get("chinchilla-2022"), budget.resolve(flops=1e21))
    >>> round(p["recommended"]["tokens_per_param"], 1)
    50.1
"""

from __future__ import annotations

from typing import Optional

from scalelab.errors import InputError
from scalelab.laws import Law
from scalelab.laws.optimal import require_nd
from scalelab.plan.budget import SECONDS_PER_HOUR, Budget, HOURS_PER_DAY
from scalelab.plan.constrained import data_constrained_optimal
from scalelab.plan.inference import inference_optimal


def describe_law(law: Law, name: str) -> dict:
    return {"name": name, "form": law.form, "params": law.params, "formula": law.provenance.get("formula"),
            "citation": law.provenance.get("citation"), "conventions": law.conventions,
            "interval": law.samples is not None and len(law.samples) > 0}


def _time_and_cost(b: Budget, train_flops: float) -> dict:
    out: dict = {"train_flops": train_flops}
    if b.device is None:
        return out
    gpu_hours = train_flops / (b.device["peak_flops"] * b.mfu) / SECONDS_PER_HOUR
    out["gpu_hours"] = gpu_hours
    if b.gpus:
        out["wall_hours"] = gpu_hours / b.gpus
        out["wall_days"] = out["wall_hours"] / HOURS_PER_DAY
    if b.price_per_gpu_hour is not None:
        out["cost"] = gpu_hours * b.price_per_gpu_hour
    return out


def make_plan(law: Law, b: Budget, law_name: str = "law", *, inference_tokens: Optional[float] = None,
              unique_tokens: Optional[float] = None) -> dict:
    """The compute-optimal allocation at the budget's C and, with ``inference_tokens`` or
    ``unique_tokens``, the inference-aware or data-constrained model; ``recommended`` is the model
    to train, with its loss, interval, training FLOPs, time and cost."""
    require_nd(law.law_form)
    if inference_tokens is not None and unique_tokens is not None:
        raise InputError("give --inference-tokens or --unique-tokens, not both (combined plans are not supported)")
    alloc = law.optimal(b.C)
    plan: dict = {"budget": b.to_dict(), "law": describe_law(law, law_name), "compute_optimal": alloc.to_dict()}
    rec = {"kind": "compute-optimal", "N": alloc.N_opt, "D": alloc.D_opt, "tokens_per_param": alloc.tokens_per_param,
           "loss": alloc.loss, "loss_interval": alloc.ci.get("loss"), "level": alloc.level}
    rec.update(_time_and_cost(b, b.C))
    if inference_tokens is not None:
        inf = inference_optimal(law, inference_tokens, C=b.C)
        plan["inference_aware"] = inf.to_dict()
        rec = {"kind": "inference-aware (Sardana et al. 2024)", "N": inf.N, "D": inf.D_train,
               "tokens_per_param": inf.tokens_per_param, "loss": inf.target_loss, "loss_interval": inf.loss_interval,
               "level": law.level if inf.loss_interval else None}
        rec.update(_time_and_cost(b, inf.train_flops))
        rec["note"] = (f"trains on {inf.train_flops / b.C:.3g}x the budget's FLOPs to reach the same loss with a "
                       f"{alloc.N_opt / inf.N:.3g}x smaller model; lifetime FLOPs {inf.saving:.1%} lower")
    if unique_tokens is not None:
        con = data_constrained_optimal(law, b.C, unique_tokens)
        plan["data_constrained"] = con.to_dict()
        rec = {"kind": "data-constrained (Muennighoff et al. 2023)", "N": con.N, "D": con.D,
               "tokens_per_param": con.tokens_per_param, "epochs": con.epochs, "D_effective": con.D_effective,
               "loss": con.loss, "loss_interval": con.loss_interval, "level": law.level if con.loss_interval else None}
        rec.update(_time_and_cost(b, b.C))
        rec["note"] = (f"{con.epochs:.3g} epochs over {con.unique_tokens:.3g} unique tokens (effective "
                       f"{con.D_effective:.3g}); loss {con.loss_penalty:+.4f} nats above unlimited data")
    plan["recommended"] = rec
    return plan
