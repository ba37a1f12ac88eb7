"""Reading TOML input files (run configs, data specs, ladder specs) with scalelab's input errors."""

from __future__ import annotations

import sys
from pathlib import Path

from scalelab.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib


def read(path: str | Path, what: str = "file") -> dict:
    """The TOML document at ``path`` as a dict; a missing file or invalid TOML is one InputError line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
