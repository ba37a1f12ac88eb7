"""Row conditions: ``--where COLUMN=VALUE`` and its comparisons, parsed once for every command.

A condition is ``COLUMN OP VALUE`` with OP one of ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``:

* ``=`` keeps the rows whose value, written as text, is VALUE (``dataset=c4``, ``config=rw/...``);
  on a numeric column a VALUE that reads as a quantity also matches the equal number
  (``N=1e9`` keeps the rows with N 1000000000.0, which the text alone would miss). ``!=`` keeps
  the other rows.
* ``<``, ``<=``, ``>``, ``>=`` compare numbers: VALUE goes through :func:`scalelab.units.quantity`
  (``N<=2.8B``, ``D>=10B``, ``C<1e21``); a row with no value (NaN) never passes. On a text column
  they are an :class:`~scalelab.errors.InputError` naming the column.

Several conditions are ANDed, in order; the first that leaves no row is named in the error.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.units import cut, quantity

OPERATORS = ("<=", ">=", "!=", "<", ">", "=")
"""The comparisons a condition may use (the two-character ones first: they are matched first)."""
ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_CONDITION = re.compile(r"\s*([^<>!=]*?)\s*(<=|>=|!=|<|>|=)(.*)", re.DOTALL)
OPTION = "--where"


@dataclass(frozen=True)
class Condition:
    """One condition on a column: ``column op value`` (value as the user wrote it)."""

    column: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise InputError(f"{OPTION}: unknown comparison {self.op!r}; use one of {OPERATORS}")

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"

    @classmethod
    def parse(cls, text: str, option: str = OPTION) -> Condition:
        """``"N<=2.8B"`` -> Condition("N", "<=", "2.8B"); anything else is one error line."""
        match = _CONDITION.fullmatch(str(text))
        if not match or not match.group(1):
            raise InputError(
                f"{option}: expected COLUMN=VALUE or a comparison (COLUMN!=VALUE, COLUMN<VALUE, "
                f"<=, >, >=), got {cut(text)}"
            )
        column, op, value = match.groups()
        return cls(column, op, value.strip())

    def mask(self, data: pd.DataFrame, source: str = "<memory>") -> np.ndarray:
        """The rows of ``data`` this condition keeps, as a boolean array."""
        if self.column not in data.columns:
            raise InputError(
                f"{source}: {OPTION} {cut(str(self))}: no column '{self.column}' to filter on; "
                f"columns are {list(data.columns)}"
            )
        values = data[self.column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if self.op in ORDERING:
            if not numeric:
                raise InputError(
                    f"{source}: {OPTION} {cut(str(self))}: column '{self.column}' holds text; "
                    "compare it with = or != only"
                )
            bound = quantity(self.value, f"{OPTION} {cut(str(self))}")
            with np.errstate(invalid="ignore"):
                return np.asarray(
                    ORDERING[self.op](values.to_numpy(dtype=float, na_value=np.nan), bound)
                )
        equal = (values.astype(str) == self.value).to_numpy()
        if numeric:
            number = _number(self.value)
            if number is not None:
                equal = equal | (values.to_numpy(dtype=float, na_value=np.nan) == number)
        return equal if self.op == "=" else ~equal


def _number(text: str) -> float | None:
    try:
        return quantity(text, OPTION)
    except InputError:
        return None


Conditions = Iterable["Condition | str"] | Mapping[str, object]
"""What :func:`parse_conditions` accepts: Condition objects, their text, or {column: value}
(equality, the keyword form of :meth:`RunTable.where`)."""


def parse_conditions(conditions: Conditions | None, option: str = OPTION) -> list[Condition]:
    """Conditions from their text (``["N<=3e9", "dataset=c4"]``), Condition objects or a
    {column: value} mapping of equalities. The same column given twice with ``=`` is an error (it
    could only empty the table); comparisons may repeat a column (``N>=1e8`` and ``N<=1e9``)."""
    if conditions is None:
        return []
    if isinstance(conditions, Mapping):
        items = [Condition(str(k), "=", str(v)) for k, v in conditions.items()]
    else:
        items = [c if isinstance(c, Condition) else Condition.parse(c, option) for c in conditions]
    equal: dict[str, str] = {}
    for c in items:
        if c.op != "=":
            continue
        if c.column in equal:
            raise InputError(
                f"{option}: {cut(c.column)} given twice ({cut(equal[c.column])} and "
                f"{cut(c.value)}); give each name once"
            )
        equal[c.column] = c.value
    return items


def apply(
    data: pd.DataFrame, conditions: Iterable[Condition], source: str = "<memory>"
) -> pd.DataFrame:
    """The rows of ``data`` every condition keeps. Every condition is checked (its column, its
    value) before any is applied; the first that leaves no row is an error naming it."""
    conditions = list(conditions)
    masks = [c.mask(data, source) for c in conditions]
    keep = np.ones(len(data), dtype=bool)
    for condition, mask in zip(conditions, masks, strict=True):
        left = keep & mask
        if not left.any():
            raise InputError(
                f"{source}: no rows where {_joined(conditions)}: {OPTION} {cut(str(condition))} "
                f"left none of the {int(keep.sum())} row(s) before it"
                + _range(data.loc[keep, condition.column])
            )
        keep = left
    return data[keep]


def _joined(conditions: Iterable[Condition]) -> str:
    return ", ".join(str(c) for c in conditions)


def _range(values: pd.Series) -> str:
    """What the column held (its range, or its first values), to help pick a condition."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        finite = values.to_numpy(dtype=float, na_value=np.nan)
        finite = finite[np.isfinite(finite)]
        if len(finite) == 0:
            return f" ('{values.name}' holds no number there)"
        return f" ('{values.name}' ranges {finite.min():.4g} to {finite.max():.4g} there)"
    present = sorted(values.dropna().astype(str).unique())
    shown = ", ".join(cut(v, 30) for v in present[:5]) + (" ..." if len(present) > 5 else "")
    return f" ('{values.name}' holds {shown})" if present else ""


def describe(conditions: Iterable[Condition]) -> str:
    """The note a filtered table carries: ``rows where N<=3e9, dataset=c4``."""
    return f"rows where {_joined(conditions)}"
