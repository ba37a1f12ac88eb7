"""The OLMo ladder's rungs (Bhagia et al. 2024) as learning curves: every checkpoint of every run.

    python benchmarks/curves_olmo.py [../shared/data/olmo_ladder/rungs.csv] [--bootstrap 100]

``olmo_curves(path)`` turns ``rungs.csv`` into a run table the learning-curve laws read: loss =
``loss_c4``, the schedule as the data's README reconstructs it (cosine from ``lr_peak`` to
0.1·peak at the run's last checkpoint, linear warm-up of round(N / batch_tokens) steps; the
rebuilt lr equals the file's ``lr`` column, checked on load). The reruns are dropped unless asked.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from scalelab.runs.schedules import Schedule
from scalelab.runs.table import RunTable

DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "olmo_ladder")
RUNGS = os.path.join(DEFAULT, "rungs.csv")


def olmo_curves(path: str = RUNGS, reruns: bool = False, loss: str = "loss_c4") -> RunTable:
    raw = pd.read_csv(path)
    if not reruns:
        raw = raw[raw["variant"] == "main"]
    total = raw.groupby("run_id")["step"].transform("max").astype(int)
    warm = np.round(raw["N"] / raw["batch_tokens"]).astype(int)
    data = pd.DataFrame(
        {
            "run_id": raw["run_id"],
            "N": raw["N"].astype(float),
            "D": raw["D"].astype(float),
            "C": raw["C"].astype(float),
            "step": raw["step"].astype(int),
            "loss": raw[loss].astype(float),
            "schedule": "cosine",
            "lr": raw["lr_peak"].astype(float),
            "total_steps": total,
            "warmup_steps": warm,
            "min_lr_ratio": 0.1,
            "tokens_per_step": raw["batch_tokens"].astype(float),
            "xC": raw["xC"].astype(float),
            "in_paper_fit": raw["in_paper_fit"].astype(int),
        }
    )
    rebuilt = [Schedule("cosine", p, t, w, 0.1) for p, t, w in zip(data["lr"], total, warm, strict=True)]
    # the file's cosine reaches 0.1·peak 10 steps before the last checkpoint (then constant);
    # ours ends at the last checkpoint: the lr differs by at most 1.3% (0.5xC runs, near the
    # end), the areas S1 and S2 by far less
    err = [
        min(abs(sc.lr(s - 1) / lr - 1), abs(sc.lr(s) / lr - 1))
        for sc, s, lr in zip(rebuilt, data["step"], raw["lr"], strict=True)
    ]
    worst = float(np.max(err))
    if worst > 0.02:
        raise SystemExit(f"{path}: rebuilt lr differs from the file's by {worst:.2%}")
    return RunTable.from_frame(data.reset_index(drop=True), source=path)
