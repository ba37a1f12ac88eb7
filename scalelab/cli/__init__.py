"""The ``scalelab`` command line: thin typer commands over the Python API, one module per group.

Every command that computes something can print JSON (``--json``). Bad input exits with status 2
and one line per problem; a numerical failure exits with status 3; nothing is half-written.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Optional

import typer

try:  # recent typer releases carry their own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - typer on top of click
    from click import exceptions as click_exceptions

from scalelab.cli.common import app, err
from scalelab.errors import ScalelabError

#: The command-line modules, in the order of ``scalelab --help``, and the commands each registers.
#: Importing a module registers its commands on ``app``; ``main`` imports only the module of the
#: command it runs (a fit need not load the ladder's or the trainer's dependencies).
GROUPS: dict[str, tuple[str, ...]] = {
    "laws": ("fit", "optimal", "predict", "isoflop", "forms", "published", "examples"),
    "backtest": ("backtest",),
    "curves": ("curves",),
    "bcrit": ("bcrit",),
    "data": ("data",),
    "plan": ("plan", "catalog", "devices"),
    "watch": ("watch",),
    "report": ("report", "sensitivity"),
    "compare": ("compare",),
    "tasks": ("tasks",),
    "train": ("train", "bench"),
    "ladder": ("ladder",),
    "export": ("export-hf",),
    "demo": ("demo",),
}


@app.callback()
def _scalelab() -> None:
    """scalelab: a scaling-law laboratory for language models."""
    # A callback keeps ``app`` a group of commands even when only one module is loaded (typer
    # would otherwise run a lone command as the whole program: ``scalelab demo`` would fail).


def load_commands(argv: Optional[list[str]] = None) -> None:
    """Register the command ``argv`` names (its group's module), or every command when it names
    none it knows (``--help``, a typo: then the listing and the error name them all)."""
    words = [a for a in (argv or []) if not a.startswith("-")]
    wanted = [m for m, commands in GROUPS.items() if words and words[0] in commands]
    for module in wanted or GROUPS:
        importlib.import_module(f"scalelab.cli.{module}")


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI and return its exit status (usable from tests and notebooks).

    Bad input (a scalelab input error or a malformed command line) is one ``error:`` line per
    problem and status 2; a numerical failure is ``failed:`` and status 3; Ctrl-C is 130. A
    Python warning raised on the way (numpy's, a library's) is one ``warning:`` line, once, not
    Python's two-line report with its source.
    """
    if argv is None:
        argv = sys.argv[1:]
    with warnings.catch_warnings(record=True) as caught:
        try:
            return _main(argv)
        finally:
            _print_warnings(caught)


def _print_warnings(caught: list) -> None:
    seen = set()
    for w in caught:
        text = " ".join(str(w.message).split())[:300]
        if text in seen:
            continue
        seen.add(text)
        err.print(
            f"warning: {text} ({w.category.__name__})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _main(argv: list[str]) -> int:
    load_commands(argv)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="scalelab", standalone_mode=False)
    except ScalelabError as exc:
        prefix = "error" if exc.exit_code == 2 else "failed"
        for line in exc.lines:
            err.print(f"{prefix}: {line}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except click_exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click_exceptions.UsageError as exc:
        err.print(f"error: {_usage_line(exc)}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except click_exceptions.ClickException as exc:
        err.print(f"error: {exc.format_message()}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return 130
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return result if isinstance(result, int) else 0


def _usage_line(exc) -> str:
    """``scalelab optimal: --flops: expected ...``: the command, then click's one-line message."""
    where = exc.ctx.command_path if exc.ctx is not None else "scalelab"
    message = " ".join(exc.format_message().split())
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{where}: {message} (see '{where} --help')"


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
