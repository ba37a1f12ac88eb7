"""Export a ladder's checkpoints as Hugging Face models (``scalelab export-hf LADDER --all``).

Every run folder ``<ladder>/runs/<run_id>`` with a checkpoint becomes ``<out>/<run_id>``, through
:func:`scalelab.train.export.export_run`. All or nothing: every run's variant is checked before
anything is converted, and the whole output folder appears only when every run is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from scalelab.atomic import atomic_dir, check_folder
from scalelab.errors import InputError
from scalelab.ladder.runner import RUNS_DIR
from scalelab.model.export_hf import ExportResult, target
from scalelab.train.export import check_not_inside, export_run, read_run
from scalelab.train.plan import CHECKPOINT


@dataclass
class LadderExport:
    """What :func:`export_ladder` wrote: one :class:`ExportResult` per run."""

    out_dir: str
    runs: list[ExportResult]
    skipped: list[str] = field(default_factory=list)  # run folders without a checkpoint

    def to_dict(self) -> dict:
        return {
            "out_dir": self.out_dir,
            "runs": [r.to_dict() for r in self.runs],
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_dict(cls, d: dict) -> LadderExport:
        return cls(d["out_dir"], [ExportResult.from_dict(r) for r in d["runs"]], d["skipped"])


def ladder_checkpoints(ladder_dir: str | os.PathLike) -> tuple[dict[str, Path], list[str]]:
    """{run_id: run folder} of the runs with a checkpoint, and the run ids without one."""
    root = Path(ladder_dir).expanduser()
    runs = root / RUNS_DIR
    if not runs.is_dir():
        raise InputError(f"{root}: not a ladder folder (no {RUNS_DIR}/ folder of run folders)")
    found, skipped = {}, []
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        if (folder / CHECKPOINT).is_file():
            found[folder.name] = folder
        else:
            skipped.append(folder.name)
    if not found:
        raise InputError(
            f"{runs}: no run folder holds a {CHECKPOINT} (runs not trained yet, or trained with "
            f"[checkpoint] keep_final = false)"
        )
    return found, skipped


def export_ladder(ladder_dir: str | os.PathLike, out_dir: str | os.PathLike) -> LadderExport:
    """Export every checkpoint of the ladder in ``ladder_dir`` to ``out_dir/<run_id>``."""
    found, skipped = ladder_checkpoints(ladder_dir)
    check_not_inside(out_dir, ladder_dir)
    out = check_folder(out_dir, "export folder")
    problems = []
    for run_id, folder in found.items():
        try:
            target(read_run(folder, mmap=True)[0])
        except InputError as exc:
            problems += [f"run {run_id}: {p}" for p in exc.problems]
    if problems:
        raise InputError(problems)
    results = []
    with atomic_dir(out) as tmp:
        for run_id, folder in found.items():
            result = export_run(folder, tmp / run_id)
            result.out_dir = str(out / run_id)
            results.append(result)
    return LadderExport(str(out), results, skipped)


def export_hf(
    path: str | os.PathLike, out_dir: str | os.PathLike, *, all_runs: bool = False
) -> ExportResult | LadderExport:
    """``scalelab export-hf``: one run folder or checkpoint file, or (``all_runs``) every
    checkpoint of a ladder."""
    if all_runs:
        return export_ladder(path, out_dir)
    return export_run(path, out_dir)


__all__ = ["LadderExport", "export_hf", "export_ladder", "ladder_checkpoints"]
