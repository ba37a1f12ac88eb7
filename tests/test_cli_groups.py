"""The command line loads only the group of the command it runs, and its table of groups is
complete: every registered command is listed under the module that registers it."""

from __future__ import annotations

import importlib
import subprocess
import sys

from scalelab import cli
from scalelab.cli.common import app


def _registered() -> set[str]:
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    return names | {g.name for g in app.registered_groups}


def test_every_command_is_in_its_group():
    for module, commands in cli.GROUPS.items():
        before = _registered()
        importlib.import_module(f"scalelab.cli.{module}")
        added = _registered() - before
        assert added <= set(commands), f"{module} registers {sorted(added - set(commands))}"
    listed = {c for commands in cli.GROUPS.values() for c in commands}
    assert _registered() == listed


def test_a_fitting_command_loads_neither_torch_nor_the_ladder():
    probe = (
        "import sys, io, contextlib; from scalelab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): code = main(['forms', '--json'])\n"
        "print(code, sorted(m for m in ('torch', 'scalelab.ladder', 'scalelab.train') "
        "if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(maxsplit=1) == ["0", "[]\n"], r.stdout


def test_help_lists_every_command():
    r = subprocess.run(
        [sys.executable, "-m", "scalelab.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    for commands in cli.GROUPS.values():
        for name in commands:
            assert f" {name} " in r.stdout, name


def test_a_group_with_one_command_is_still_a_subcommand():
    """``scalelab demo`` loads only the demo module, whose one command must stay ``demo``."""
    r = subprocess.run(
        [sys.executable, "-m", "scalelab.cli", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "scalelab demo [OPTIONS]" in " ".join(r.stdout.split())


def _help(words: list[str]) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli.main([*words, "--help"]) == 0
    return buffer.getvalue()


def test_help_shows_no_bool_values_and_plain_argument_names():
    """On/off options (``--json``, ``--help``) take no value, so ``--help`` shows none; usage
    lines name arguments plainly (``CONFIG``, not ``{config}``)."""
    cli.load_commands()
    commands = [[c] for cs in cli.GROUPS.values() for c in cs if c not in ("data", "ladder")]
    commands += [["data", "prepare"], ["data", "info"], ["ladder", "run"], ["ladder", "status"]]
    for words in commands:
        text = _help(words)
        usage = next(line for line in text.splitlines() if "Usage:" in line)
        assert "<bool>" not in text, words
        assert "{" not in usage, (words, usage)


def test_every_json_output_is_strict():
    """Every ``--json`` goes through ``emit_json``: numbers that could not be computed (NaN,
    infinities, in numpy types too) come out as null, never as non-standard JSON constants."""
    import contextlib
    import io
    import json

    import numpy as np

    from scalelab.cli.common import emit_json

    buffer = io.StringIO()
    value = {"a": float("nan"), "b": [1.5, np.float64("inf")], "c": np.array([2.0, -np.inf])}
    with contextlib.redirect_stdout(buffer):
        emit_json(value)

    def refuse(name):
        raise ValueError(name)

    printed = json.loads(buffer.getvalue(), parse_constant=refuse)
    assert {k: printed[k] for k in "abc"} == {"a": None, "b": [1.5, None], "c": [2.0, None]}
    assert set(printed["null_reasons"]) == {"a", "b[1]", "c[1]"}
    from scalelab.cli.common import json_text

    assert json.loads(json_text(value), parse_constant=refuse)["b"] == [1.5, None]
