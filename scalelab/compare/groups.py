"""Split a run table into groups by one column, and check each group can carry a law.

The grouping column is any column of the table (``recipe``, ``eval_set``, ``dataset``, ...), or
``shape``: when the table has no ``shape`` column it is derived from ``n_layer`` and ``d_model``
(``L12-d768``). ``eval_set`` is special: the rows of each evaluation set are selected as that
evaluation set (the same runs, scored on several sets), where any other grouping first selects the
one evaluation set the fit uses (``--eval-set``, default ``val``) and then splits the runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from scalelab.errors import InputError
from scalelab.laws.formkit import Form
from scalelab.laws.options import FitOptions
from scalelab.runs.table import RunTable

MIN_SIZES = 3
"""Distinct model sizes (N) each group needs for a law in N to be compared across groups."""
SIZE_RTOL = 0.01
"""Sizes within this relative distance are the same size (matching rungs across groups)."""


@dataclass
class Group:
    """One group's rows, as a fit reads them."""

    name: str
    table: RunTable  # selected rows (one eval set, final points unless asked otherwise)
    X: dict[str, np.ndarray]  # N, D and C under the fit's conventions
    loss: np.ndarray
    run_ids: np.ndarray

    @property
    def n_runs(self) -> int:
        return int(len(set(map(str, self.run_ids))))

    def sizes(self) -> np.ndarray:
        return distinct(self.table["N"].astype(float))

    def subset(self, keep: np.ndarray) -> Group:
        return Group(
            self.name,
            self.table.with_data(self.table.data[keep]),
            {v: x[keep] for v, x in self.X.items()},
            self.loss[keep],
            self.run_ids[keep],
        )


def distinct(values: np.ndarray, rtol: float = SIZE_RTOL) -> np.ndarray:
    """Sorted distinct values, values within ``rtol`` of the previous one merged."""
    out: list[float] = []
    for v in np.sort(np.asarray(values, dtype=float)):
        if not out or v > out[-1] * (1 + rtol):
            out.append(float(v))
    return np.array(out)


def with_shape(table: RunTable) -> RunTable:
    """The table with a ``shape`` column (``L{n_layer}-d{d_model}``) when it has none."""
    if table.has("shape"):
        return table
    need = [c for c in ("n_layer", "d_model") if not table.has(c)]
    if need:
        raise InputError(
            f"{table.source}: --by shape needs a 'shape' column or the columns n_layer and "
            f"d_model (missing: {', '.join(need)})"
        )
    data = table.data.copy()
    data["shape"] = [
        f"L{int(a)}-d{int(b)}" for a, b in zip(data["n_layer"], data["d_model"], strict=False)
    ]
    return table.with_data(data, "shape derived from n_layer and d_model")


def group_names(table: RunTable, by: str) -> list[str]:
    if not table.has(by):
        raise InputError(
            f"{table.source}: --by: no column '{by}' to group on; columns are "
            f"{list(table.data.columns)}"
        )
    values = table.data[by]
    if values.isna().all():
        raise InputError(f"{table.source}: --by: column '{by}' is empty")
    names = sorted(values.dropna().astype(str).unique())
    if len(names) < 2:
        raise InputError(
            f"{table.source}: --by: column '{by}' has a single group ({names[0]!r}); a "
            "comparison needs at least two"
        )
    return names


def split(
    table: RunTable,
    by: str,
    form: Optional[Form],
    options: FitOptions,
    groups: Optional[Sequence[str]] = None,
    min_sizes: int = MIN_SIZES,
) -> list[Group]:
    """The groups of ``table`` by column ``by``, each selected as a fit selects its rows.

    ``groups`` keeps (and orders) only the named groups. ``form`` None: no check of sizes.
    """
    if by == "shape":
        table = with_shape(table)
    names = group_names(table, by)
    if groups:
        unknown = [g for g in groups if g not in names]
        if unknown:
            raise InputError(
                f"{table.source}: --group: no group {unknown[0]!r} in column '{by}'; groups "
                f"are {names}"
            )
        names = list(dict.fromkeys(groups))
        if len(names) < 2:
            raise InputError("--group: a comparison needs at least two groups")
    conventions = options.conventions
    points = options.points or (form.points if form is not None else "final")
    if by != "eval_set":
        selected = table.select(eval_set=options.eval_set, task=options.task, points=points)
    out = []
    for name in names:
        if by == "eval_set":
            rows = table.where(eval_set=name)
            part = rows.select(eval_set=name, task=options.task, points=points)
        else:
            keep = selected.data[by].astype(str) == name
            if not keep.any():
                raise InputError(
                    f"{table.source}: --by {by}: group {name!r} has no rows left after "
                    "selecting the evaluation set and points"
                )
            part = selected.with_data(selected.data[keep.to_numpy()])
        variables = conventions.variables(part)
        X = {v: variables[v] for v in ("N", "D", "C")}
        if form is not None and "S" in form.variables:
            raise InputError(f"form '{form.name}': a comparison needs a law in N and D, or in C")
        out.append(Group(name, part, X, part["loss"].astype(float), part.run_ids))
    if form is not None:
        for g in out:
            _check(g, by, form, min_sizes, table.source)
    return out


def _check(group: Group, by: str, form: Form, min_sizes: int, source: str) -> None:
    sizes = group.sizes()
    if "N" in form.variables and len(sizes) < min_sizes:
        raise InputError(
            f"{source}: --by {by}: group {group.name!r} has {len(sizes)} model size(s) (column "
            f"N); a comparison needs at least {min_sizes} per group"
        )
    n, p = len(group.loss), len(form.params)
    if n <= p:
        raise InputError(
            f"{source}: --by {by}: group {group.name!r} has {n} run(s); form '{form.name}' "
            f"needs at least {p + 1} per group"
        )
    for v in form.variables:
        if distinct(group.X[v]).size < 2:
            raise InputError(
                f"{source}: --by {by}: group {group.name!r}: {v} takes a single value; form "
                f"'{form.name}' needs runs that vary {v}"
            )
