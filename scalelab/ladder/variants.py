"""Recipes in a ladder: ``[[variants]]``, each a name and overrides of the base run config.

Every variant trains the ladder's grid (the same target sizes, budgets and seeds) with its own
settings; its run ids start with its name (``swiglu-N24.7k-s0``) and the exported run table has a
``recipe`` column, which ``scalelab compare LADDER --by recipe`` groups by::

    [[variants]]
    name = "gelu"              # no overrides: the base run config

    [[variants]]
    name = "swiglu"
    model.mlp = "swiglu"       # any key of [model], [train], [eval], [checkpoint] ...
    hparams.lr_scale = 0.8     # ... the top-level device/precision/compile/threads, and lr_scale

    [[variants]]
    name = "mix31"
    data.mix = { shakespeare = 3, bible = 1 }   # another mixture of [data]'s training sources

What the grid sets per job cannot be overridden (the shape, ``[train]`` tokens, batch, lr and
branches, ``[hparams]`` other than ``lr_scale``, ``[grid]``), nor ``[eval] sets`` (every variant is
scored on the same sets). A variant's ``data`` is a re-weighting of the ladder's ``[data]``
(:mod:`scalelab.ladder.datamix`: the same tokenizer and held-out sets, so losses compare); another
corpus or tokenizer is refused. Each bad override is one error line (exit status 2).
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from scalelab.errors import InputError
from scalelab.ladder.datamix import check_override, variant_data
from scalelab.schema import Schema, validate

MAX_VARIANTS = 16
SECTIONS = ("model", "train", "eval", "checkpoint", "hparams")
SETTINGS = ("device", "precision", "compile", "threads")


class Variant(Schema):
    """One ``[[variants]]`` entry: a name and overrides of the base spec's sections."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.]+$")
    device: Optional[Any] = None
    precision: Optional[Any] = None
    compile: Optional[Any] = None
    threads: Optional[Any] = None
    model: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] = Field(default_factory=dict)
    checkpoint: dict[str, Any] = Field(default_factory=dict)
    hparams: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    grid: Optional[Any] = None

    def overrides(self) -> dict[str, Any]:
        """The overrides as a partial spec dict."""
        out: dict[str, Any] = {
            k: getattr(self, k) for k in SETTINGS if getattr(self, k) is not None
        }
        out.update({s: dict(getattr(self, s)) for s in SECTIONS if getattr(self, s)})
        return out


def _key_problem(spec, section: str, key: str, per_job: dict) -> Optional[str]:
    """Why ``section.key`` cannot be a variant's override, or None (``per_job``: the spec's
    ``SHAPE_KEYS`` and ``PER_JOB_TRAIN_KEYS``)."""
    SHAPE_KEYS, PER_JOB_TRAIN_KEYS = per_job["model"], per_job["train"]  # noqa: N806
    fields = type(getattr(spec, section)).model_fields
    if section == "model" and key in SHAPE_KEYS:
        return f"model.{key} is set per job by [grid] (sizes or shapes)"
    if section == "train" and key in PER_JOB_TRAIN_KEYS:
        hint = "; use hparams.lr_scale" if key == "lr" else ""
        return f"train.{key} is set per job by the grid ({PER_JOB_TRAIN_KEYS[key]}){hint}"
    if section == "eval" and key == "sets":
        return "eval.sets is the same for every variant (each is scored on the same sets)"
    if section == "hparams" and key in fields and key != "lr_scale":
        return (
            f"hparams.{key} sets the grid's batches or lr for every variant; only lr_scale varies"
        )
    if key not in fields:
        return f"unknown key {section}.{key}"
    if section == "hparams" and spec.hparams.lr is not None:
        return "hparams.lr_scale: the base spec gives a fixed [hparams] lr; give lr_scale instead"
    return None


def check(spec, source: str, per_job: dict) -> None:
    """Every problem of the spec's variants, one InputError line each; then each variant's spec is
    validated (bad values are lines naming the variant)."""
    variants = spec.variants
    if not variants:
        return
    problems: list[str] = []
    if len(variants) > MAX_VARIANTS:
        problems.append(f"{source}: [[variants]]: {len(variants)} variants, at most {MAX_VARIANTS}")
    seen: set[str] = set()
    for v in variants:
        where = f"{source}: [[variants]] {v.name}"
        if v.name in seen:
            problems.append(f"{where}: duplicate variant name {v.name!r}")
        seen.add(v.name)
        problems += check_override(v.data, where)
        if v.grid is not None:
            problems.append(f"{where}: [grid] is the same for every variant; leave grid out")
        for section in SECTIONS:
            for key in getattr(v, section):
                why = _key_problem(spec, section, key, per_job)
                if why:
                    problems.append(f"{where}: {why}")
    if problems:
        raise InputError(problems)
    for v in variants:
        variant_spec(spec, v, source)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def variant_spec(spec, v: Variant, source: str = "<ladder spec>"):
    """The spec one variant trains: the base with the variant's overrides and no variants."""
    raw = spec.model_dump(exclude_unset=True, exclude={"variants"})
    raw = _merge(raw, v.overrides())
    raw["base_dir"] = spec.base_dir
    return validate(type(spec), raw, f"{source} [[variants]] {v.name}")


def plan_variants(spec, source: str, flops_per_s, plan_one, data_plan, max_jobs: int):
    """Every variant's plan (``plan_one(spec, source, flops_per_s, data)``), merged: a variant with
    ``data.mix`` trains on its mixture of the base data (``data_plan(spec, source)``)."""
    where = f"{source} [[variants]] "
    base = data_plan(spec, source) if any(v.data for v in spec.variants) else None
    plans = []
    for v in spec.variants:
        data = variant_data(base, v.data, v.name, spec.out_dir, source) if v.data else None
        plans.append(plan_one(variant_spec(spec, v, source), where + v.name, flops_per_s, data))
    return merge_plans(spec, plans, max_jobs, source, base)


def merge_plans(spec, plans: list, max_jobs: int, source: str, data=None):
    """One plan of every variant's plan: jobs renamed ``<variant>-<run id>`` with their recipe.
    ``data``: the base ``[data]``'s plan (default: the first variant's); a variant whose data
    differs (``data.mix``) keeps its own in the plan's ``variant_data``."""
    jobs = []
    for v, p in zip(spec.variants, plans, strict=True):
        for j in p.jobs:
            rename(j, v.name)
            jobs.append(j)
    if len(jobs) > max_jobs:
        raise InputError(
            f"{source}: [[variants]]: {len(jobs)} training jobs (variants × sizes × budgets × "
            f"seeds), more than the {max_jobs} one ladder plans; split the grid or the variants"
        )
    first = plans[0]

    def union(attr: str) -> list[str]:
        lines: list[str] = []
        for v, p in zip(spec.variants, plans, strict=True):
            for line in getattr(p, attr):
                common = all(line in getattr(q, attr) for q in plans)
                text = line if common else f"variant {v.name}: {line}"
                if text not in lines:
                    lines.append(text)
        return lines

    data = first.data if data is None else data
    own = {v.name: p.data for v, p in zip(spec.variants, plans) if p.data != data}
    mixes = [
        f"variant {name}: trains on a mixture of [data]'s training split ("
        + ", ".join(f"{s} {w:.3g}" for s, w in d.mix["weights"].items())
        + f") in {d.prepare_dir}; evaluated on [data]'s sets ({', '.join(d.eval) or 'default'})"
        for name, d in own.items()
        if d.mix
    ]
    return type(first)(
        spec=spec,
        data=data,
        variant_data=own,
        jobs=jobs,
        notes=union("notes") + mixes,
        warnings=union("warnings"),
        flops_per_s=first.flops_per_s,
        flops_per_s_source=first.flops_per_s_source,
    )


def rename(job, variant: str) -> None:
    """``job`` (and its points and run config) as the variant's: ids prefixed, recipe set."""
    job.run_config = job.run_config.model_copy(update={"run_id": f"{variant}-{job.run_id}"})
    job.recipe = variant
    for p in job.points:
        p.run_id = f"{variant}-{p.run_id}"
        p.job = job.run_id
