"""The layout's promises: each layer imports only layers below it, no import circles, and the
fitting and planning core imports without torch (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scalelab"

#: Rank of each top-level part of the package: a module may import its own part or a lower rank.
RANK = {
    "errors": -1, "units": 0, "schema": 0, "atomic": 0, "tomlfile": 0, "lazy": 0,
    "data": 1, "model": 1, "runs": 1,
    "examples": 1.5,
    "train": 2, "laws": 2,
    "ladder": 3, "plan": 3, "tasks": 3, "compare": 3,
    "report": 4,
    "pipelines": 5,
    "cli": 6,
}  # fmt: skip


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _imports(name: str, path: Path) -> set[str]:
    """Every ``scalelab...`` name the module imports, at any depth (function-local ones too)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("scalelab")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("scalelab"):
                found.add(module)
                found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(target: str) -> str | None:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target or None

    graph = defaultdict(set)
    for name, path in mods.items():
        for target in _imports(name, path):
            hit = resolve(target)
            if hit and hit != name and hit != "scalelab" and not name.startswith(hit + "."):
                graph[name].add(hit)
    return graph


def _part(module: str) -> str:
    return module.split(".")[1]


def test_every_part_has_a_rank():
    parts = {_part(m) for m in _modules() if m != "scalelab"}
    assert parts <= set(RANK), f"give these parts a layer in RANK: {sorted(parts - set(RANK))}"


def test_no_module_imports_a_layer_above_its_own():
    upward = sorted(
        f"{m} -> {t}"
        for m, targets in _graph().items()
        for t in targets
        if _part(t) != _part(m) and RANK[_part(t)] >= RANK[_part(m)]
    )
    assert not upward, "imports of a layer above or beside the importer's own:\n" + "\n".join(
        upward
    )


def test_no_import_circles():
    graph = _graph()
    faces = {m for m, p in _modules().items() if p.name == "__init__.py"}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v] - faces:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(set(_modules()) - faces):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_the_check_fails_on_an_upward_import(tmp_path, monkeypatch):
    """The layer check is not vacuous: a laws module importing the report is caught."""
    fake = tmp_path / "scalelab"
    for path in PACKAGE.rglob("*.py"):
        target = fake / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (fake / "laws" / "_upward.py").write_text("from scalelab.report import figures\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="scalelab.laws._upward -> scalelab.report"):
        test_no_module_imports_a_layer_above_its_own()


def test_core_imports_without_torch():
    probe = (
        "import sys, scalelab.laws, scalelab.plan, scalelab.runs, scalelab.units, scalelab.schema; "
        "import scalelab.tasks, scalelab.runs.tasktable; "
        "import scalelab.model.counting, scalelab.model.shapes; "
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"the core imported {r.stdout.strip()}"


def test_the_architecture_doc_states_the_ranks_this_test_enforces():
    """docs/architecture.md's layer table is RANK: every part once, at its rank."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = doc.split("| rank | parts |", 1)[1].split("\n\n", 1)[0]
    stated = {}
    for row in table.splitlines()[2:]:
        rank, parts = row.split("|")[1:3]
        for part in parts.replace("`", "").split(","):
            assert part.strip() not in stated, f"{part.strip()} is in the table twice"
            stated[part.strip()] = float(rank)
    assert stated == RANK
