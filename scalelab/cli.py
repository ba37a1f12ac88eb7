"""The ``scalelab`` command line: thin typer commands over the Python API.

Every command that computes something can print JSON (``--json``). Bad input exits with status 2
and one line per problem; a numerical failure exits with status 3; nothing is half-written.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer
from rich.console import Console

from scalelab.errors import ScalelabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="scalelab: a scaling-law laboratory for language models.")
out = Console()
err = Console(stderr=True)


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (numbers as plain floats)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI and return its exit status (usable from tests and notebooks)."""
    try:
        app(args=argv, prog_name="scalelab", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except ScalelabError as exc:
        prefix = "error" if exc.exit_code == 2 else "failed"
        for line in exc.problems:
            err.print(f"{prefix}: {line}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
