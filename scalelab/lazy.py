"""Lazy package faces (PEP 562): a package's public names, imported on first use.

``scalelab.laws`` and ``scalelab.tasks`` export their API (``laws.fit``, ``tasks.predict``) from
their ``__init__``; importing those names eagerly would load pandas and numpy whenever any
submodule is imported, e.g. the light ``scalelab.laws.options`` that ``scalelab fit --help`` reads
its defaults from. :func:`exports` gives a package a module ``__getattr__`` and ``__dir__`` that
import each name from its module when it is first read::

    __getattr__, __dir__ = exports(__name__, {"fit": "scalelab.laws.select", ...})

A name that is also a submodule (``scalelab.laws.fit``, ``scalelab.tasks.predict``) stays the
exported function, as with an eager ``from .select import fit``: loading the submodule does not
rebind it. Any other submodule is an attribute too (``laws.forms``, ``laws.select``), loaded on
first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Mapping


class _Face(types.ModuleType):
    """A package whose exported names win over its submodules of the same name."""

    def __setattr__(self, name: str, value) -> None:
        if name in self.__dict__.get("_lazy_exports", ()) and isinstance(value, types.ModuleType):
            return  # the import system binding a submodule of an exported name's name
        super().__setattr__(name, value)


def exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` exporting ``names`` {name: the module
    it is read from}; a submodule (``laws.forms``) needs no entry."""
    module = sys.modules[package]
    module.__class__ = _Face
    module._lazy_exports = dict(names)

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
        elif not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}"):
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | set(names) | set(module.__dict__.get("__all__", ())))

    return __getattr__, __dir__
