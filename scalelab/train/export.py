"""Export a run's checkpoint as a Hugging Face ``transformers`` model (``scalelab export-hf``).

A run folder (its ``checkpoint.pt``) or a checkpoint file goes in; the model's shape comes from
the run config stored in the checkpoint, the tokenizer from the prepared data folder the run
trained on (when it still exists); :func:`scalelab.model.export_hf.export_model` maps and writes.
"""

from __future__ import annotations

import os
from pathlib import Path

from scalelab.data.manifest import read_manifest
from scalelab.data.tokenize import load_saved
from scalelab.errors import InputError
from scalelab.model.config import GPTConfig
from scalelab.model.export_hf import ExportResult, export_model, target
from scalelab.train.checkpoint import load_checkpoint
from scalelab.train.config import RunConfig
from scalelab.train.plan import CHECKPOINT, _shape


def find_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint file of a run folder (``checkpoint.pt``), or ``path`` itself if a file."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if not p.exists():
        raise InputError(f"{p}: no such run folder or checkpoint file")
    ckpt = p / CHECKPOINT
    if not ckpt.is_file():
        if (p / "runs").is_dir():
            raise InputError(f"{p}: no {CHECKPOINT} here; for every run of a ladder, add --all")
        raise InputError(
            f"{p}: no {CHECKPOINT} in this folder (not a run folder, or the run was trained with "
            f"[checkpoint] keep_final = false)"
        )
    return ckpt


def check_not_inside(out_dir: str | os.PathLike, source: str | os.PathLike) -> None:
    """Refuse an output folder that holds ``source`` (it would be replaced by the export)."""
    out, src = Path(out_dir).expanduser().resolve(), Path(source).expanduser().resolve()
    if src == out or out in src.parents:
        raise InputError(
            f"{out_dir}: the export folder would replace {source}, which it holds; "
            f"choose another folder"
        )


def read_run(path: str | os.PathLike, mmap: bool = False) -> tuple[GPTConfig, dict, dict]:
    """The shape, the model's state dict and the whole checkpoint of a run folder or file
    (``mmap``: tensors mapped, not read, to check a checkpoint cheaply)."""
    ckpt = find_checkpoint(path)
    try:
        state = load_checkpoint(ckpt, mmap=mmap)
    except Exception as exc:  # a file we cannot read is bad input, not a crash
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"{ckpt}: cannot be read as a scalelab checkpoint ({reason})") from None
    if not isinstance(state.get("model"), dict) or not isinstance(state.get("config"), dict):
        raise InputError(f"{ckpt}: a scalelab checkpoint without its model or config")
    try:
        cfg = RunConfig.model_validate(state["config"])
    except ValueError as exc:
        first = " ".join(str(exc).split())[:200]
        raise InputError(f"{ckpt}: the run config inside does not validate ({first})") from None
    gpt = _shape(cfg, str(ckpt), [])
    return gpt, state["model"], state


def run_tokenizer(state: dict, notes: list[str]):
    """The tokenizer the run trained with (from its prepared data folder), or None: synthetic
    data has none; a data folder that is gone is a note, not an error."""
    train = (state.get("config") or {}).get("data", {}).get("train", "synthetic")
    if train == "synthetic":
        notes.append("no tokenizer written: the run trained on synthetic tokens")
        return None
    data = Path(train).expanduser()
    folder = data if data.is_dir() else data.parent
    if not (folder / "manifest.json").is_file():
        notes.append(
            f"no tokenizer written: {folder} is not a prepared data folder (no manifest.json)"
        )
        return None
    try:
        return load_saved(folder, read_manifest(folder)["tokenizer"])
    except (InputError, KeyError) as exc:  # a damaged data folder: the model is still exported
        why = exc.problems[0] if isinstance(exc, InputError) else f"no {exc} in its manifest"
        notes.append(f"no tokenizer written: {why}")
        return None


def export_run(
    path: str | os.PathLike, out_dir: str | os.PathLike, *, tokenizer: bool = True
) -> ExportResult:
    """Write the checkpoint of the run folder (or checkpoint file) ``path`` to ``out_dir`` as a
    ``transformers`` model with the run's tokenizer; see :mod:`scalelab.model.export_hf`."""
    check_not_inside(out_dir, find_checkpoint(path))
    gpt, weights, state = read_run(path, mmap=True)  # the optimiser's state is never read
    target(gpt)  # an unsupported variant fails before the tokenizer is read
    notes: list[str] = []
    tok = run_tokenizer(state, notes) if tokenizer else None
    if tok is not None and tok.vocab_size > gpt.vocab_size:
        notes.append(
            f"no tokenizer written: its vocabulary ({tok.vocab_size}) is larger than the "
            f"model's ({gpt.vocab_size})"
        )
        tok = None
    result = export_model(
        gpt, weights, out_dir, tokenizer=tok, source=str(find_checkpoint(path)),
        step=state.get("step"),
    )  # fmt: skip
    result.notes = notes + result.notes
    return result
