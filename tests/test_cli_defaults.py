"""One default per option: every command that takes a flag gives it the same default, unless the
command's other default is recorded, with its reason, in ``cli/options.py: DEFAULT_OVERRIDES``."""

from __future__ import annotations

import importlib
from collections import defaultdict

import typer

from scalelab.cli import GROUPS, app
from scalelab.cli.options import DEFAULT_OVERRIDES, SHARED, default
from scalelab.laws.options import FitOptions
from scalelab.tasks.options import TaskOptions


def _defaults() -> dict[str, dict[str, object]]:
    """{flag: {command path: default}} over every command of every group."""
    for module in GROUPS:
        importlib.import_module(f"scalelab.cli.{module}")
    found: dict[str, dict[str, object]] = defaultdict(dict)

    def walk(command, path: list[str]) -> None:
        if hasattr(command, "commands"):  # a group (typer carries its own copy of click)
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        for param in command.params:
            if param.param_type_name == "option":
                flag = max(param.opts, key=len)
                found[flag][" ".join(path)] = param.default

    walk(typer.main.get_command(app), [])
    return found


def _conflicts(found: dict[str, dict[str, object]]) -> list[str]:
    problems = []
    for flag, by_command in found.items():
        plain = {c: v for c, v in by_command.items() if (c, flag) not in DEFAULT_OVERRIDES}
        if flag in SHARED:
            plain["(typed option class)"] = SHARED[flag].default
        if len({repr(v) for v in plain.values()}) > 1:
            problems.append(f"{flag}: {plain}")
        for command, value in by_command.items():
            if (command, flag) in DEFAULT_OVERRIDES:
                recorded = DEFAULT_OVERRIDES[command, flag][0]
                if recorded is not ... and repr(value) != repr(recorded):
                    problems.append(f"{command} {flag}: {value!r}, the table says {recorded!r}")
    return problems


def test_every_command_agrees_on_each_default_or_says_why():
    found = _defaults()
    assert "fit" in found["--bootstrap"] and "tasks predict" in found["--bootstrap"]
    assert _conflicts(found) == []


def test_the_check_catches_an_unrecorded_default():
    found = _defaults()
    found["--bootstrap"]["fit"] = 7  # a command that quietly changed its default
    found["--level"]["compare"] = 0.9
    problems = _conflicts(found)
    assert any(p.startswith("--bootstrap") for p in problems)
    assert any(p.startswith("--level") for p in problems)


def test_overrides_name_real_commands_and_give_reasons():
    found = _defaults()
    for (command, flag), (_, reason) in DEFAULT_OVERRIDES.items():
        assert command in found.get(flag, {}), f"{command} {flag}: no such command option"
        assert len(reason) > 10


def test_defaults_come_from_the_typed_classes():
    assert default("--bootstrap", "fit") == FitOptions().bootstrap
    assert default("--tie", "fit") == FitOptions().tie
    assert default("--smooth", "tasks predict") == TaskOptions().smooth
    assert default("--bootstrap", "tasks predict") == TaskOptions().bootstrap
    assert _defaults()["--through"] == {
        c: TaskOptions().through for c in ("tasks predict", "tasks backtest", "tasks rank")
    }


def test_task_options_match_the_task_api():
    """The Python API (``tasks.predict``, ``tasks.backtest``, ``tasks.predictability``) and the
    command line take the same defaults (a task backtest's API bootstrap is none, the command's
    100: see DEFAULT_OVERRIDES)."""
    import inspect

    from scalelab import tasks

    for function in (tasks.predict, tasks.backtest, tasks.predictability):
        params = inspect.signature(function).parameters
        for name in ("through", "link", "form", "seed", "level", "smooth", "skip", "step1_points"):
            if name in params:
                assert params[name].default == getattr(TaskOptions, name), (function, name)
    assert inspect.signature(tasks.predict).parameters["bootstrap"].default == (
        TaskOptions.bootstrap
    )


def test_each_shared_option_names_where_its_default_comes_from():
    """``Shared.source`` (shown to readers of ``cli/options.py``) names the typed attribute the
    default is read from."""
    from scalelab.laws import options as law_options

    classes = {"FitOptions": FitOptions, "TaskOptions": TaskOptions, "laws.options": law_options}
    for flag, spec in SHARED.items():
        owner, attribute = spec.source.rsplit(".", 1)
        assert getattr(classes[owner], attribute) == spec.default, flag
