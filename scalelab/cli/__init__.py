"""The ``scalelab`` command line: thin typer commands over the Python API, one module per group.

Every command that computes something can print JSON (``--json``). Bad input exits with status 2
and one line per problem; a numerical failure exits with status 3; nothing is half-written.
"""

from __future__ import annotations

import sys
from typing import Optional

from scalelab.cli.common import app, err
from scalelab.errors import ScalelabError

# Importing a group registers its commands on ``app``, in this order in ``scalelab --help``.
from scalelab.cli import laws, data, plan, report, train, ladder, demo  # noqa: E402, F401, I001  # isort: skip


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

