"""Shared helpers for the training tests: tiny TOML configs written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

TINY = {
    "run_id": "tiny",
    "seed": 0,
    "threads": 1,
    "model": {"vocab_size": 64, "n_ctx": 32, "n_layer": 2, "d_model": 32, "n_head": 2},
    "data": {"train": "synthetic", "synthetic_tokens": 20000},
    "train": {"tokens": 32 * 8 * 40, "batch_tokens": 256, "lr": 3e-3, "warmup_frac": 0.1},
    "eval": {"points": 5, "tokens": 1024},
    "checkpoint": {"every_steps": 10},
}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def merge(base: dict, **sections) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def write_config(path: Path, cfg: dict) -> Path:
    lines = [f"{k} = {_toml_value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for section, values in cfg.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
