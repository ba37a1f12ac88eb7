"""The code base's own figures (issue 24, "say it once"): option declarations per flag, the
longest functions, lines per layer. Run from a checkout's root (any commit: the counts read the
source as text, the commands' flags from the CLI itself):

    PYTHONPATH=$PWD python benchmarks/codebase_bench.py [--root DIR] [--json]

* **Option declarations per flag**: for every flag that two or more commands take (walked as
  ``tests/test_cli_defaults.py`` walks them), the commands that take it, its distinct defaults,
  and the places in ``scalelab/cli`` whose source writes its default: a ``typer.Option(...)`` or
  ``Flag(...)`` call naming the flag, or a ``Shared(...)`` entry of ``cli/options.py`` (AST);
  ``option("--flag", ...)``, which reads the one shared declaration, is not one.
* **Longest functions**: every ``def`` in ``scalelab/`` (nested ones too), lines from ``def`` to
  its last line.
* **Lines per layer**: the lines of the ``.py`` files under each top-level folder of the package.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
from collections import defaultdict
from pathlib import Path

DECLARING = {"Option", "Flag", "Shared"}


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _flags(node: ast.Call) -> list[str]:
    found = []
    for arg in node.args:
        items = arg.elts if isinstance(arg, ast.Tuple) else [arg]
        for item in items:
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                if item.value.startswith("--"):
                    found.append(item.value)
    return found


def declarations(root: Path) -> dict[str, int]:
    """{flag: places in scalelab/cli whose source writes its default}."""
    out: dict[str, int] = defaultdict(int)
    for path in sorted((root / "scalelab" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _name(node.func) in DECLARING:
                for flag in set(_flags(node)):
                    out[flag] += 1
    return dict(out)


def commands_per_flag() -> dict[str, dict[str, object]]:
    """{flag: {command path: default}} over every command (the CLI as it runs)."""
    import typer

    from scalelab import cli

    for module in getattr(cli, "GROUPS", ()):
        importlib.import_module(f"scalelab.cli.{module}")
    found: dict[str, dict[str, object]] = defaultdict(dict)

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        for param in command.params:
            if param.param_type_name == "option":
                found[max(param.opts, key=len)][" ".join(path)] = param.default

    walk(typer.main.get_command(cli.app), [])
    return found


def longest_functions(root: Path, top: int = 10) -> list[tuple[int, str]]:
    rows = []
    for path in sorted((root / "scalelab").rglob("*.py")):
        rel = path.relative_to(root / "scalelab")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                rows.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.name}"))
    return sorted(rows, key=lambda r: (-r[0], r[1]))[:top]


def lines_per_layer(root: Path) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    package = root / "scalelab"
    for path in package.rglob("*.py"):
        rel = path.relative_to(package)
        layer = rel.parts[0] if len(rel.parts) > 1 else "(package top)"
        out[layer] += len(path.read_text().splitlines())
    return dict(sorted(out.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the checkout to measure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(args.root)
    declared = declarations(root)
    taken = commands_per_flag()
    flags = {
        flag: {
            "commands": len(by_command),
            "defaults": len({repr(v) for v in by_command.values()}),
            "declarations": declared.get(flag, 0),
        }
        for flag, by_command in sorted(taken.items())
        if len(by_command) >= 2
    }
    result = {
        "flags": flags,
        "shared_flags": len(flags),
        "declarations_of_shared_flags": sum(f["declarations"] for f in flags.values()),
        "commands_taking_them": sum(f["commands"] for f in flags.values()),
        "longest_functions": longest_functions(root),
        "lines_per_layer": lines_per_layer(root),
    }
    result["lines_total"] = sum(result["lines_per_layer"].values())
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print("flag                 commands  defaults  declarations")
    for flag, f in flags.items():
        print(f"{flag:20} {f['commands']:8}  {f['defaults']:8}  {f['declarations']:12}")
    print(
        f"{len(flags)} flags taken by 2+ commands: {result['declarations_of_shared_flags']} "
        f"declarations for {result['commands_taking_them']} command options"
    )
    print("\nlongest functions (lines)")
    for n, where in result["longest_functions"]:
        print(f"{n:5}  {where}")
    print("\nlines per layer")
    for layer, n in result["lines_per_layer"].items():
        print(f"{n:7,}  {layer}")
    print(f"{result['lines_total']:7,}  total")


if __name__ == "__main__":
    main()
