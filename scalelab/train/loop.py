"""The training loop: plan a run from its config, train it, evaluate it, record it, survive kills.

``plan_run(cfg)`` resolves everything a run needs (shape, counts, tokens, batch, steps, schedule,
eval steps, cool-down branches) and rejects impossible settings with an InputError before anything
is written. ``train(cfg)`` runs it:

* AdamW (decoupled weight decay on matrices and embeddings, none on norm weights), gradient
  clipping, batch size in tokens reached by gradient accumulation over micro-batches.
* bf16 autocast (CUDA, and CPUs with bf16 support) or fp32; ``torch.set_flush_denormal(True)`` on
  CPU; optional ``torch.compile``.
* Held-out loss on each eval set's fixed windows at log-spaced steps (learning curves for L(N,S)).
* Divergence (non-finite loss, or a training loss above ``divergence_factor`` × its running minimum
  after warmup) ends the run with status ``diverged``.
* WSD cool-down branches: when the run reaches the step where a shorter budget's cool-down would
  start, the state is copied, the cool-down run on the same batches, the branch evaluated and
  recorded as its own run ``<run_id>-D<tokens>``, and the main run continues from the copy.
* Atomic checkpoints every K steps and on SIGTERM/SIGINT; ``resume=True`` continues from the last
  one and reproduces the uninterrupted run bitwise on CPU (batches and learning rates are pure
  functions of the step; model, optimiser and RNG states are restored exactly).
* Several processes (torchrun, DDP; :mod:`scalelab.train.distributed`): when ``torch.distributed``
  is initialised, or torchrun's ``WORLD_SIZE`` > 1, each rank takes its share of every step's
  micro-batches and the gradient is averaged across ranks, giving the single-process step; only
  rank 0 writes files. :mod:`scalelab.train.launch` starts such a run.

Outputs in ``out_dir``: ``config.json``, ``runs.csv`` (run-table rows, DESIGN.md §3),
``train_log.csv`` (per-step training loss, lr, grad norm), ``summary.json``, ``checkpoint.pt``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from scalelab import atomic
from scalelab.errors import InputError
from scalelab.model.counting import ParamCounts, count_params, training_flops_per_token, full_training_flops_per_token
from scalelab.model.gpt import GPT, GPTConfig
from scalelab.model.shapes import shape_for
from scalelab.train import distributed, hparams
from scalelab.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from scalelab.train.config import RunConfig
from scalelab.train.schedule import Schedule, log_spaced_steps
from scalelab.train.tokens import TokenSource, eval_windows, open_data

CHECKPOINT = "checkpoint.pt"
SUMMARY = "summary.json"


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
    n_params: int            # active non-embedding N (FLOPs and C use it)
    tokens: int              # D actually trained = total_steps * batch_tokens
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


def plan_run(cfg: RunConfig, source: str = "<config>") -> Plan:
    """Resolve a config into a concrete plan; every impossible setting is an InputError line."""
    m, t = cfg.model, cfg.train
    notes: list[str] = []
    base = dict(vocab_size=m.vocab_size, n_ctx=m.n_ctx, d_ff=m.d_ff, mlp=m.mlp, positions=m.positions,
                tie_embeddings=m.tie_embeddings, n_expert=m.n_expert, top_k=m.top_k)
    if m.n_params is not None:
        try:
            gpt = shape_for(m.n_params, GPTConfig(**{**base, "d_ff": 0}), aspect=m.aspect)
        except ValueError as exc:
            raise InputError(f"{source}: [model] n_params: {exc}") from None
        if m.d_ff:
            notes.append("[model] d_ff ignored: the shape rule chooses d_ff when n_params is given")
        notes.append(f"shape for N={m.n_params:.4g}: n_layer={gpt.n_layer}, d_model={gpt.d_model}, "
                     f"n_head={gpt.n_head}, d_ff={gpt.ff}")
    else:
        kwargs = {**base, "n_layer": m.n_layer, "d_model": m.d_model, "n_head": m.n_head}
        try:
            gpt = GPTConfig(**kwargs)
        except ValueError as exc:
            raise InputError([f"{source}: [model] {p}" for p in str(exc).split("; ")]) from None
    counts = count_params(gpt)
    n = counts.active_non_embedding

    if t.tokens is not None:
        d_target = t.tokens
    else:
        d_target = (t.tokens_per_param or hparams.DEFAULT_TOKENS_PER_PARAM) * n
    n_ctx = gpt.n_ctx
    if t.batch_tokens is not None:
        if t.batch_tokens % n_ctx:
            raise InputError(f"{source}: [train] batch_tokens = {t.batch_tokens} cannot be split into whole "
                             f"sequences of n_ctx = {n_ctx} tokens; use a positive multiple of {n_ctx}")
        batch_tokens = t.batch_tokens
    else:
        batch_tokens = hparams.batch_rule(n, d_target, n_ctx)
        notes.append(f"batch_tokens = {batch_tokens} from the power-law rule (hparams.batch_rule)")
    sequences = batch_tokens // n_ctx
    if t.micro_batch is not None:
        if sequences % t.micro_batch:
            raise InputError(f"{source}: [train] micro_batch = {t.micro_batch} does not divide the batch of "
                             f"{sequences} sequences (batch_tokens {batch_tokens} / n_ctx {n_ctx})")
        micro = t.micro_batch
    else:
        micro = hparams.default_micro_batch(sequences, n_ctx, vocab_size=gpt.vocab_size)
    total_steps = max(1, round(d_target / batch_tokens))
    lr = t.lr if t.lr is not None else hparams.lr_rule(n, total_steps * batch_tokens)
    if t.lr is None:
        notes.append(f"lr = {lr:.3g} from the power-law rule (hparams.lr_rule)")
    warmup = (t.warmup_tokens // batch_tokens) if t.warmup_tokens is not None else round(t.warmup_frac * total_steps)
    warmup = min(warmup, total_steps - 1)
    sched = Schedule(kind=t.schedule, peak_lr=lr, total_steps=total_steps, warmup_steps=warmup,
                     min_lr_ratio=t.min_lr_ratio, cooldown_frac=t.cooldown_frac, cooldown_shape=t.cooldown_shape)

    branches: list[Branch] = []
    wanted = list(t.branch_tokens) + [round(r * n) for r in t.branch_tokens_per_param]
    for tok in sorted(set(wanted)):
        steps = round(tok / batch_tokens)
        b_sched = sched.branch(steps)
        if steps >= total_steps or steps < 1:
            raise InputError(f"{source}: [train] branch at {tok} tokens ({steps} steps) must be shorter than the "
                             f"run ({total_steps} steps of {batch_tokens} tokens)")
        if b_sched.decay_start < warmup or b_sched.decay_start < 1:
            raise InputError(f"{source}: [train] branch at {tok} tokens: its cool-down would start at step "
                             f"{b_sched.decay_start}, inside the warmup ({warmup} steps)")
        run_id = f"{cfg.run_id}-D{steps * batch_tokens}"
        if any(b.steps == steps for b in branches):
            continue
        branches.append(Branch(run_id=run_id, tokens=steps * batch_tokens, steps=steps, start=b_sched.decay_start))

    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{source}: device = 'cuda' but no CUDA device is available")
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if bf16_supported(device) else "fp32"
    elif precision == "bf16" and not bf16_supported(device):
        raise InputError(f"{source}: precision = 'bf16' is not supported on this {device}; use 'fp32' or 'auto'")

    return Plan(gpt=gpt, counts=counts, n_params=n, tokens=total_steps * batch_tokens, batch_tokens=batch_tokens,
                micro_batch=micro, accum=sequences // micro, total_steps=total_steps, schedule=sched,
                eval_steps=log_spaced_steps(total_steps, cfg.eval.points), branches=branches,
                device=device, precision=precision, notes=notes)


class _StopFlag:
    """SIGTERM/SIGINT set a flag the loop checks after each step (then checkpoints and stops)."""

    def __init__(self):
        self.signum: Optional[int] = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _make_optimizer(model, cfg: RunConfig, lr: float, device: str):
    t = cfg.train
    kwargs = dict(lr=lr, betas=(t.beta1, t.beta2), eps=t.eps)
    try:
        return torch.optim.AdamW(_param_groups(model, t.weight_decay), fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(_param_groups(model, t.weight_decay), foreach=True, **kwargs)


def _config_identity(cfg: RunConfig) -> dict:
    """The config fields that must match for a resume (output folder and thread count may change)."""
    d = cfg.model_dump(mode="json")
    d.pop("out_dir", None)
    d.pop("threads", None)
    return d


def _finite_or_none(x: float):
    return x if x is not None and math.isfinite(x) else None


def _resume_state(cfg: RunConfig, out: Path, resume: bool, mmap: bool = False) -> dict | None:
    """The checkpoint to resume from (None for a fresh run); InputError when ``out`` does not fit."""
    ckpt_path = out / CHECKPOINT
    state = None
    if resume:
        if not ckpt_path.is_file():
            raise InputError(f"{out}: no {CHECKPOINT} to resume from")
        try:
            state = load_checkpoint(ckpt_path, mmap=mmap)
        except Exception as exc:  # a checkpoint we cannot read is bad input, not a crash
            raise InputError(f"{ckpt_path}: cannot be read as a scalelab checkpoint: {exc}") from None
        if state["config"] != _config_identity(cfg):
            raise InputError(f"{ckpt_path}: was written by a different config; resume with the same config "
                             "(only out_dir and threads may differ)")
    elif ckpt_path.exists() or (out / SUMMARY).exists():
        raise InputError(f"{out}: already holds a run; pass --resume to continue it or choose another out_dir")
    return state


def check_run(cfg: RunConfig, *, resume: bool = False, out_dir: str | Path | None = None,
              source: str = "<config>", world_size: int = 1) -> Plan:
    """Everything :func:`train` checks before it writes, for ``world_size`` processes, without
    training or writing (a launcher calls it before it starts the processes); returns the plan."""
    plan = plan_run(cfg, source)
    distributed.check_split(plan, world_size, source)
    _resume_state(cfg, Path(out_dir if out_dir is not None else cfg.out_dir), resume, mmap=True)
    open_data(cfg, source)
    return plan


def train(cfg: RunConfig, *, resume: bool = False, out_dir: str | Path | None = None,
          source: str = "<config>", log: Callable[[str], None] | None = None,
          tokens: TokenSource | None = None, eval_sets: dict | None = None,
          on_step: Callable[[int, int, float, float], None] | None = None) -> dict:
    """Train (or resume) the run described by ``cfg``; return its summary (also written to disk).

    ``log`` gets a progress line about every 10 s; ``on_step(step, total_steps, loss, tokens_per_s)``,
    if given, is called after every optimiser step (progress bars; keep it cheap).

    ``tokens`` and ``eval_sets`` ({name: 1-D token array}) replace the config's ``[data]`` when given,
    which is how another data pipeline plugs in (any :class:`TokenSource`).

    Inside a torchrun (or an initialised ``torch.distributed`` group of several processes) every
    process calls this; they train one run data-parallel and only rank 0 writes or logs (see
    :mod:`scalelab.train.distributed`). Every process returns the same summary.
    """
    log = log or (lambda msg: None)
    plan = plan_run(cfg, source)
    distributed.check_split(plan, distributed.world_size(), source)
    out = Path(out_dir if out_dir is not None else cfg.out_dir)  # relative to the working directory
    ckpt_path = out / CHECKPOINT
    state = _resume_state(cfg, out, resume)
    if tokens is None or eval_sets is None:
        default_tokens, default_evals = open_data(cfg, source)
        tokens = tokens if tokens is not None else default_tokens
        eval_sets = eval_sets if eval_sets is not None else default_evals
    source_tokens = tokens
    windows = {}
    for name, arr in eval_sets.items():
        windows[name] = eval_windows(arr, cfg.eval.tokens, plan.gpt.n_ctx)

    # ---- set up (everything validated; from here on we write) ----
    ctx = distributed.setup(plan.device)  # None for a single process
    rank, world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
    writer = rank == 0  # only rank 0 writes files and logs
    if not writer:
        log = (lambda msg: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = ctx.device(plan.device) if ctx is not None else torch.device(plan.device)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    torch.manual_seed(cfg.seed)
    raw_model = GPT(plan.gpt).to(device)
    model = torch.compile(raw_model) if cfg.compile else raw_model
    opt = _make_optimizer(raw_model, cfg, plan.schedule.peak_lr, plan.device)
    params = [p for p in raw_model.parameters()]
    moe = plan.gpt.n_expert >= 2
    autocast = (lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)) if plan.precision == "bf16" \
        else contextlib.nullcontext
    rows: list[dict] = []
    train_log: list[dict] = []
    branches_done: list[dict] = []
    step = 0
    running_min = math.inf
    status = "running"
    resumed_from = None
    if state is not None:
        raw_model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        step, rows, train_log = state["step"], state["rows"], state["train_log"]
        branches_done, running_min = state["branches_done"], state["running_min"]
        resumed_from = step
        log(f"resumed {cfg.run_id} at step {step}/{plan.total_steps}")
    # DDP (several processes): the training forward pass goes through it; evaluation uses the model
    ddp = ctx.wrap(raw_model, device, find_unused=moe) if ctx is not None else None
    fwd = model if ddp is None else (torch.compile(ddp) if cfg.compile else ddp)
    if writer:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(f".{CHECKPOINT}.*.tmp"):  # left by a kill in the middle of a checkpoint write
            stale.unlink(missing_ok=True)
        atomic.write_text(out / "config.json", cfg.to_json())

    def common(run_id: str) -> dict:
        return {"run_id": run_id, "N": plan.counts.non_embedding, "N_total": plan.counts.total,
                "N_active": plan.n_params, "tokens_per_step": plan.batch_tokens, "n_layer": plan.gpt.n_layer,
                "d_model": plan.gpt.d_model, "n_head": plan.gpt.n_head, "n_ctx": plan.gpt.n_ctx,
                "lr": plan.schedule.peak_lr, "seed": cfg.seed, "flops_per_token": training_flops_per_token(plan.gpt)}

    eval_batch = min(cfg.eval.batch, max(1, hparams.LOGIT_MEMORY_BUDGET // (
        hparams.LOGIT_BYTES_PER_ELEMENT * plan.gpt.n_ctx * plan.gpt.vocab_size)))

    def evaluate() -> dict[str, float]:
        raw_model.eval()
        losses = {}
        with torch.no_grad():
            for name, win in windows.items():
                total, count = 0.0, 0
                for i in range(0, len(win), eval_batch):
                    chunk = win[i:i + eval_batch].to(device)
                    with autocast():
                        logits = model(chunk[:, :-1])
                    loss = torch.nn.functional.cross_entropy(
                        logits.float().reshape(-1, logits.size(-1)), chunk[:, 1:].reshape(-1), reduction="sum")
                    total += float(loss)
                    count += chunk[:, 1:].numel()
                losses[name] = total / count
        raw_model.train()
        return losses

    def update(at_step: int, lr: float) -> tuple[float, float]:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        acc = torch.zeros((), device=device)
        # this rank's micro-batches (all of them in one process); DDP averages the ranks' gradients,
        # so dividing by the local count gives the mean over all plan.accum micro-batches
        local = range(rank, plan.accum, world)
        for i, micro in enumerate(local):
            batch = source_tokens.batch(at_step, micro, plan.micro_batch, plan.gpt.n_ctx).to(device, non_blocking=True)
            with ddp.no_sync() if ddp is not None and i < len(local) - 1 else contextlib.nullcontext():
                with autocast():
                    _, loss = fwd(batch[:, :-1], batch[:, 1:])
                    objective = loss + cfg.model.moe_aux_weight * raw_model.aux_loss() if moe else loss
                (objective / len(local)).backward()
            acc += loss.detach()
        if ctx is not None:
            ctx.sum_(acc)  # the sum of all plan.accum micro-batch losses, on every rank
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip) if cfg.train.grad_clip > 0 else torch.zeros(())
        opt.step()
        return float(acc) / plan.accum, float(norm)

    def eval_rows(run_id: str, at_step: int, losses: dict[str, float], extra: dict) -> list[dict]:
        tokens = at_step * plan.batch_tokens
        return [{**common(run_id), "D": tokens, "C": 6.0 * plan.n_params * tokens, "loss": loss, "step": at_step,
                 "eval_set": name, **extra} for name, loss in losses.items()]

    def run_branch(branch: Branch) -> None:
        snap_model = copy.deepcopy(raw_model.state_dict())
        snap_opt = copy.deepcopy(opt.state_dict())
        b_sched = plan.schedule.branch(branch.steps)
        last = math.nan
        for s in range(branch.start, branch.steps):
            last, _ = update(s, b_sched.lr(s))
        losses = evaluate()
        ok = all(math.isfinite(v) for v in losses.values()) and math.isfinite(last)
        rows.extend(eval_rows(branch.run_id, branch.steps, losses,
                              {"schedule": "wsd-cooldown", "branch_of": cfg.run_id,
                               "status": "done" if ok else "diverged"}))
        branches_done.append({"run_id": branch.run_id, "D": branch.tokens, "steps": branch.steps,
                              "cooldown_from_step": branch.start, "loss": losses, "train_loss": last})
        raw_model.load_state_dict(snap_model)
        opt.load_state_dict(snap_opt)
        log(f"branch {branch.run_id}: D={branch.tokens} " + " ".join(f"{k}={v:.4f}" for k, v in losses.items()))

    def checkpoint() -> None:
        if writer:
            save_checkpoint(ckpt_path, {"config": _config_identity(cfg), "step": step, "model": raw_model.state_dict(),
                                        "optimizer": opt.state_dict(), "rng": rng_state(), "rows": rows,
                                        "data_position": {"step": step, "batches": "pure function of (seed, step, micro)"},
                                        "train_log": train_log, "branches_done": branches_done,
                                        "running_min": running_min})
        if ctx is not None:
            ctx.barrier()

    t0 = time.perf_counter()
    start_step = step
    last_log = t0
    stop_signal = None
    with _StopFlag() as stop, ctx if ctx is not None else contextlib.nullcontext():
        while step < plan.total_steps:
            done_ids = {b["run_id"] for b in branches_done}
            for branch in plan.branches:
                if branch.start == step and branch.run_id not in done_ids:
                    run_branch(branch)
            lr = plan.schedule.lr(step)
            loss, norm = update(step, lr)
            step += 1
            train_log.append({"step": step, "tokens": step * plan.batch_tokens, "lr": lr, "loss": loss,
                              "grad_norm": norm})
            if not math.isfinite(loss) or (step > plan.schedule.warmup_steps and math.isfinite(running_min)
                                           and loss > cfg.train.divergence_factor * running_min):
                status = "diverged"
                log(f"diverged at step {step}: training loss {loss:.4g} (running minimum {running_min:.4g})")
                break
            running_min = min(running_min, loss)
            if step in plan.eval_steps:
                losses = evaluate()
                rows.extend(eval_rows(cfg.run_id, step, losses, {"schedule": plan.schedule.kind}))
            now = time.perf_counter()
            if on_step is not None:
                on_step(step, plan.total_steps, loss, (step - start_step) * plan.batch_tokens / max(now - t0, 1e-9))
            if now - last_log > 10 or step == plan.total_steps:
                tps = (step - start_step) * plan.batch_tokens / (now - t0)
                log(f"step {step}/{plan.total_steps} loss {loss:.4f} lr {lr:.3g} {tps:,.0f} tok/s")
                last_log = now
            signum = stop.signum if ctx is None else (ctx.max(stop.signum or 0, device) or None)  # all ranks agree
            if signum is not None:
                stop_signal = signum
                status = "interrupted"
                break
            if step % cfg.checkpoint.every_steps == 0 and step < plan.total_steps:
                checkpoint()
        if status == "running":
            status = "done"
        wall = time.perf_counter() - t0
        if status in ("done", "interrupted"):
            checkpoint()  # the final or the interrupted state
        for row in rows:
            if row.get("branch_of") is None:
                row["status"] = status
            else:
                row.setdefault("status", "done")
        if writer:
            _write_records(out, rows, train_log)
        trained = step - start_step
        tps = trained * plan.batch_tokens / wall if wall > 0 else None
        finals = {}
        for row in rows:
            if row["run_id"] == cfg.run_id:
                finals[row["eval_set"]] = row["loss"]
        summary = {
            "run_id": cfg.run_id, "status": status, "step": step, "total_steps": plan.total_steps,
            "signal": stop_signal, "resumed_from_step": resumed_from,
            "N": plan.counts.non_embedding, "N_active": plan.n_params, "N_total": plan.counts.total,
            "params": plan.counts.to_dict(), "model": plan.gpt.to_dict(),
            "D": step * plan.batch_tokens, "D_planned": plan.tokens, "C": 6.0 * plan.n_params * step * plan.batch_tokens,
            "C_convention": "C = 6*N*D, N = active non-embedding parameters",
            "flops_per_token_kaplan": training_flops_per_token(plan.gpt),
            "flops_per_token_full": full_training_flops_per_token(plan.gpt),
            "final_loss": finals if status == "done" else {k: _finite_or_none(v) for k, v in finals.items()},
            "final_train_loss": _finite_or_none(train_log[-1]["loss"]) if train_log else None,
            "branches": branches_done, "lr": plan.schedule.peak_lr, "batch_tokens": plan.batch_tokens,
            "micro_batch": plan.micro_batch, "grad_accum": plan.accum, "schedule": asdict(plan.schedule),
            "eval_steps": plan.eval_steps, "device": plan.device, "precision": plan.precision,
            "compile": cfg.compile, "threads": torch.get_num_threads(), "world_size": world, "wall_s": wall,
            "tokens_per_s_this_session": tps, "train_tokens_available": int(source_tokens.n_tokens),
            "data_epochs": step * plan.batch_tokens / max(1, int(source_tokens.n_tokens)), "notes": plan.notes,
        }
        if writer:
            atomic.write_text(out / SUMMARY, json.dumps(summary, indent=2, default=str) + "\n")
            if status == "done" and not cfg.checkpoint.keep_final and ckpt_path.exists():
                ckpt_path.unlink()
    return summary


def _write_records(out: Path, rows: list[dict], train_log: list[dict]) -> None:
    import pandas as pd

    from scalelab.runs.table import RunTable

    good = [r for r in rows if math.isfinite(r["loss"]) and r["loss"] > 0]
    if good:
        RunTable.from_records(good).write(out / "runs.csv")
    if train_log:
        with atomic.atomic_path(out / "train_log.csv") as tmp:
            pd.DataFrame(train_log).to_csv(tmp, index=False)
