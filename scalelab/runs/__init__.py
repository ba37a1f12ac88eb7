"""The run table every layer speaks (DESIGN.md §3)."""

from scalelab.runs.table import Runs, RunTable, as_table, read_table

__all__ = ["RunTable", "Runs", "as_table", "read_table"]
