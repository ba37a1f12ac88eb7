"""Tiny ladder specs for the ladder tests (seconds per run on 2 CPU cores)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

from train_helpers import _toml_value

REPO = Path(__file__).resolve().parents[1]

TINY_LADDER = {
    "name": "t", "threads": 1, "checkpoint_every": 20, "device": "cpu", "precision": "fp32",
    "data": {"preset": "markov", "markov_tokens": 40000},
    "model": {"n_ctx": 16, "vocab_size": 64},
    "grid": {"shapes": [{"n_layer": 1, "d_model": 16, "n_head": 2}, {"n_layer": 2, "d_model": 16, "n_head": 2}],
             "tokens_per_param": [4, 12]},
    "hparams": {"min_steps": 40},
    "eval": {"points": 3, "tokens": 512},
}


def ladder_dict(**sections) -> dict:
    out = copy.deepcopy(TINY_LADDER)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def write_spec(path: Path, spec: dict) -> Path:
    lines = [f"{k} = {_toml_value(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    for k, v in spec.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "scalelab.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, **kw)


def popen(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "scalelab.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
