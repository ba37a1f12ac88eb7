"""What a ladder spec becomes: the plan's types (:mod:`scalelab.ladder.plan` makes them).

A :class:`Job` is one training job: the trainer's own run config (its id, seed, shape, budget,
batch, learning rate and branches are read from it, never repeated beside it) and what the plan
knows besides (parameter counts, FLOPs, the points it records). A :class:`LadderPlan` is every job
of a spec, with the data plan, notes, warnings and the throughput its estimates assume.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from scalelab.train.config import RunConfig

DEFAULT_FLOPS_PER_S = 2.0e9
"""Assumed training throughput (full FLOPs per second) when the spec gives none: a 2-core CPU."""


@dataclass
class DataPlan:
    """Where the runs read their tokens: run-config ``[data]`` fields, what to prepare first."""

    train: str  # token file, or "synthetic"
    eval: dict[str, str]  # {eval set: token file}
    dtype: str
    vocab_size: int
    prepare_dir: Optional[str] = None  # a scalelab data folder to (re)build before training
    prepare_spec: Optional[dict] = None
    synthetic_tokens: int = 1_000_000
    train_tokens: Optional[int] = None  # unique training tokens, when known
    mix: Optional[dict] = None  # a [[variants]] data.mix to build (scalelab.ladder.datamix)


@dataclass
class Point:
    run_id: str
    N: int
    D: int
    C: float
    steps: int
    seed: int
    job: str


@dataclass
class Job:
    """One training job: the trainer's own run config (its id, seed, shape, budget, batch, lr and
    branches live there, nowhere else) and what the plan knows besides (counts, compute, points)."""

    N: int  # active non-embedding parameters
    N_total: int
    steps: int
    D: int
    flops_per_token: float  # full training FLOPs per token (throughput convention)
    compute: float  # full FLOPs this job spends (trunk + branch cool-downs)
    points: list[Point]
    run_config: RunConfig  # the trainer's own config of this job (out_dir set at run time)
    recipe: Optional[str] = None  # the [[variants]] name (run-table column recipe)
    shape: Optional[str] = None  # L{n_layer}-d{d_model} in a shape-family grid (column shape)

    @property
    def run_id(self) -> str:
        return self.run_config.run_id

    @property
    def seed(self) -> int:
        return self.run_config.seed

    @property
    def n_layer(self) -> int:
        return self.run_config.model.n_layer

    @property
    def d_model(self) -> int:
        return self.run_config.model.d_model

    @property
    def n_head(self) -> int:
        return self.run_config.model.n_head

    @property
    def d_ff(self) -> int:
        """The MLP width the job trains (the rule's default made explicit)."""
        return self.run_config.model.d_ff

    @property
    def batch_tokens(self) -> int:
        return self.run_config.train.batch_tokens

    @property
    def lr(self) -> float:
        return self.run_config.train.lr

    @property
    def C(self) -> float:
        return 6.0 * self.N * self.D

    @property
    def config(self) -> dict:
        """The job's run config as JSON data (what the registry stores and a worker trains)."""
        return self.run_config.model_dump(mode="json")


JOB_KEYS = (
    "run_id",
    "seed",
    "N",
    "N_total",
    "n_layer",
    "d_model",
    "n_head",
    "d_ff",
    "batch_tokens",
    "lr",
    "steps",
    "D",
    "flops_per_token",
    "compute",
)
"""A job's keys in a plan's JSON (``LadderPlan.to_dict``), in order; then ``recipe`` and
``shape`` when set, ``C``, ``estimated_s`` and ``points``."""


@dataclass
class LadderPlan:
    spec: Any  # the LadderSpec it plans (scalelab.ladder.spec imports this module)
    data: DataPlan
    jobs: list[Job]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    flops_per_s: float = DEFAULT_FLOPS_PER_S
    flops_per_s_source: str = "assumed"
    tokens_per_s: dict[str, float] = field(default_factory=dict)  # per job (ladder.estimate)
    variant_data: dict[str, DataPlan] = field(default_factory=dict)  # [[variants]] data.mix

    @property
    def points(self) -> list[Point]:
        return [p for j in self.jobs for p in j.points]

    @property
    def compute(self) -> float:
        return sum(j.compute for j in self.jobs)

    def estimate_s(self, job: Job) -> float:
        """Estimated wall time: timed tokens/s of the job's shape if known, else
        FLOPs / flops_per_s."""
        tps = self.tokens_per_s.get(job.run_id)
        if not tps:
            return job.compute / self.flops_per_s
        trained = job.compute / job.flops_per_token  # trunk + cool-down tokens
        n_evals = self.spec.eval.points + len(job.points) - 1
        evals = n_evals * self.spec.eval.tokens * max(1, len(self.data.eval))
        return (trained + evals / 3.0) / tps  # a forward pass is about 1/3 of a training step

    @property
    def out_dir(self) -> Path:
        return Path(self.spec.out_dir).expanduser()

    def spec_hash(self) -> str:
        blob = json.dumps([j.config for j in self.jobs], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {
            "name": self.spec.name,
            "out_dir": str(self.out_dir),
            "flops_per_s": self.flops_per_s,
            "flops_per_s_source": self.flops_per_s_source,
            "compute": self.compute,
            "estimated_s": sum(self.estimate_s(j) for j in self.jobs),
            "notes": self.notes,
            "tokens_per_s": dict(self.tokens_per_s),
            "warnings": self.warnings,
            "jobs": [self._job_dict(j) for j in self.jobs],
            **(
                {"variant_data": {k: asdict(d) for k, d in self.variant_data.items()}}
                if self.variant_data
                else {}
            ),
        }

    def _job_dict(self, j: Job) -> dict:
        labels = ("recipe", "shape")  # only when set: a plain ladder's plan is as before
        return {
            **{k: getattr(j, k) for k in JOB_KEYS},
            **{k: getattr(j, k) for k in labels if getattr(j, k) is not None},
            "C": j.C,
            "estimated_s": self.estimate_s(j),
            "points": [asdict(p) for p in j.points],
        }
