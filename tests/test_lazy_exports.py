"""The lazy package faces (``scalelab.lazy``): ``scalelab.laws`` and ``scalelab.tasks`` export the
same names as when their ``__init__`` imported everything, and their option modules (the
defaults' one source) import no numerical library. Import-order checks run in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import importlib, inspect, json, sys, types
first = sys.argv[1:]
for name in first:  # submodules imported before the package's names are read
    importlib.import_module(name)
out = {}
for package in ("scalelab.laws", "scalelab.tasks"):
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        namespace = {}
        exec(f"from {package} import {name} as value", namespace)
        assert namespace["value"] is value, (package, name)
        kind = "module" if isinstance(value, types.ModuleType) else type(value).__name__
        home = getattr(value, "__module__", None) or getattr(value, "__name__", None)
        out[f"{package}.{name}"] = [kind, home]
    assert set(module.__all__) <= set(dir(module)), package
print(json.dumps(out))
"""


def _run(code: str, *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    )
    return done.stdout


def _exports(*first: str) -> dict:
    return json.loads(_run(_PROBE, *first))


def test_every_exported_name_resolves_to_its_function_or_class():
    found = _exports()
    assert found["scalelab.laws.fit"] == ["function", "scalelab.laws.select"]
    assert found["scalelab.laws.fit_form"] == ["function", "scalelab.laws.fit"]
    assert found["scalelab.laws.forms"] == ["module", "scalelab.laws.forms"]
    assert found["scalelab.laws.Law"] == ["type", "scalelab.laws.law"]
    assert found["scalelab.laws.FitOptions"] == ["type", "scalelab.laws.options"]
    assert found["scalelab.laws.CHINCHILLA_BUDGET"][0] == "float"
    assert found["scalelab.tasks.predict"] == ["function", "scalelab.tasks.predict"]
    assert found["scalelab.tasks.backtest"] == ["function", "scalelab.tasks.backtest"]
    assert found["scalelab.tasks.predictability"] == ["function", "scalelab.tasks.rank"]
    assert found["scalelab.tasks.TaskPrediction"] == ["type", "scalelab.tasks.predict"]


def test_a_submodule_of_an_exported_name_does_not_shadow_it():
    """``scalelab.laws.fit`` (the module) is loaded by ``laws.select``; ``scalelab.tasks.predict``
    and ``.backtest`` are modules too: the package's attribute stays the function, as with the
    eager ``from .select import fit``, whichever is imported first."""
    first = ("scalelab.laws.fit", "scalelab.tasks.predict", "scalelab.tasks.backtest")
    assert _exports(*first) == _exports()


def test_submodules_are_attributes_and_unknown_names_are_errors():
    import scalelab.laws as laws

    assert laws.isoflop.__name__ == "scalelab.laws.isoflop"  # loaded on first use
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        laws.no_such_name  # noqa: B018


def test_the_option_modules_import_no_numerical_library():
    probe = (
        "import sys, scalelab.laws, scalelab.tasks, scalelab.laws.options, "
        "scalelab.tasks.options, scalelab.plan.watch_options; "
        "print([m for m in ('pandas', 'numpy') if m in sys.modules]); "
        "scalelab.laws.fit; print('pandas' in sys.modules)"
    )
    assert _run(probe).split("\n")[:2] == ["[]", "True"]


def test_the_task_modules_read_their_defaults_from_the_options():
    import importlib

    from scalelab.tasks import chain, data, links, options

    predict = importlib.import_module("scalelab.tasks.predict")  # the module, not tasks.predict

    assert (chain.SMOOTH, chain.SKIP, chain.STEP1_POINTS) == (
        options.SMOOTH,
        options.SKIP,
        options.STEP1_POINTS,
    )
    assert data.THROUGH is options.THROUGH and links.LINKS is options.LINKS
    assert predict.DEFAULT_BOOTSTRAP is options.DEFAULT_BOOTSTRAP
    assert set(links.PARAMS) == set(options.LINKS)  # every named link has its function
    assert options.TaskOptions().step1_points == options.STEP1_POINTS[0]


def test_the_fit_modules_read_their_choices_from_the_options():
    from scalelab.errors import InputError
    from scalelab.laws import objective, options

    assert objective.LOSSES is options.LOSSES
    with pytest.raises(InputError, match="fitting loss"):
        options.FitOptions(loss="l1")
    with pytest.raises(InputError):
        options.FitOptions(params="embedding")  # the conventions, validated on construction
