"""A plan: budget -> compute-optimal (or inference-aware, or data-constrained) model, with time and
cost; and the converse: the time and cost of a given model, and how far it sits from a law's
frontier. Plain data in, plain data (dicts, the CLI's ``--json``) out, so a notebook does what
``scalelab plan`` does:

    >>> from scalelab.plan import planner
    >>> p = planner.plan("chinchilla-2022", flops=1e21)
    >>> round(p["recommended"]["tokens_per_param"], 1)
    50.1
    >>> c = planner.check_model(27e9, 14e12, device="H100", gpus=1000, mfu=0.4)
    >>> round(c["wall_days"], 1)
    66.3
"""

from __future__ import annotations

from typing import Optional, Union

from scalelab.errors import InputError
from scalelab.laws import Law, guards
from scalelab.laws.optimal import require_nd
from scalelab.laws.published import resolve
from scalelab.plan import budget as budgets
from scalelab.plan import catalog
from scalelab.plan.budget import HOURS_PER_DAY, SECONDS_PER_HOUR, Budget
from scalelab.plan.constrained import data_constrained_optimal
from scalelab.plan.inference import inference_optimal


def describe_law(law: Law, name: str) -> dict:
    return {
        "name": name,
        "form": law.form,
        "params": law.params,
        "formula": law.provenance.get("formula"),
        "citation": law.provenance.get("citation"),
        "conventions": law.conventions,
        "interval": law.samples is not None and len(law.samples) > 0,
    }


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


def make_plan(
    law: Law,
    b: Budget,
    law_name: str = "law",
    *,
    inference_tokens: Optional[float] = None,
    unique_tokens: Optional[float] = None,
) -> dict:
    """The compute-optimal allocation at the budget's C and, with ``inference_tokens`` or
    ``unique_tokens``, the inference-aware or data-constrained model; ``recommended`` is the model
    to train, with its loss, interval, training FLOPs, time and cost."""
    require_nd(law.law_form)
    if inference_tokens is not None and unique_tokens is not None:
        raise InputError(
            "give --inference-tokens or --unique-tokens, not both (combined plans are not "
            "supported)"
        )
    alloc = law.optimal(b.C)
    plan: dict = {
        "budget": b.to_dict(),
        "law": describe_law(law, law_name),
        "compute_optimal": alloc.to_dict(),
    }
    rec = {
        "kind": "compute-optimal",
        "N": alloc.N_opt,
        "D": alloc.D_opt,
        "tokens_per_param": alloc.tokens_per_param,
        "loss": alloc.loss,
        "loss_interval": alloc.ci.get("loss"),
        "level": alloc.level,
    }
    rec.update(_time_and_cost(b, b.C))
    if inference_tokens is not None:
        inf = inference_optimal(law, inference_tokens, C=b.C)
        plan["inference_aware"] = inf.to_dict()
        rec = {
            "kind": "inference-aware (Sardana et al. 2024)",
            "N": inf.N,
            "D": inf.D_train,
            "tokens_per_param": inf.tokens_per_param,
            "loss": inf.target_loss,
            "loss_interval": inf.loss_interval,
            "level": law.level if inf.loss_interval else None,
        }
        rec.update(_time_and_cost(b, inf.train_flops))
        rec["note"] = (
            f"trains on {inf.train_flops / b.C:.3g}x the budget's FLOPs to reach the same loss "
            "with a "
            f"{alloc.N_opt / inf.N:.3g}x smaller model; lifetime FLOPs {inf.saving:.1%} lower"
        )
    if unique_tokens is not None:
        con = data_constrained_optimal(law, b.C, unique_tokens)
        plan["data_constrained"] = con.to_dict()
        rec = {
            "kind": "data-constrained (Muennighoff et al. 2023)",
            "N": con.N,
            "D": con.D,
            "tokens_per_param": con.tokens_per_param,
            "epochs": con.epochs,
            "D_effective": con.D_effective,
            "loss": con.loss,
            "loss_interval": con.loss_interval,
            "level": law.level if con.loss_interval else None,
        }
        rec.update(_time_and_cost(b, b.C))
        rec["note"] = (
            f"{con.epochs:.3g} epochs over {con.unique_tokens:.3g} unique tokens (effective "
            f"{con.D_effective:.3g}); loss {con.loss_penalty:+.4f} nats above unlimited data"
        )
    plan["recommended"] = rec
    plan["warnings"] = guards.law_warnings(law) + guards.extrapolation_warnings(
        law, C=b.C, N=rec["N"], what="the plan"
    )
    return plan


LawSpec = Union[Law, str]
"""A law, or what ``--law`` accepts: a law JSON file or a published law's name."""
BUDGET_FLAGS = ("flops", "hours", "days", "money", "inference_tokens", "unique_tokens")


def _law(spec: LawSpec, name: Optional[str]) -> tuple[Law, str]:
    if isinstance(spec, Law):
        return spec, name or "law"
    return resolve(spec), name or str(spec)


def plan(
    law: Optional[LawSpec],
    *,
    flops: Optional[float] = None,
    gpus: Optional[float] = None,
    hours: Optional[float] = None,
    days: Optional[float] = None,
    money: Optional[float] = None,
    price: Optional[float] = None,
    device: Optional[str] = None,
    peak_flops: Optional[float] = None,
    mfu: Optional[float] = None,
    inference_tokens: Optional[float] = None,
    unique_tokens: Optional[float] = None,
    N: Optional[float] = None,
    D: Optional[float] = None,
    claim_days: Optional[float] = None,
    law_name: Optional[str] = None,
) -> dict:
    """What ``scalelab plan`` answers, as plain data.

    With a budget (``flops``; or ``gpus`` x ``hours``/``days`` on a ``device``; or ``money`` at a
    ``price``): the model to train under ``law`` (:func:`make_plan`; ``inference_tokens`` or
    ``unique_tokens`` for an inference-aware or data-constrained plan). With ``N`` or ``D`` (or
    ``claim_days``): the converse, :func:`check_model`. ``law`` is a :class:`Law`, a law file or a
    published law's name (``law_name`` labels it; default the name given).
    """
    given = {
        "flops": flops,
        "hours": hours,
        "days": days,
        "money": money,
        "inference_tokens": inference_tokens,
        "unique_tokens": unique_tokens,
    }
    if inference_tokens is not None and not inference_tokens >= 0:
        raise InputError(
            f"--inference-tokens: expected a non-negative number, got {inference_tokens:g}"
        )
    if N is not None or D is not None or claim_days is not None:
        if any(given[k] is not None for k in BUDGET_FLAGS):
            raise InputError(
                "the converse (--N, --D) takes no budget (--flops/--hours/--days/--money) "
                "and no --inference-tokens/--unique-tokens"
            )
        return check_model(
            N,
            D,
            law=law,
            law_name=law_name,
            device=device,
            peak_flops=peak_flops,
            mfu=mfu,
            gpus=gpus,
            price=price,
            claim_days=claim_days,
        )
    if not law:
        raise InputError(
            "--law: give a law file or a published law name (e.g. chinchilla-2022) to plan with"
        )
    fitted, name = _law(law, law_name)
    b = budgets.resolve(
        flops=flops,
        gpus=gpus,
        hours=hours,
        days=days,
        device=device,
        peak_flops=peak_flops,
        mfu=mfu,
        money=money,
        price=price,
    )
    return make_plan(
        fitted, b, name, inference_tokens=inference_tokens, unique_tokens=unique_tokens
    )


def check_model(
    N: Optional[float],
    D: Optional[float],
    *,
    law: Optional[LawSpec] = None,
    law_name: Optional[str] = None,
    device: Optional[str] = None,
    peak_flops: Optional[float] = None,
    mfu: Optional[float] = None,
    gpus: Optional[float] = None,
    price: Optional[float] = None,
    claim_days: Optional[float] = None,
) -> dict:
    """The converse: time and cost of N parameters on D tokens (:func:`budget.converse`), the MFU
    a claimed duration needs (``flags`` say when it is impossible), and with ``law`` the law's
    description and the model's distance from its compute-optimal frontier (``frontier``)."""
    result = budgets.converse(
        N,
        D,
        device=device,
        peak_flops=peak_flops,
        mfu=mfu,
        gpus=gpus,
        price=price,
        claimed_days=claim_days,
    ).to_dict()
    if law:
        fitted, name = _law(law, law_name)
        model = catalog.Model("given", result["N"], result["D"], {})
        result["law"] = describe_law(fitted, name)
        result["frontier"] = catalog.distance(model, fitted)
        result["warnings"] = guards.law_warnings(fitted) + guards.extrapolation_warnings(
            fitted, C=6.0 * result["N"] * result["D"], N=result["N"], what="the model"
        )
    return result
