"""``scalelab <group> --help`` loads no fitting stack: neither pandas nor numpy is imported (they
cost about 0.45 s CPU per call). Each check runs the CLI in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scalelab.cli import GROUPS

_PROBE = """
import contextlib, io, json, sys
from scalelab.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    status = main(sys.argv[1:])
heavy = sorted(m for m in ("pandas", "numpy", "scipy", "torch", "pyarrow") if m in sys.modules)
print(json.dumps({"status": status, "heavy": heavy, "help": out.getvalue()}))
"""

#: One command of every command-line module (``scalelab.cli.GROUPS``): each module's options, with
#: their defaults read from the typed option classes and the watch defaults, load no numerical
#: library; the stacks are imported inside the commands.
LIGHT = tuple(commands[0] for commands in GROUPS.values())


def _help(*argv: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("command", LIGHT)
def test_group_help_imports_no_pandas_or_numpy(command):
    assert {"tasks", "fit", "watch", "ladder", "demo"} <= set(LIGHT)
    result = _help(command, "--help")
    assert result["status"] == 0
    assert "Usage: scalelab" in result["help"]
    assert result["heavy"] == []


def test_a_subcommands_help_shows_the_typed_defaults_without_pandas():
    result = _help("tasks", "predict", "--help")
    assert result["status"] == 0 and result["heavy"] == []
    assert "task_loss" in result["help"]  # TaskOptions.through's default, read from the class


def test_the_listing_of_every_command_imports_no_pandas_or_numpy():
    """``scalelab --help`` loads every command module."""
    result = _help("--help")
    assert result["status"] == 0 and result["heavy"] == []
    assert all(c in result["help"] for commands in GROUPS.values() for c in commands)


def test_the_probe_sees_pandas_when_a_command_loads_it():
    """The check can fail: loading the run table (as running a fit does) imports pandas."""
    probe = "import sys, scalelab.runs.table; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
