"""Training one run: ``train(cfg)`` plans it, trains it, evaluates it, records it, survives kills.

The pieces, one concern each:

* :mod:`scalelab.train.plan`: ``plan_run(cfg)`` resolves everything a run needs (shape, counts,
  tokens, batch, steps, schedule, eval steps, cool-down branches) and ``check_run`` rejects
  impossible settings with an InputError before anything is written.
* :mod:`scalelab.train.trainer`: the :class:`Trainer` (state as attributes; ``setup``,
  ``train_step``, ``evaluate``, ``branch``, ``checkpoint``, ``run``):

  - AdamW (decoupled weight decay on matrices and embeddings, none on norm weights), gradient
    clipping, batch size in tokens reached by gradient accumulation over micro-batches;
  - bf16 autocast (CUDA, and CPUs with bf16 support) or fp32; ``torch.set_flush_denormal(True)``
    on CPU; optional ``torch.compile``;
  - held-out loss on each eval set's fixed windows at log-spaced steps (learning curves, L(N,S));
  - divergence (non-finite loss, or a training loss above ``divergence_factor`` × its running
    minimum after warmup) ends the run with status ``diverged``;
  - WSD cool-down branches: when the run reaches the step where a shorter budget's cool-down
    would start, the state is copied, the cool-down run on the same batches, the branch evaluated
    and recorded as its own run ``<run_id>-D<tokens>``, and the main run continues from the copy;
  - atomic checkpoints every K steps and on SIGTERM/SIGINT; ``resume=True`` continues from the
    last one and reproduces the uninterrupted run bitwise on CPU (batches and learning rates are
    pure functions of the step; model, optimiser and RNG states are restored exactly);
  - several processes (torchrun, DDP; :mod:`scalelab.train.distributed`): when
    ``torch.distributed`` is initialised, or torchrun's ``WORLD_SIZE`` > 1, each rank takes its
    share of every step's micro-batches and the gradient is averaged across ranks, giving the
    single-process step; only rank 0 writes files. :mod:`scalelab.train.launch` starts such a run.

* :mod:`scalelab.train.callbacks`: the run's files, progress lines and bars, per-step functions.
* :mod:`scalelab.train.records`: run-table rows and the typed :class:`RunSummary`.

Outputs in ``out_dir``: ``config.json``, ``runs.csv`` (run-table rows, DESIGN.md §3),
``train_log.csv`` (per-step training loss, lr, grad norm), ``summary.json``, ``checkpoint.pt``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

from scalelab.train.callbacks import Callback, ProgressLines, RunRecords, StepFunction
from scalelab.train.config import RunConfig
from scalelab.train.plan import (
    CHECKPOINT,
    SUMMARY,
    Branch,
    Plan,
    bf16_supported,
    check_run,
    plan_run,
)
from scalelab.train.records import RunSummary
from scalelab.train.tokens import TokenSource
from scalelab.train.trainer import Trainer, make_optimizer

_make_optimizer = make_optimizer  # the old private name (scalelab.ladder.estimate used it)

__all__ = [
    "CHECKPOINT",
    "SUMMARY",
    "Branch",
    "Plan",
    "RunSummary",
    "Trainer",
    "bf16_supported",
    "check_run",
    "plan_run",
    "train",
]


def train(
    cfg: RunConfig,
    *,
    resume: bool = False,
    out_dir: str | Path | None = None,
    source: str = "<config>",
    log: Optional[Callable[[str], None]] = None,
    tokens: TokenSource | None = None,
    eval_sets: dict | None = None,
    on_step: Optional[Callable[[int, int, float, float], None]] = None,
    callbacks: Sequence[Callback] = (),
) -> dict:
    """Train (or resume) the run described by ``cfg``; return its summary as a dict (the keys of
    ``summary.json``, which is written too).

    Progress lines (:class:`ProgressLines`: about every 10 s, and resume, branch and divergence
    lines) go to ``log`` if given, else to the logger ``scalelab.train`` (unless ``callbacks``
    holds a :class:`ProgressLines` of its own); ``on_step(step, total_steps, loss, tokens_per_s)``,
    if given, is called after every optimiser step (progress bars; keep it cheap). ``callbacks``
    run after the run's records (:class:`RunRecords`).

    ``tokens`` and ``eval_sets`` ({name: 1-D token array}) replace the config's ``[data]`` when
    given, which is how another data pipeline plugs in (any :class:`TokenSource`).

    Inside a torchrun (or an initialised ``torch.distributed`` group of several processes) every
    process calls this; they train one run data-parallel and only rank 0 writes or logs (see
    :mod:`scalelab.train.distributed`). Every process returns the same summary.
    """
    chosen = [RunRecords()]
    if log is not None or not any(isinstance(cb, ProgressLines) for cb in callbacks):
        chosen.append(ProgressLines(sink=log))
    if on_step is not None:
        chosen.append(StepFunction(on_step))
    trainer = Trainer(
        cfg,
        resume=resume,
        out_dir=out_dir,
        source=source,
        tokens=tokens,
        eval_sets=eval_sets,
        callbacks=[*chosen, *callbacks],
    )
    return trainer.run().to_dict()
