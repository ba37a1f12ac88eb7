"""Code-base figures: lines per top-level package folder, the longest functions, the longest files.

    python benchmarks/code_stats.py [--top 10] [--over 450] [ROOT]

A function's length is ``end_lineno - lineno + 1`` of its AST node (decorators excluded, nested
functions counted in their parent and on their own). docs/benchmarks.md "The code base" records
the figures.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path


def functions(path: Path) -> list[tuple[int, str]]:
    """(length, "file:line name") of every function and method in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            found.append((length, f"{path}:{node.lineno} {node.name}"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="scalelab")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--over", type=int, default=450)
    args = parser.parse_args()
    root = Path(args.root)
    files = sorted(root.rglob("*.py"))
    lines = {f: len(f.read_text().splitlines()) for f in files}
    per_folder: Counter = Counter()
    for f, n in lines.items():
        parts = f.relative_to(root).parts
        per_folder[parts[0] if len(parts) > 1 else "(top level)"] += n
    print(f"lines per package folder of {root}/ ({sum(lines.values())} in {len(files)} files):")
    for folder, n in sorted(per_folder.items(), key=lambda kv: -kv[1]):
        print(f"  {folder:<14}{n:>7}")
    print(f"\nthe {args.top} longest functions (lines):")
    ranked = sorted((fn for f in files for fn in functions(f)), key=lambda t: (-t[0], t[1]))
    for length, where in ranked[: args.top]:
        print(f"  {length:>5}  {where}")
    print(f"\nfiles over {args.over} lines:")
    for f, n in sorted(lines.items(), key=lambda kv: -kv[1]):
        if n > args.over:
            print(f"  {n:>5}  {f}")


if __name__ == "__main__":
    main()
