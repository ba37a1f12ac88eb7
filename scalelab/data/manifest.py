"""A prepared data directory read back: its manifest (checked) and a summary of it.

The directory is written by :func:`scalelab.data.prepare.prepare`; everything that uses one (the
loader, the ladder, the report's checklist, ``scalelab data info``) reads it through here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scalelab.errors import InputError

FORMAT = "scalelab-data/1"


def read_manifest(directory: str | Path) -> dict[str, Any]:
    d = Path(directory).expanduser()
    path = d / "manifest.json"
    if not d.is_dir():
        raise InputError(f"{d}: no such data directory")
    if not path.is_file():
        raise InputError(
            f"{d}: not a scalelab data directory (no manifest.json); build one with "
            f"`scalelab data prepare`"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise InputError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def info(directory: str | Path) -> dict[str, Any]:
    """Summary of a data directory: sizes on disk, token counts per split, dedup statistics."""
    d = Path(directory).expanduser()
    m = read_manifest(d)
    splits = {}
    for name, s in m["splits"].items():
        f = d / s["file"]
        if not f.is_file():
            raise InputError(f"{f}: missing (listed in manifest.json)")
        expect = s["tokens"] * np.dtype(m["dtype"]).itemsize
        if f.stat().st_size != expect:
            raise InputError(
                f"{f}: {f.stat().st_size} bytes, manifest says {expect}; the directory is damaged"
            )
        splits[name] = {k: s[k] for k in ("role", "docs", "tokens", "bytes")} | {
            "file_bytes": f.stat().st_size
        }
    pool = m["dedup"]["pool"]
    return {
        "directory": str(d.resolve()),
        "name": m["name"],
        "data_hash": m["data_hash"],
        "created_utc": m["created_utc"],
        "tokenizer": m["tokenizer"],
        "splits": splits,
        "dedup": {
            "pool": {
                k: pool[k]
                for k in (
                    "docs_in",
                    "docs_kept",
                    "exact_duplicates",
                    "near_duplicates",
                    "bytes_removed",
                    "tokens_removed_estimate",
                )
            },
            "eval": {
                k: {
                    "docs_in": v["docs_in"],
                    "docs_kept": v["docs_kept"],
                    "duplicates": v["exact_duplicates"] + v["near_duplicates"],
                    "overlaps_train_pool": v["overlaps_train_pool"],
                }
                for k, v in m["dedup"]["eval"].items()
            },
        },
        "effective_train_tokens": m["effective_tokens"]["train"],
        "sources": [
            {
                "name": s["name"],
                "role": s["role"],
                "licence": s["licence"],
                "docs": s["read"]["docs"],
                "bytes": s["read"]["bytes"],
            }
            for s in m["sources"]
        ],
        "warnings": m.get("warnings", []),
        "disk_bytes": sum(f.stat().st_size for f in d.iterdir() if f.is_file()),
    }
