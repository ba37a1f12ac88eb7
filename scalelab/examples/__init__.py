"""Built-in example run tables (MIT-licensed published runs; see NOTICE.md beside this file).

>>> from scalelab import examples
>>> examples.names()
['gadre2024', 'gadre2024-all', 'gadre2024-rpj', 'gadre2024-rw', 'porian2024']
>>> table = examples.load("gadre2024")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Optional

from scalelab.errors import InputError
from scalelab.runs.table import RunTable, read_table

GADRE = "Gadre et al. 2024, arXiv:2403.08540 (MIT)"
PORIAN = "Porian et al. 2024, arXiv:2406.19146 (MIT)"


@dataclass(frozen=True)
class Example:
    file: str
    description: str
    citation: str
    where: dict = field(default_factory=dict)
    choose: Optional[str] = None  # a column of configurations to pick one from (--where COL=...)
    default: Optional[str] = None  # the one an IsoFLOP analysis takes when none is picked


EXAMPLES = {
    "gadre2024": Example(
        "gadre2024.csv",
        "open_lm models trained on C4, 11M-6.9B parameters, 5-640 tokens/parameter",
        GADRE,
        {"dataset": "c4_original"},
    ),
    "gadre2024-rpj": Example(
        "gadre2024.csv",
        "the same ladder trained on RedPajama (C4 validation loss)",
        GADRE,
        {"dataset": "rpj"},
    ),
    "gadre2024-rw": Example(
        "gadre2024.csv",
        "the same ladder trained on RefinedWeb (C4 validation loss)",
        GADRE,
        {"dataset": "rw_original"},
    ),
    "gadre2024-all": Example(
        "gadre2024.csv", "all 104 runs, three training sets (column dataset)", GADRE
    ),
    "porian2024": Example(
        "porian2024.csv",
        "IsoFLOP points of 15 configurations (filter on column config)",
        PORIAN,
        choose="config",
        default="rw/tuned/short/const/standard/val",
    ),
}


def names() -> list[str]:
    return sorted(EXAMPLES)


def choices(name: str) -> list[str]:
    """The values of the example's configuration column (``--where COLUMN=VALUE``), or []."""
    ex = EXAMPLES[name]
    if ex.choose is None:
        return []
    with resources.as_file(resources.files(__package__) / ex.file) as path:
        import pandas as pd

        return sorted(map(str, pd.read_csv(path, usecols=[ex.choose])[ex.choose].unique()))


def load(name: str, columns: Optional[Mapping[str, str]] = None) -> RunTable:
    """The example's run table (validated like any user table; ``columns`` maps schema columns
    to the example's, as ``--column`` does)."""
    if name not in EXAMPLES:
        raise InputError(f"unknown example '{name}'; examples: {', '.join(names())}")
    ex = EXAMPLES[name]
    with resources.as_file(resources.files(__package__) / ex.file) as path:
        table = read_table(path, columns)
    table = RunTable(table.data, f"example:{name}", table.notes, table.derived)
    return table.where(**ex.where) if ex.where else table
