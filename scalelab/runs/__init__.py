"""The run table every layer speaks (DESIGN.md §3)."""

from scalelab.runs.table import RunTable, read_table

__all__ = ["RunTable", "read_table"]
