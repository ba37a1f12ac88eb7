"""Atomic checkpoints: one file holding model, optimiser, RNG states, step (the data position and
the schedule are pure functions of the step) and the run's records so far.

Written to a temporary file beside the target, fsynced, then renamed: a run killed at any moment
(SIGKILL included) leaves either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from scalelab.atomic import atomic_path

FORMAT_VERSION = 1


def rng_state() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` (plus the format version) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save({"format": FORMAT_VERSION, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
    return path


def load_checkpoint(path: str | os.PathLike, mmap: bool = False) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (our own file, so full unpickling);
    ``mmap=True`` maps the tensors instead of reading them (to check a checkpoint cheaply)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=False, mmap=mmap)
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format {state.get('format')!r}, expected {FORMAT_VERSION}"
        )
    return state
