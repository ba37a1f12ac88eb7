"""The typed run configuration: TOML in (``load_config``), JSON out (``RunConfig.to_json``).

This is the one run schema: ``scalelab train`` reads it, and a ladder spec
(:mod:`scalelab.ladder.spec`) embeds the same top-level settings (:class:`RunSettings`) and the same
sections (``[model]``, ``[train]``, ``[eval]``, ``[checkpoint]``), with the same defaults; the
ladder fills in each job's shape, budget, batch and learning rate.

Every section forbids unknown keys, so a typo is an error rather than a silently ignored setting.
Relative paths in ``[data]`` are resolved against the folder of the config file. See
``examples/train_tiny.toml`` for a complete, commented example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, model_validator

from scalelab import tomlfile
from scalelab.errors import InputError
from scalelab.model.config import GPTConfig
from scalelab.schema import Schema, Seed, validate

# Upper limits of a run config's numbers (documented in docs/training.md): beyond them a setting is
# a mistake, and planning or training it would exhaust memory or never end.
MAX_VOCAB = 1 << 24
MAX_CTX = 1 << 20
MAX_LAYERS = 1024
MAX_WIDTH = 1 << 16
MAX_EXPERTS = 1024
MAX_SYNTHETIC_TOKENS = 50_000_000
MAX_SYNTHETIC_VOCAB = 1 << 18
MAX_EVAL_POINTS = 10_000
MAX_THREADS = 1024


class ModelSection(Schema):
    """The model shape. Give the shape (n_layer, d_model, n_head), or ``n_params`` (a target
    non-embedding N) and let :func:`scalelab.model.shapes.shape_for` choose it."""

    vocab_size: int = Field(256, ge=2, le=MAX_VOCAB)
    n_ctx: int = Field(128, ge=1, le=MAX_CTX)
    n_layer: Optional[int] = Field(None, ge=1, le=MAX_LAYERS)
    d_model: Optional[int] = Field(None, ge=1, le=MAX_WIDTH)
    n_head: Optional[int] = Field(None, ge=1, le=MAX_WIDTH)
    d_ff: int = Field(0, ge=0, le=MAX_WIDTH * 8)
    n_params: Optional[float] = Field(None, gt=0)
    aspect: float = Field(64.0, gt=0)
    mlp: Literal["gelu", "swiglu"] = "gelu"
    positions: Literal["learned", "rotary"] = "learned"
    tie_embeddings: bool = True
    n_expert: int = Field(0, ge=0, le=MAX_EXPERTS)
    top_k: int = Field(2, ge=1, le=MAX_EXPERTS)
    moe_aux_weight: float = Field(0.01, ge=0)

    @model_validator(mode="after")
    def _shape(self):
        """The shape or a target N (a ladder's [model] overrides this: its grid gives shapes)."""
        given = [self.n_layer is not None, self.d_model is not None, self.n_head is not None]
        if self.n_params is None and not all(given):
            raise ValueError("give either n_params or all of n_layer, d_model, n_head")
        if self.n_params is not None and any(given):
            raise ValueError(
                "give either n_params or the shape (n_layer, d_model, n_head), not both"
            )
        if self.d_model is not None and self.n_head is not None and self.d_model % self.n_head:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})"
            )
        return self

    @model_validator(mode="after")
    def _experts(self):
        if self.n_expert == 1:
            raise ValueError("n_expert must be 0 (dense) or >= 2")
        if self.n_expert >= 2 and self.top_k > self.n_expert:
            raise ValueError(f"top_k ({self.top_k}) must be <= n_expert ({self.n_expert})")
        return self

    def gpt_config(self, **overrides) -> GPTConfig:
        """This section as the model's own :class:`~scalelab.model.config.GPTConfig`, with
        ``overrides`` (e.g. the data's ``vocab_size``, or ``d_ff=0`` for the shape rule). A shape
        field left out (a ladder's ``[model]``, or ``n_params`` given) takes GPTConfig's default:
        a base that :func:`scalelab.model.shapes.shape_for` gives its shape. ValueError (one
        ``; ``-joined message) on an impossible shape."""
        given = {k: getattr(self, k, None) for k in GPT_FIELDS}
        return GPTConfig(**{**{k: v for k, v in given.items() if v is not None}, **overrides})


GPT_FIELDS = (
    "vocab_size",
    "n_ctx",
    "n_layer",
    "d_model",
    "n_head",
    "d_ff",
    "mlp",
    "positions",
    "tie_embeddings",
    "n_expert",
    "top_k",
)
"""The ``[model]`` fields a :class:`~scalelab.model.config.GPTConfig` takes (``aspect``, ``n_params``
and ``moe_aux_weight`` are the shape rule's and the trainer's)."""


class DataSection(Schema):
    """``train``: a token file (``.npy`` of integer ids, or raw ``.bin`` of ``dtype``), a folder
    holding ``train.npy``/``train.bin``, or ``"synthetic"`` (a seeded Markov source, for tests and
    demos). ``eval``: {name: token file}; with a synthetic or folder source, default sets are
    supplied."""

    train: str = "synthetic"
    eval: dict[str, str] = Field(default_factory=dict)
    dtype: Literal["uint16", "uint32", "int32", "int64"] = "uint16"
    synthetic_tokens: int = Field(1_000_000, ge=1000, le=MAX_SYNTHETIC_TOKENS)


class TrainSection(Schema):
    """Optimisation. ``lr`` and ``batch_tokens`` default to the power-law rule of N
    (:mod:`scalelab.train.hparams`). ``tokens`` (D) or ``tokens_per_param`` sets the run length."""

    tokens: Optional[int] = Field(None, ge=1)
    tokens_per_param: Optional[float] = Field(None, gt=0)
    batch_tokens: Optional[int] = Field(None, ge=1)
    micro_batch: Optional[int] = Field(None, ge=1, description="sequences per forward pass")
    lr: Optional[float] = Field(None, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float = Field(1.0, ge=0)
    schedule: Literal["cosine", "wsd", "constant"] = "cosine"
    warmup_frac: float = Field(0.05, ge=0, lt=1)
    warmup_tokens: Optional[int] = Field(None, ge=0)
    cooldown_frac: float = Field(0.2, gt=0, le=1)
    cooldown_shape: Literal["linear", "1-sqrt", "cosine"] = "1-sqrt"
    branch_tokens: list[int] = Field(default_factory=list)
    branch_tokens_per_param: list[float] = Field(default_factory=list)
    divergence_factor: float = Field(3.0, gt=1)

    @model_validator(mode="after")
    def _check(self):
        if self.tokens is not None and self.tokens_per_param is not None:
            raise ValueError("give tokens or tokens_per_param, not both")
        if (self.branch_tokens or self.branch_tokens_per_param) and self.schedule != "wsd":
            raise ValueError("branch_tokens / branch_tokens_per_param need schedule = 'wsd'")
        return self


class EvalSection(Schema):
    points: int = Field(
        12,
        ge=1,
        le=MAX_EVAL_POINTS,
        description="evaluations at log-spaced steps (the last step always)",
    )
    tokens: int = Field(
        32768, ge=1, description="held-out tokens per eval set (fixed, the first ones)"
    )
    batch: int = Field(16, ge=1, description="sequences per eval forward pass")
    tasks: list[str] = Field(
        default_factory=list,
        description="task sets evaluated at every eval point: task files (JSON-lines) or the "
        "built-in 'cloze' and 'mc' (generated from the prepared data's held-out documents)",
    )
    task_examples: int = Field(300, ge=1, le=1_000_000, description="examples per task (cap)")


class CheckpointSection(Schema):
    every_steps: int = Field(100, ge=1)
    keep_final: bool = True


class RunSettings(Schema):
    """The top-level settings of a run that are not its identity: shared by a run config and a
    ladder spec (where they apply to every job)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    compile: bool = False
    threads: int = Field(
        0, ge=0, le=MAX_THREADS, description="torch intra-op threads; 0 = torch's default"
    )


class RunConfig(RunSettings):
    run_id: str = Field("run", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    out_dir: str = "out/run"
    seed: Seed = 0
    model: ModelSection = Field(default_factory=ModelSection.model_construct)
    data: DataSection = Field(default_factory=DataSection)
    train: TrainSection = Field(default_factory=TrainSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    base_dir: str = Field(
        ".", exclude=True, description="folder relative data paths resolve against"
    )

    @model_validator(mode="after")
    def _synthetic_vocab(self):
        if self.data.train == "synthetic" and self.model.vocab_size > MAX_SYNTHETIC_VOCAB:
            raise ValueError(
                f"[data] train = 'synthetic' needs [model] vocab_size <= {MAX_SYNTHETIC_VOCAB}, "
                f"got {self.model.vocab_size}"
            )
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


def config_from_dict(raw: dict, source: str = "<config>", base_dir: str | Path = ".") -> RunConfig:
    """Validate a config dict (as read from TOML); every problem becomes one line of an
    InputError."""
    raw = dict(raw)
    raw.setdefault("model", {})
    return validate(RunConfig, {**raw, "base_dir": str(base_dir)}, source)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run config (relative data paths resolve against its folder)."""
    path = Path(path)
    raw = tomlfile.read(path, "config file")
    if "base_dir" in raw:
        raise InputError(f"{path}: unknown key 'base_dir' in the top level")
    return config_from_dict(raw, str(path), path.resolve().parent)
