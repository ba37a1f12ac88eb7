"""Checking a law document (a law JSON file, or the dict it holds) in one place.

:meth:`Law.from_dict <scalelab.laws.law.Law.from_dict>` calls :func:`check` before building a law:
every key is checked against what a law holds, and ``params`` against its form's parameters and
bounds, so that a law that loads can predict. Each problem is one line naming the source and the
key (``law.json: params.beta: expected a number in [0, 5], got -0.3``); all are reported at once.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from scalelab.errors import InputError
from scalelab.laws import forms
from scalelab.laws.formkit import Form, Param

SHOWN = 40
TOLERANCE = 1e-9
"""Relative slack on a parameter's bounds (a fit that stopped on a bound saves it rounded)."""

_MAPPINGS = ("starts", "conventions", "data", "provenance")
_OPTION_TYPES: dict[str, tuple] = {
    "loss": (str,),
    "delta": (int, float, type(None)),
    "grid": (dict, type(None)),
    "bootstrap": (int,),
    "seed": (int,),
    "level": (int, float),
    "budget": (int, float),
    "eval_set": (str, type(None)),
    "task": (str, type(None)),
    "points": (str, type(None)),
    "max_iter": (int,),
    "auto": (dict, type(None)),
    "optimizer": (str,),
    "bounds": (dict,),
}


def _shown(value: Any) -> str:
    text = repr(value)
    if isinstance(value, (list, dict)):
        text = f"{type(value).__name__} {text}"
    elif value is None:
        text = "null"
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check(d: Any, source: str, fields: Collection[str]) -> dict:
    """The keyword arguments of :class:`~scalelab.laws.law.Law` (whose fields are ``fields``)
    from a law document, or an :class:`InputError` with one line per problem."""
    if not isinstance(d, dict):
        raise InputError(
            f"{source}: not a scalelab law (expected a JSON object with 'form' and 'params', got "
            f"{_shown(d) if not isinstance(d, (list, dict)) else type(d).__name__})"
        )
    missing = [k for k in ("form", "params") if k not in d]
    if missing:
        raise InputError(
            f"{source}: not a scalelab law (expected a JSON object with 'form' and 'params'; "
            f"missing {', '.join(repr(k) for k in missing)})"
        )
    if not isinstance(d["form"], str):
        raise InputError(
            f"{source}: form: expected a form name such as 'chinchilla' (see `scalelab forms`), "
            f"got {_shown(d['form'])}"
        )
    try:
        form = forms.get(d["form"])
    except InputError as exc:
        raise InputError(f"{source}: form: {exc.problems[0]}") from None
    problems: list[str] = []
    problems += _params(d["params"], form, source)
    problems += _samples(d.get("samples"), form, source)
    problems += _numbers_by_name(d.get("ci", {}), "ci", source, pairs=True)
    problems += _numbers_by_name(d.get("derived", {}), "derived", source, pairs=False)
    if d.get("objective") is not None and not _is_number(d["objective"]):
        problems.append(
            f"{source}: objective: expected a number or null, got {_shown(d['objective'])}"
        )
    for key in ("n_points", "n_runs"):
        value = d.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)):
            problems.append(
                f"{source}: {key}: expected a whole number or null, got {_shown(value)}"
            )
    for key in _MAPPINGS:
        if d.get(key) is not None and not isinstance(d[key], dict):
            problems.append(f"{source}: {key}: expected a JSON object, got {_shown(d[key])}")
    warnings = d.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        problems.append(f"{source}: warnings: expected a list of strings, got {_shown(warnings)}")
    if not isinstance(d.get("version", ""), str):
        problems.append(f"{source}: version: expected a string, got {_shown(d['version'])}")
    problems += _options(d.get("options"), source)
    if problems:
        raise InputError(
            problems[:8] + ([f"... and {len(problems) - 8} more"] if len(problems) > 8 else [])
        )

    kwargs = {k: v for k, v in d.items() if k in fields}
    kwargs["params"] = {p.natural: float(d["params"][p.natural]) for p in form.params}
    for key in (*_MAPPINGS, "ci", "derived"):
        if kwargs.get(key) is None:
            kwargs.pop(key, None)
    if kwargs.get("samples") is not None:
        kwargs["samples"] = np.asarray(kwargs["samples"], dtype=float).reshape(-1, len(form.params))
    if "ci" in kwargs:
        kwargs["ci"] = {
            k: [_float(x) for x in v] if v is not None else [math.nan, math.nan]
            for k, v in kwargs["ci"].items()
        }
    if "derived" in kwargs:
        kwargs["derived"] = {k: _float(v) for k, v in kwargs["derived"].items()}
    if kwargs.get("options") is None:
        kwargs["options"] = {}
    return kwargs


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def natural_bounds(p: Param) -> tuple[float, float]:
    """A parameter's bounds in the units a law file writes it (``E``, not ``log E``)."""
    return (math.exp(p.lower), math.exp(p.upper)) if p.log else (p.lower, p.upper)


def _params(params: Any, form: Form, source: str) -> list[str]:
    names = [p.natural for p in form.params]
    if not isinstance(params, dict):
        return [
            f"{source}: params: expected a JSON object {{{', '.join(names)}}} for form "
            f"'{form.name}', got {_shown(params)}"
        ]
    problems = []
    unknown = [k for k in params if k not in names]
    if unknown:
        problems.append(
            f"{source}: params: unknown parameter(s) {', '.join(map(repr, unknown[:5]))} for form "
            f"'{form.name}' (its parameters: {', '.join(names)})"
        )
    lacking = [n for n in names if n not in params]
    if lacking:
        problems.append(
            f"{source}: params: law of form '{form.name}' lacks parameter(s) {', '.join(lacking)}"
        )
    for p in form.params:
        key = f"{source}: params.{p.natural}"
        if p.natural not in params:
            continue
        value = params[p.natural]
        lo, hi = natural_bounds(p)
        expected = f"expected a number in [{lo:.3g}, {hi:.3g}]"
        if not _is_number(value) or not math.isfinite(value):
            problems.append(f"{key}: {expected}, got {_shown(value)}")
            continue
        if p.log and value <= 0:
            problems.append(f"{key}: {expected} (a positive coefficient), got {value:g}")
            continue
        internal = math.log(value) if p.log else float(value)
        slack = TOLERANCE * max(1.0, abs(p.lower), abs(p.upper))
        if not p.lower - slack <= internal <= p.upper + slack:
            problems.append(f"{key}: {expected}, got {value:g}")
    return problems


def _samples(samples: Any, form: Form, source: str) -> list[str]:
    if samples is None:
        return []
    width = len(form.params)
    internal = ", ".join(form.param_names)
    if not isinstance(samples, list):
        return [
            f"{source}: samples: expected a list of bootstrap samples (each {width} numbers: "
            f"{internal}), got {_shown(samples)}"
        ]
    for i, row in enumerate(samples):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} value(s)" if isinstance(row, list) else _shown(row)
            return [
                f"{source}: samples[{i}]: expected {width} numbers (the internal parameters "
                f"{internal} of form '{form.name}'), got {got}"
            ]
        if not all(_is_number(x) and math.isfinite(x) for x in row):
            return [f"{source}: samples[{i}]: expected finite numbers, got {_shown(row)}"]
        for p, x in zip(form.params, row):
            slack = TOLERANCE * max(1.0, abs(p.lower), abs(p.upper))
            if not p.lower - slack <= x <= p.upper + slack:
                return [
                    f"{source}: samples[{i}]: {p.name} = {x:.4g} is outside the form's bounds "
                    f"[{p.lower:.3g}, {p.upper:.3g}] (internal parameters {internal})"
                ]
    return []


def _numbers_by_name(value: Any, key: str, source: str, *, pairs: bool) -> list[str]:
    if value is None:
        return []
    what = "[low, high] pairs of numbers" if pairs else "numbers"
    one = "a [low, high] pair of numbers" if pairs else "a number"
    if not isinstance(value, dict):
        return [f"{source}: {key}: expected a JSON object of {what}, got {_shown(value)}"]
    for name, item in value.items():
        ok = (
            item is None
            or (
                isinstance(item, list)
                and len(item) == 2
                and all(x is None or _is_number(x) for x in item)
            )
            if pairs
            else item is None or _is_number(item)
        )
        if not ok:
            return [f"{source}: {key}.{name}: expected {one}, got {_shown(item)}"]
    return []


def _options(options: Any, source: str) -> list[str]:
    if options is None or options == {}:
        return []
    if not isinstance(options, Mapping):
        return [f"{source}: options: expected a JSON object, got {_shown(options)}"]
    problems = []
    for key, types in _OPTION_TYPES.items():
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, types):
                problems.append(f"{source}: options.{key}: unexpected value {_shown(value)}")
            elif isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{source}: options.{key}: expected a finite number, got {value}")
    return problems
