"""Synthetic task tables from a known two-step chain: for tests, benchmarks and examples.

Step 1: task_loss = E + A/N^alpha + B/D^beta (times log-normal noise); step 2: accuracy on a link
of the task loss (:func:`scalelab.tasks.links.raw`: ``sigmoid`` pinned at chance and at ``top``
for zero loss, with k, L0; ``exp``, Gadre's, with epsilon, k, gamma; ``sigmoid-free`` with a
ceiling, k, L0; a spec ``"link": "sigmoid"`` that gives a ``ceiling`` is ``sigmoid-free``), plus
normal evaluation noise. Each run
is evaluated at ``points`` steps along its training (D growing to the run's D).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np
import pandas as pd

STEP1 = {"E": 1.8, "A": 60.0, "alpha": 0.34, "B": 120.0, "beta": 0.30}
STEP2 = {"ceiling": 0.9, "k": 4.0, "L0": 2.6}


def chain_table(
    N: Sequence[float] = (1e6, 2e6, 4e6, 8e6, 1.6e7, 3.2e7),
    tokens_per_param: Sequence[float] = (10.0, 20.0, 40.0),
    tasks: Optional[dict[str, dict]] = None,
    points: int = 10,
    step1: Optional[dict] = None,
    loss_noise: float = 0.01,
    acc_noise: float = 0.01,
    seed: int = 0,
) -> pd.DataFrame:
    """Long task rows, one per (run, evaluation point, task). ``tasks`` maps a name to
    {"chance": c, "link": "sigmoid" with ceiling, k, L0 | "exp" with epsilon, k, gamma}; a task
    with ``"stuck": True`` stays at chance."""
    rng = np.random.default_rng(seed)
    p1 = {**STEP1, **(step1 or {})}
    tasks = tasks or {"synthetic": {"chance": 0.25, "link": "sigmoid", **STEP2}}
    rows = []
    for n in N:
        for m in tokens_per_param:
            run_id = f"N{n:.3g}-M{m:g}"
            d_final = m * n
            for j in range(1, points + 1):
                d = d_final * j / points
                base = p1["E"] + p1["A"] / n ** p1["alpha"] + p1["B"] / d ** p1["beta"]
                for name, spec in tasks.items():
                    loss = base * np.exp(loss_noise * rng.standard_normal())
                    c = spec["chance"]
                    if spec.get("stuck"):
                        acc = c
                    else:
                        acc = link_value(spec, loss)
                    acc = float(np.clip(acc + acc_noise * rng.standard_normal(), 0, 1))
                    rows.append(
                        {
                            "run_id": run_id,
                            "N": n,
                            "D": d,
                            "step": j,
                            "task": name,
                            "accuracy": acc,
                            "chance": c,
                            "task_loss": loss,
                            "task_loss_unit": "nats/token",
                        }
                    )
    return pd.DataFrame(rows)


def link_value(spec: dict, L) -> np.ndarray:
    """A task spec's true accuracy at task loss L (unclipped)."""
    c, link = spec["chance"], spec.get("link", "sigmoid")
    L = np.asarray(L, dtype=float)
    if link == "exp":
        return 1 - spec["epsilon"] + spec["k"] * np.exp(-spec["gamma"] * L)
    if link == "sigmoid-free" or (link == "sigmoid" and "ceiling" in spec):
        return c + (spec["ceiling"] - c) / (1 + np.exp(spec["k"] * (L - spec["L0"])))
    top, k, L0 = spec.get("top", 1.0), spec["k"], spec["L0"]
    return c + (top - c) * (1 + np.exp(-k * L0)) / (1 + np.exp(k * (L - L0)))
