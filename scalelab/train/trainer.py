"""The Trainer: one run's state as attributes, and the steps of training it as named methods.

    trainer = Trainer(cfg, callbacks=[RunRecords(), ProgressLines()])  # checks; writes nothing
    summary = trainer.run()  # setup, then train_step / evaluate / branch / checkpoint until done

``Trainer(...)`` resolves and checks everything (plan, output folder, data, process split) and
raises InputError before a file is written. :meth:`Trainer.run` then:

1. :meth:`setup`: process group, device, model, optimiser, the checkpoint's state when resuming;
2. per step: the WSD cool-down branches that start here (:meth:`branch`), one optimiser step
   (:meth:`train_step`), the divergence check, held-out evaluation at log-spaced steps
   (:meth:`evaluate`), a checkpoint every K steps (:meth:`checkpoint`); SIGTERM/SIGINT end the
   loop after the step (all ranks agree on which), with a checkpoint;
3. :meth:`finish`: the final checkpoint, the row statuses, and the :class:`RunSummary`.

The stop flag lives in :mod:`scalelab.train.stopping` and the optimiser in
:mod:`scalelab.train.optimizer` (both re-exported here). The files are written by callbacks
(:class:`~scalelab.train.callbacks.RunRecords`); the trainer writes only its checkpoint. Batches
and learning rates are pure functions of the step, so a resumed run repeats the uninterrupted one
bitwise on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import torch

from scalelab.errors import InputError
from scalelab.model.counting import full_training_flops_per_token, training_flops_per_token
from scalelab.model.gpt import GPT
from scalelab.train import distributed, hparams
from scalelab.train.callbacks import Callback, Progress
from scalelab.train.checkpoint import rng_state, save_checkpoint, set_rng_state
from scalelab.train.config import RunConfig
from scalelab.train.optimizer import make_optimizer
from scalelab.train.plan import (
    CHECKPOINT,
    Branch,
    config_identity,
    out_folder,
    plan_run,
    resume_state,
)
from scalelab.train.records import C_CONVENTION, RunSummary, eval_rows, finite_or_none
from scalelab.train.schedule import schedule_columns
from scalelab.train.stopping import (  # request_stop, stop_flag_installed: re-exported
    _StopFlag,
    request_stop,  # noqa: F401
    stop_flag_installed,  # noqa: F401
)
from scalelab.train.tokens import TokenSource, eval_windows, open_data


class Trainer:
    """Train (or resume) the run ``cfg`` describes. See the module docstring for the order of
    things; ``tokens`` and ``eval_sets`` ({name: 1-D token array}) replace the config's
    ``[data]`` when given (any :class:`TokenSource`)."""

    def __init__(
        self,
        cfg: RunConfig,
        *,
        resume: bool = False,
        out_dir: str | Path | None = None,
        source: str = "<config>",
        tokens: TokenSource | None = None,
        eval_sets: dict | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        # ---- check everything; nothing is written until setup() ----
        self.cfg = cfg
        self.source = source
        self.plan = plan_run(cfg, source)
        distributed.check_split(self.plan, distributed.world_size(), source)
        self.out = out_folder(cfg, out_dir, source)  # relative to the cwd; checked writable
        self.ckpt_path = self.out / CHECKPOINT
        self._state = resume_state(cfg, self.out, resume)
        if tokens is None or eval_sets is None:
            default_tokens, default_evals = open_data(cfg, source)
            tokens = tokens if tokens is not None else default_tokens
            eval_sets = eval_sets if eval_sets is not None else default_evals
        self.tokens = tokens
        n_ctx = self.plan.gpt.n_ctx
        self.windows = {
            name: eval_windows(arr, cfg.eval.tokens, n_ctx) for name, arr in eval_sets.items()
        }
        self.callbacks = list(callbacks)
        if cfg.eval.tasks:  # task rows at every evaluation (reads and checks the task sets now)
            from scalelab.train.taskcallback import TaskEvaluation

            self.callbacks.append(TaskEvaluation(cfg, source))

        # ---- the run's state (what a checkpoint holds, and what the summary reports) ----
        self.step = 0
        self.rows: list[dict] = []  # run-table rows of the run and its branches
        self.train_log: list[dict] = []  # one row per optimiser step
        self.branches_done: list[dict] = []
        self.running_min = math.inf  # of the training loss (divergence check)
        self.status = "running"
        self.resumed_from: Optional[int] = None
        self.stop_signal: Optional[int] = None
        self.start_step = 0  # the step this session started from
        self.t0 = 0.0  # when this session's training started (perf_counter)

        # ---- set by setup(): the process group and the modules ----
        self.ctx: Optional[distributed.Context] = None  # None for a single process
        self.rank, self.world, self.writer = 0, 1, True  # only rank 0 writes files
        self.device = torch.device(self.plan.device)
        self.raw_model = self.model = self.fwd = self.ddp = self.opt = None

    # ---- the steps ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Process group, device, model, optimiser; the checkpoint's state when resuming; the
        output folder (rank 0)."""
        cfg, plan = self.cfg, self.plan
        self.ctx = distributed.setup(plan.device)
        if self.ctx is not None:
            self.rank, self.world = self.ctx.rank, self.ctx.world_size
            self.writer = self.rank == 0
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        device = self.ctx.device(plan.device) if self.ctx else torch.device(plan.device)
        self.device = device
        if device.type == "cpu":
            torch.set_flush_denormal(True)
        torch.manual_seed(cfg.seed)
        self.raw_model = self._build_model(device)
        self.model = torch.compile(self.raw_model) if cfg.compile else self.raw_model
        self.opt = make_optimizer(self.raw_model, cfg, plan.schedule.peak_lr, plan.device)
        self.params = list(self.raw_model.parameters())
        self.moe = plan.gpt.n_expert >= 2
        if self._state is not None:
            state, self._state = self._state, None
            self.raw_model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"])
            self.step, self.rows, self.train_log = state["step"], state["rows"], state["train_log"]
            self.branches_done, self.running_min = state["branches_done"], state["running_min"]
            self.resumed_from = self.step
        # DDP (several processes): the training forward pass goes through it; evaluation does not
        self.ddp = self.ctx.wrap(self.raw_model, device, find_unused=self.moe) if self.ctx else None
        if self.ddp is None:
            self.fwd = self.model
        else:
            self.fwd = torch.compile(self.ddp) if cfg.compile else self.ddp
        logit_bytes = hparams.LOGIT_BYTES_PER_ELEMENT * plan.gpt.n_ctx * plan.gpt.vocab_size
        self.eval_batch = min(cfg.eval.batch, max(1, hparams.LOGIT_MEMORY_BUDGET // logit_bytes))
        if self.writer:
            self.out.mkdir(parents=True, exist_ok=True)
            for stale in self.out.glob(f".{CHECKPOINT}.*.tmp"):  # a kill mid-checkpoint left it
                stale.unlink(missing_ok=True)
        self._call("on_setup")

    def _build_model(self, device: torch.device) -> GPT:
        """The model on ``device``; one that does not fit in memory is an InputError line."""
        try:
            return GPT(self.plan.gpt).to(device)
        except (RuntimeError, MemoryError) as exc:  # torch.OutOfMemoryError is a RuntimeError
            text = str(exc).lower()
            if not (isinstance(exc, MemoryError) or "alloc" in text or "out of memory" in text):
                raise
            total = self.plan.counts.total
            raise InputError(
                f"{self.source}: [model]: {total:,} parameters do not fit in memory on "
                f"{device} ({' '.join(str(exc).split())[:120]})"
            ) from None

    def autocast(self):
        if self.plan.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def update(self, step: int, lr: float) -> tuple[float, float]:
        """One optimiser step on the batch of ``step`` at learning rate ``lr``; returns the mean
        training loss over the step's micro-batches (all ranks) and the gradient norm."""
        plan, cfg = self.plan, self.cfg
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        acc = torch.zeros((), device=self.device)
        # this rank's micro-batches (all of them in one process); DDP averages the ranks'
        # gradients, so dividing by the local count gives the mean over all plan.accum of them
        local = range(self.rank, plan.accum, self.world)
        n_ctx = plan.gpt.n_ctx
        for i, micro in enumerate(local):
            batch = self.tokens.batch(step, micro, plan.micro_batch, n_ctx)
            batch = batch.to(self.device, non_blocking=True)
            defer_sync = self.ddp is not None and i < len(local) - 1  # all-reduce on the last
            with self.ddp.no_sync() if defer_sync else contextlib.nullcontext():
                with self.autocast():
                    _, loss = self.fwd(batch[:, :-1], batch[:, 1:])
                    objective = loss
                    if self.moe:
                        objective = loss + cfg.model.moe_aux_weight * self.raw_model.aux_loss()
                (objective / len(local)).backward()
            acc += loss.detach()
        if self.ctx is not None:
            self.ctx.sum_(acc)  # the sum of all plan.accum micro-batch losses, on every rank
        if cfg.train.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.train.grad_clip)
        else:
            norm = torch.zeros(())
        self.opt.step()
        return float(acc) / plan.accum, float(norm)

    def train_step(self) -> float:
        """The main run's next optimiser step (logged in ``train_log``); returns its loss."""
        lr = self.plan.schedule.lr(self.step)
        loss, norm = self.update(self.step, lr)
        self.step += 1
        tokens = self.step * self.plan.batch_tokens
        self.train_log.append(
            {"step": self.step, "tokens": tokens, "lr": lr, "loss": loss, "grad_norm": norm}
        )
        return loss

    def diverged(self, loss: float) -> bool:
        """A non-finite loss, or one above ``divergence_factor`` × the running minimum after
        warmup."""
        if not math.isfinite(loss):
            return True
        after_warmup = self.step > self.plan.schedule.warmup_steps
        limit = self.cfg.train.divergence_factor * self.running_min
        return after_warmup and math.isfinite(self.running_min) and loss > limit

    def evaluate(self) -> dict[str, float]:
        """Held-out loss (nats/token) of the current model on each eval set's fixed windows."""
        self.raw_model.eval()
        losses = {}
        with torch.no_grad():
            for name, win in self.windows.items():
                total, count = 0.0, 0
                for i in range(0, len(win), self.eval_batch):
                    chunk = win[i : i + self.eval_batch].to(self.device)
                    with self.autocast():
                        logits = self.model(chunk[:, :-1])
                    loss = torch.nn.functional.cross_entropy(
                        logits.float().reshape(-1, logits.size(-1)),
                        chunk[:, 1:].reshape(-1),
                        reduction="sum",
                    )
                    total += float(loss)
                    count += chunk[:, 1:].numel()
                losses[name] = total / count
        self.raw_model.train()
        return losses

    def branches_due(self) -> list[Branch]:
        """The cool-down branches that leave the main run at this step and are not done yet."""
        done = {b["run_id"] for b in self.branches_done}
        return [b for b in self.plan.branches if b.start == self.step and b.run_id not in done]

    def branch(self, branch: Branch) -> None:
        """Run a WSD cool-down from a copy of the current state on the same batches, evaluate and
        record it as its own run, and restore the main run's state."""
        snap_model = copy.deepcopy(self.raw_model.state_dict())
        snap_opt = copy.deepcopy(self.opt.state_dict())
        b_sched = self.plan.schedule.branch(branch.steps)
        last = math.nan
        for s in range(branch.start, branch.steps):
            last, _ = self.update(s, b_sched.lr(s))
        losses = self.evaluate()
        ok = all(math.isfinite(v) for v in losses.values()) and math.isfinite(last)
        extra = {
            "schedule": "wsd-cooldown",
            **schedule_columns(b_sched, branch.steps),
            "branch_of": self.cfg.run_id,
            "status": "done" if ok else "diverged",
        }
        self.rows.extend(eval_rows(self.plan, self.cfg, branch.run_id, branch.steps, losses, extra))
        record = {
            "run_id": branch.run_id,
            "D": branch.tokens,
            "steps": branch.steps,
            "cooldown_from_step": branch.start,
            "loss": losses,
            "train_loss": last,
        }
        self.branches_done.append(record)
        self._call("on_branch", branch, record)  # callbacks see the branch's model
        self.raw_model.load_state_dict(snap_model)
        self.opt.load_state_dict(snap_opt)

    def checkpoint(self) -> None:
        """Save the whole state atomically (rank 0); every rank waits for it."""
        if self.writer:
            state = {
                "config": config_identity(self.cfg),
                "step": self.step,
                "model": self.raw_model.state_dict(),
                "optimizer": self.opt.state_dict(),
                "rng": rng_state(),
                "rows": self.rows,
                "data_position": {
                    "step": self.step,
                    "batches": "pure function of (seed, step, micro)",
                },
                "train_log": self.train_log,
                "branches_done": self.branches_done,
                "running_min": self.running_min,
            }
            save_checkpoint(self.ckpt_path, state)
        if self.ctx is not None:
            self.ctx.barrier()
        self._call("on_checkpoint", self.ckpt_path)

    def progress(self) -> Progress:
        """Where the run stands after its last step (``tokens_per_s``: this session's mean)."""
        last = self.train_log[-1]
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        tps = (self.step - self.start_step) * self.plan.batch_tokens / elapsed
        return Progress(
            step=self.step,
            total_steps=self.plan.total_steps,
            loss=last["loss"],
            lr=last["lr"],
            grad_norm=last["grad_norm"],
            tokens_per_s=tps,
        )

    def _stop_requested(self, stop: _StopFlag) -> Optional[int]:
        if self.ctx is None:
            return stop.signum
        return self.ctx.max(stop.signum or 0, self.device) or None  # all ranks agree

    # ---- the loop -------------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Set up, train to the end (or divergence, or a signal), and return the summary."""
        self.setup()
        plan = self.plan
        self.t0 = time.perf_counter()
        self.start_step = self.step
        with _StopFlag() as stop, self.ctx if self.ctx is not None else contextlib.nullcontext():
            while self.step < plan.total_steps:
                for branch in self.branches_due():
                    self.branch(branch)
                loss = self.train_step()
                if self.diverged(loss):
                    self.status = "diverged"
                    break
                self.running_min = min(self.running_min, loss)
                if self.step in plan.eval_steps:
                    losses = self.evaluate()
                    extra = {
                        "schedule": plan.schedule.kind,
                        **schedule_columns(plan.schedule, self.step),
                    }
                    self.rows.extend(
                        eval_rows(plan, self.cfg, self.cfg.run_id, self.step, losses, extra)
                    )
                    self._call("on_eval", self.step, losses)
                self._call("on_step", self.progress())
                signum = self._stop_requested(stop)
                if signum is not None:
                    self.stop_signal = signum
                    self.status = "interrupted"
                    break
                if (
                    self.step % self.cfg.checkpoint.every_steps == 0
                    and self.step < plan.total_steps
                ):
                    self.checkpoint()
            return self.finish()

    fit = run

    def finish(self) -> RunSummary:
        """The final (or interrupted) checkpoint, the rows' statuses, the summary, ``on_end``."""
        if self.status == "running":
            self.status = "done"
        wall = time.perf_counter() - self.t0
        if self.status in ("done", "interrupted"):
            self.checkpoint()  # the final or the interrupted state
        for row in self.rows:
            if row.get("branch_of") is None:
                row["status"] = self.status
            else:
                row.setdefault("status", "done")
        summary = self.summary(wall)
        self._call("on_end", summary)
        if self.writer and self.status == "done" and not self.cfg.checkpoint.keep_final:
            self.ckpt_path.unlink(missing_ok=True)
        return summary

    def summary(self, wall: float) -> RunSummary:
        plan, cfg, status = self.plan, self.cfg, self.status
        finals = {r["eval_set"]: r["loss"] for r in self.rows if r["run_id"] == cfg.run_id}
        if status != "done":
            finals = {k: finite_or_none(v) for k, v in finals.items()}
        trained = self.step - self.start_step
        tokens = self.step * plan.batch_tokens
        available = int(self.tokens.n_tokens)
        return RunSummary(
            run_id=cfg.run_id,
            status=status,
            step=self.step,
            total_steps=plan.total_steps,
            signal=self.stop_signal,
            resumed_from_step=self.resumed_from,
            N=plan.counts.non_embedding,
            N_active=plan.n_params,
            N_total=plan.counts.total,
            params=plan.counts.to_dict(),
            model=plan.gpt.to_dict(),
            D=tokens,
            D_planned=plan.tokens,
            C=6.0 * plan.n_params * tokens,
            C_convention=C_CONVENTION,
            flops_per_token_kaplan=training_flops_per_token(plan.gpt),
            flops_per_token_full=full_training_flops_per_token(plan.gpt),
            final_loss=finals,
            final_train_loss=finite_or_none(self.train_log[-1]["loss"]) if self.train_log else None,
            branches=self.branches_done,
            lr=plan.schedule.peak_lr,
            batch_tokens=plan.batch_tokens,
            micro_batch=plan.micro_batch,
            grad_accum=plan.accum,
            schedule=asdict(plan.schedule),
            eval_steps=plan.eval_steps,
            device=plan.device,
            precision=plan.precision,
            compile=cfg.compile,
            threads=torch.get_num_threads(),
            world_size=self.world,
            wall_s=wall,
            tokens_per_s_this_session=trained * plan.batch_tokens / wall if wall > 0 else None,
            train_tokens_available=available,
            data_epochs=tokens / max(1, available),
            notes=plan.notes,
        )

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            if self.writer or not cb.rank_zero_only:
                getattr(cb, hook)(self, *args)
