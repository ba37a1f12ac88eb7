"""Task evaluation of a finished run or a checkpoint (``scalelab tasks eval``).

    result = evaluate_run("out/run", ["cloze", "my_task.jsonl"])   # or ".../checkpoint.pt"
    result["rows"]      # run-table rows, one per (task, bucket), as the trainer's callback writes

The model is rebuilt from the checkpoint's own run config and weights (a run folder's
``checkpoint.pt``: the final one, kept unless ``[checkpoint] keep_final = false``). Task sets and
the tokenizer come from the run's prepared data folder (``[data] train``), or from ``data`` when
given (the run moved, or its config named relative paths). Scoring is in fp32, on CUDA when
available.
"""

from __future__ import annotations

import pickle
import time
import zipfile
from pathlib import Path
from typing import Optional

import torch

from scalelab.errors import InputError
from scalelab.model.gpt import GPT
from scalelab.train.checkpoint import load_checkpoint
from scalelab.train.config import config_from_dict
from scalelab.train.plan import CHECKPOINT, plan_run
from scalelab.train.records import common_columns
from scalelab.train.taskcallback import load_run_tasks
from scalelab.train.taskeval import evaluate_tasks


def _load(path: str | Path) -> tuple[Path, dict]:
    p = Path(path).expanduser()
    ckpt = p / CHECKPOINT if p.is_dir() else p
    if not ckpt.is_file():
        raise InputError(
            f"{p}: no checkpoint ({CHECKPOINT}) here; give a run folder trained with "
            "[checkpoint] keep_final = true, or a checkpoint file"
        )
    try:
        state = load_checkpoint(ckpt)
    except (ValueError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise InputError(f"{ckpt}: not a scalelab checkpoint ({reason})") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise InputError(f"{ckpt}: not a scalelab checkpoint (no model or config)")
    return ckpt, state


def evaluate_run(
    path: str | Path,
    tasks: list[str],
    *,
    data: Optional[str] = None,
    examples: Optional[int] = None,
    device: str = "auto",
) -> dict:
    """Evaluate the run's (or checkpoint's) model on ``tasks`` (task files or ``cloze`` / ``mc``);
    returns ``{"run_id", "step", "checkpoint", "seconds", "rows"}``."""
    if not tasks:
        raise InputError("--tasks: name at least one task file (or cloze / mc)")
    ckpt, state = _load(path)
    raw = dict(state["config"])
    raw["eval"] = {**raw.get("eval", {}), "tasks": list(tasks)}
    if examples is not None:
        raw["eval"]["task_examples"] = int(examples)
    if data is not None:
        raw["data"] = {**raw.get("data", {}), "train": str(Path(data).expanduser().resolve())}
    cfg = config_from_dict(raw, str(ckpt))
    plan = plan_run(cfg, str(ckpt))
    sets = load_run_tasks(cfg, str(ckpt))
    dev = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    )
    model = GPT(plan.gpt)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise InputError(f"{ckpt}: weights do not match the checkpoint's config ({exc})") from None
    model.to(dev)
    step = int(state.get("step", 0))
    general = [
        r
        for r in state.get("rows", [])
        if r.get("run_id") == cfg.run_id and r.get("step") == step and r.get("task") is None
    ]
    if general:
        base = next((r for r in general if r.get("eval_set") == "val"), general[0])
    else:
        tokens = step * plan.batch_tokens
        base = {
            **common_columns(plan, cfg, cfg.run_id),
            "D": tokens,
            "C": 6.0 * plan.n_params * tokens,
            "step": step,
        }
    t0 = time.perf_counter()
    rows = evaluate_tasks(model, sets, plan.gpt.n_ctx)
    seconds = time.perf_counter() - t0
    notes = [
        f"{s.name}: scored {s.n_examples} of its {s.available} examples (the cap, [eval] "
        f"task_examples = {cfg.eval.task_examples}); give --examples {s.available} to score all"
        for s in sets
        if s.available
    ]
    return {
        "run_id": cfg.run_id,
        "step": step,
        "checkpoint": str(ckpt),
        "seconds": seconds,
        "rows": [{**base, **r} for r in rows],
        "notes": notes,
    }
