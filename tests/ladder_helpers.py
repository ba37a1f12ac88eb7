"""Tiny ladder specs for the ladder tests (seconds per run on 2 CPU cores)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

from train_helpers import merge, write_config

REPO = Path(__file__).resolve().parents[1]

TINY_LADDER = {
    "name": "t",
    "threads": 1,
    "device": "cpu",
    "precision": "fp32",
    "data": {"preset": "markov", "markov_tokens": 40000},
    "model": {"n_ctx": 16, "vocab_size": 64},
    "train": {"schedule": "wsd"},
    "eval": {"points": 3, "tokens": 512},
    "checkpoint": {"every_steps": 20},
    "grid": {
        "shapes": [
            {"n_layer": 1, "d_model": 16, "n_head": 2},
            {"n_layer": 2, "d_model": 16, "n_head": 2},
        ],
        "tokens_per_param": [4, 12],
    },
    "hparams": {"min_steps": 40},
}


def ladder_dict(**sections) -> dict:
    return merge(copy.deepcopy(TINY_LADDER), **sections)


def write_spec(path: Path, spec: dict) -> Path:
    return write_config(path, spec)


def cli(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "scalelab.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        **kw,
    )


def popen(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "scalelab.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
