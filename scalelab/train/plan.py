"""Planning one run: everything it needs resolved, and every impossible setting refused, before a
single file is written.

``plan_run(cfg)`` resolves shape, parameter counts, tokens, batch, micro-batches, steps, schedule,
eval steps and WSD cool-down branches. ``check_run(cfg)`` adds what the output folder, the data and
the number of processes must satisfy (a launcher calls it before it starts any process). Every
problem is an :class:`~scalelab.errors.InputError` line naming the config field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from scalelab.atomic import check_folder
from scalelab.errors import InputError
from scalelab.model.config import GPTConfig
from scalelab.model.counting import ParamCounts, count_params
from scalelab.model.shapes import shape_for
from scalelab.train import distributed, hparams
from scalelab.train.checkpoint import load_checkpoint
from scalelab.train.config import RunConfig
from scalelab.train.schedule import Schedule, log_spaced_steps
from scalelab.train.tokens import open_data

CHECKPOINT = "checkpoint.pt"
SUMMARY = "summary.json"
MAX_STEPS = 10**12
"""The longest run planned, in optimiser steps: a longer one is a mistake (it would never end)."""


@dataclass
class Branch:
    run_id: str
    tokens: int
    steps: int
    start: int  # the step at which its cool-down leaves the main run's stable phase


@dataclass
class Plan:
    gpt: GPTConfig
    counts: ParamCounts
    n_params: int  # active non-embedding N (FLOPs and C use it)
    tokens: int  # D actually trained = total_steps * batch_tokens
    batch_tokens: int
    micro_batch: int
    accum: int
    total_steps: int
    schedule: Schedule
    eval_steps: list[int]
    branches: list[Branch] = field(default_factory=list)
    device: str = "cpu"
    precision: str = "fp32"
    notes: list[str] = field(default_factory=list)


def bf16_supported(device: str) -> bool:
    if device == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _shape(cfg: RunConfig, source: str, notes: list[str]) -> GPTConfig:
    """The model's shape: given, or chosen by the shape rule for ``[model] n_params``."""
    m = cfg.model
    if m.n_params is None:
        try:
            return m.gpt_config()
        except ValueError as exc:
            raise InputError([f"{source}: [model] {p}" for p in str(exc).split("; ")]) from None
    try:
        gpt = shape_for(m.n_params, m.gpt_config(d_ff=0), aspect=m.aspect)
    except ValueError as exc:
        raise InputError(f"{source}: [model] n_params: {exc}") from None
    if m.d_ff:
        notes.append("[model] d_ff ignored: the shape rule chooses d_ff when n_params is given")
    notes.append(
        f"shape for N={m.n_params:.4g}: n_layer={gpt.n_layer}, d_model={gpt.d_model}, "
        f"n_head={gpt.n_head}, d_ff={gpt.ff}"
    )
    return gpt


def _branches(
    cfg: RunConfig, sched: Schedule, n: int, batch_tokens: int, warmup: int, source: str
) -> list[Branch]:
    """The WSD cool-down branches the config asks for, each shorter than the run."""
    t = cfg.train
    branches: list[Branch] = []
    for r in t.branch_tokens_per_param:
        if r * n > MAX_STEPS * batch_tokens:
            raise InputError(
                f"{source}: [train] branch_tokens_per_param = {r:g} gives more than "
                f"{MAX_STEPS:.0e} steps; a branch must be shorter than the run"
            )
    wanted = list(t.branch_tokens) + [round(r * n) for r in t.branch_tokens_per_param]
    for tok in sorted(set(wanted)):
        steps = round(tok / batch_tokens)
        b_sched = sched.branch(steps)
        if steps >= sched.total_steps or steps < 1:
            raise InputError(
                f"{source}: [train] branch at {tok} tokens ({steps} steps) must be shorter than "
                f"the run ({sched.total_steps} steps of {batch_tokens} tokens)"
            )
        if b_sched.decay_start < warmup or b_sched.decay_start < 1:
            raise InputError(
                f"{source}: [train] branch at {tok} tokens: its cool-down would start at step "
                f"{b_sched.decay_start}, inside the warmup ({warmup} steps)"
            )
        run_id = f"{cfg.run_id}-D{steps * batch_tokens}"
        if any(b.steps == steps for b in branches):
            continue
        tokens = steps * batch_tokens
        branches.append(
            Branch(run_id=run_id, tokens=tokens, steps=steps, start=b_sched.decay_start)
        )
    return branches


def _steps(
    cfg: RunConfig, d_target: float, batch_tokens: int, n_ctx: int, rule: bool, source: str
) -> int:
    """The run's optimiser steps: ``d_target`` in whole batches; a budget below one batch (which
    would silently train a whole batch) or above MAX_STEPS steps is an error."""
    t = cfg.train
    what = (
        f"[train] tokens = {t.tokens:,}"
        if t.tokens is not None
        else f"[train] tokens_per_param = {t.tokens_per_param or hparams.DEFAULT_TOKENS_PER_PARAM:g}"
        f" (D = {d_target:.4g} tokens)"
    )
    if not d_target <= MAX_STEPS * batch_tokens:  # also catches an overflow to inf
        raise InputError(
            f"{source}: run {cfg.run_id}: {what} is more than {MAX_STEPS:.0e} steps of "
            f"{batch_tokens} tokens; a run of more than {MAX_STEPS:.0e} steps is refused"
        )
    if d_target < batch_tokens:
        how = (
            f"set a smaller [train] batch_tokens (a multiple of n_ctx = {n_ctx}, at least {n_ctx})"
            if batch_tokens > n_ctx
            else "a shorter [model] n_ctx"
        )
        given = "the rule's" if rule else "[train]"
        raise InputError(
            f"{source}: {what} is less than one batch ({given} batch_tokens = {batch_tokens}): "
            f"the minimum is {batch_tokens} tokens; raise it, or {how}"
        )
    return round(d_target / batch_tokens)


def check_out_dir(out: Path, where: str) -> None:
    """``out`` (a run's folder) can be made and written: not a file, not under a file, writable.
    ``where`` names the setting in the error line (``CONFIG: out_dir`` or ``--out``)."""
    try:
        check_folder(out, "run folder")
    except InputError as exc:
        raise InputError([f"{where}: {p}" for p in exc.problems]) from None


def _device_and_precision(cfg: RunConfig, source: str) -> tuple[str, str]:
    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{source}: device = 'cuda' but no CUDA device is available")
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if bf16_supported(device) else "fp32"
    elif precision == "bf16" and not bf16_supported(device):
        raise InputError(
            f"{source}: precision = 'bf16' is not supported on this {device}; use 'fp32' or 'auto'"
        )
    return device, precision


def plan_run(cfg: RunConfig, source: str = "<config>") -> Plan:
    """Resolve a config into a concrete plan; every impossible setting is an InputError line."""
    t = cfg.train
    notes: list[str] = []
    gpt = _shape(cfg, source, notes)
    counts = count_params(gpt)
    n = counts.active_non_embedding

    if t.tokens is not None:
        d_target = t.tokens
    else:
        d_target = (t.tokens_per_param or hparams.DEFAULT_TOKENS_PER_PARAM) * n
    n_ctx = gpt.n_ctx
    if t.batch_tokens is not None:
        if t.batch_tokens % n_ctx:
            raise InputError(
                f"{source}: [train] batch_tokens = {t.batch_tokens} cannot be split into whole "
                f"sequences of n_ctx = {n_ctx} tokens; use a positive multiple of {n_ctx}"
            )
        batch_tokens = t.batch_tokens
    else:
        batch_tokens = hparams.batch_rule(n, d_target, n_ctx)
        notes.append(f"batch_tokens = {batch_tokens} from the power-law rule (hparams.batch_rule)")
    sequences = batch_tokens // n_ctx
    if t.micro_batch is not None:
        if sequences % t.micro_batch:
            raise InputError(
                f"{source}: [train] micro_batch = {t.micro_batch} does not divide the batch of "
                f"{sequences} sequences (batch_tokens {batch_tokens} / n_ctx {n_ctx})"
            )
        micro = t.micro_batch
    else:
        micro = hparams.default_micro_batch(sequences, n_ctx, vocab_size=gpt.vocab_size)
    total_steps = _steps(cfg, d_target, batch_tokens, n_ctx, t.batch_tokens is None, source)
    if total_steps * batch_tokens != d_target:
        notes.append(
            f"D = {total_steps} steps x {batch_tokens} tokens = {total_steps * batch_tokens:,} "
            f"tokens trained (the target {d_target:,.0f} rounded to whole batches)"
        )
    lr = t.lr if t.lr is not None else hparams.lr_rule(n, total_steps * batch_tokens)
    if t.lr is None:
        notes.append(f"lr = {lr:.3g} from the power-law rule (hparams.lr_rule)")
    if t.warmup_tokens is not None:
        warmup = t.warmup_tokens // batch_tokens
    else:
        warmup = round(t.warmup_frac * total_steps)
    warmup = min(warmup, total_steps - 1)
    sched = Schedule(
        kind=t.schedule,
        peak_lr=lr,
        total_steps=total_steps,
        warmup_steps=warmup,
        min_lr_ratio=t.min_lr_ratio,
        cooldown_frac=t.cooldown_frac,
        cooldown_shape=t.cooldown_shape,
    )
    branches = _branches(cfg, sched, n, batch_tokens, warmup, source)
    device, precision = _device_and_precision(cfg, source)
    return Plan(
        gpt=gpt,
        counts=counts,
        n_params=n,
        tokens=total_steps * batch_tokens,
        batch_tokens=batch_tokens,
        micro_batch=micro,
        accum=sequences // micro,
        total_steps=total_steps,
        schedule=sched,
        eval_steps=log_spaced_steps(total_steps, cfg.eval.points),
        branches=branches,
        device=device,
        precision=precision,
        notes=notes,
    )


def config_identity(cfg: RunConfig) -> dict:
    """The config fields that must match for a resume (output folder and thread count may
    change)."""
    d = cfg.model_dump(mode="json")
    d.pop("out_dir", None)
    d.pop("threads", None)
    return d


def resume_state(cfg: RunConfig, out: Path, resume: bool, mmap: bool = False) -> dict | None:
    """The checkpoint to resume from (None for a fresh run); InputError when ``out`` does not
    fit."""
    ckpt_path = out / CHECKPOINT
    state = None
    if resume:
        if not ckpt_path.is_file():
            raise InputError(f"{out}: no {CHECKPOINT} to resume from")
        try:
            state = load_checkpoint(ckpt_path, mmap=mmap)
        except Exception as exc:  # a checkpoint we cannot read is bad input, not a crash
            raise InputError(
                f"{ckpt_path}: cannot be read as a scalelab checkpoint: {exc}"
            ) from None
        if state["config"] != config_identity(cfg):
            raise InputError(
                f"{ckpt_path}: was written by a different config; resume with the same config "
                "(only out_dir and threads may differ)"
            )
    elif ckpt_path.exists() or (out / SUMMARY).exists():
        raise InputError(
            f"{out}: already holds a run; pass --resume to continue it or choose another out_dir"
        )
    return state


def out_folder(cfg: RunConfig, out_dir: str | Path | None, source: str) -> Path:
    """The run's output folder (``out_dir`` if given, else the config's), checked writable."""
    out = Path(out_dir if out_dir is not None else cfg.out_dir).expanduser()
    check_out_dir(out, "out_dir" if out_dir is not None else f"{source}: out_dir")
    return out


def check_run(
    cfg: RunConfig,
    *,
    resume: bool = False,
    out_dir: str | Path | None = None,
    source: str = "<config>",
    world_size: int = 1,
) -> Plan:
    """Everything a run checks before it writes, for ``world_size`` processes, without training
    or writing (a launcher calls it before it starts the processes); returns the plan."""
    plan = plan_run(cfg, source)
    distributed.check_split(plan, world_size, source)
    out = out_folder(cfg, out_dir, source)
    resume_state(cfg, out, resume, mmap=True)
    open_data(cfg, source)
    return plan
