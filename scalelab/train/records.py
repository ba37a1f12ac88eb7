"""What a run records: run-table rows (DESIGN.md §3), the per-step training log, and its summary.

:class:`RunSummary` is the typed form of ``summary.json``; :meth:`RunSummary.to_dict` gives the
file's keys, which the ladder registry and the launcher read (do not rename them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

import pandas as pd

from scalelab import atomic
from scalelab.model.counting import training_flops_per_token
from scalelab.runs.table import RunTable
from scalelab.train.config import RunConfig
from scalelab.train.plan import Plan

TRAIN_LOG = "train_log.csv"
RUNS = "runs.csv"
CONFIG = "config.json"
C_CONVENTION = "C = 6*N*D, N = active non-embedding parameters"


@dataclass
class RunSummary:
    """One run's outcome, as written to ``summary.json`` (field order = the file's key order)."""

    run_id: str
    status: str  # done, diverged or interrupted
    step: int
    total_steps: int
    signal: Optional[int]
    resumed_from_step: Optional[int]
    N: int  # non-embedding parameters (all experts)
    N_active: int
    N_total: int
    params: dict
    model: dict
    D: int
    D_planned: int
    C: float
    C_convention: str
    flops_per_token_kaplan: float
    flops_per_token_full: float
    final_loss: dict
    final_train_loss: Optional[float]
    branches: list
    lr: float
    batch_tokens: int
    micro_batch: int
    grad_accum: int
    schedule: dict
    eval_steps: list
    device: str
    precision: str
    compile: bool
    threads: int
    world_size: int
    wall_s: float
    tokens_per_s_this_session: Optional[float]
    train_tokens_available: int
    data_epochs: float
    notes: list

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def finite_or_none(x: Optional[float]) -> Optional[float]:
    return x if x is not None and math.isfinite(x) else None


def common_columns(plan: Plan, cfg: RunConfig, run_id: str) -> dict:
    """The run-table columns every row of a run (or of one of its branches) shares."""
    return {
        "run_id": run_id,
        "N": plan.counts.non_embedding,
        "N_total": plan.counts.total,
        "N_active": plan.n_params,
        "tokens_per_step": plan.batch_tokens,
        "n_layer": plan.gpt.n_layer,
        "d_model": plan.gpt.d_model,
        "n_head": plan.gpt.n_head,
        "n_ctx": plan.gpt.n_ctx,
        "lr": plan.schedule.peak_lr,
        "seed": cfg.seed,
        "flops_per_token": training_flops_per_token(plan.gpt),
    }


def eval_rows(
    plan: Plan, cfg: RunConfig, run_id: str, step: int, losses: dict[str, float], extra: dict
) -> list[dict]:
    """One run-table row per eval set for an evaluation at ``step`` (C = 6·N·D)."""
    tokens = step * plan.batch_tokens
    common = common_columns(plan, cfg, run_id)
    return [
        {
            **common,
            "D": tokens,
            "C": 6.0 * plan.n_params * tokens,
            "loss": loss,
            "step": step,
            "eval_set": name,
            **extra,
        }
        for name, loss in losses.items()
    ]


def write_records(out: Path, rows: list[dict], train_log: list[dict]) -> None:
    """``runs.csv`` (rows with a finite, positive loss) and ``train_log.csv``, atomically."""
    good = [r for r in rows if math.isfinite(r["loss"]) and r["loss"] > 0]
    if good:
        RunTable.from_records(good).write(out / RUNS)
    if train_log:
        with atomic.atomic_path(out / TRAIN_LOG) as tmp:
            pd.DataFrame(train_log).to_csv(tmp, index=False)
