"""Task-set commands: ``scalelab tasks make`` (offline tasks from held-out documents) and
``scalelab tasks eval`` (a finished run or a checkpoint on task sets).

:func:`register` adds both to a typer group (``scalelab tasks``)."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.cli.common import Flag, emit_json, err, out
from scalelab.cli.usage import PlainUsage
from scalelab.errors import InputError

ROW_COLUMNS = (
    "task",
    "bucket",
    "accuracy",
    "chance",
    "task_loss",
    "task_bits_per_byte",
    "n_examples",
)


def tasks_make(
    kind: str = typer.Option(..., "--kind", metavar="KIND", help="cloze or mc"),
    output: str = typer.Option(
        ..., "--out", "-o", metavar="FILE", help="task file to write (.jsonl; manifest beside it)"
    ),
    corpus: Optional[str] = typer.Option(
        None,
        "--corpus",
        metavar="DIR",
        help="prepared data folder (scalelab data prepare); default: the built-in corpus, "
        "prepared into out/data/builtin-bytes",
    ),
    examples: int = typer.Option(300, "--examples", "-n", metavar="N", help="examples (at most)"),
    seed: int = typer.Option(0, "--seed", metavar="S", help="seed of the choice of passages"),
    json_out: bool = Flag("--json", help="print the manifest as JSON"),
) -> None:
    """Build a task set from the held-out documents of a prepared corpus (deterministic)."""
    from scalelab.data.taskfile import write_task_set
    from scalelab.data.tasksets import builtin_corpus, make_task_set

    if examples < 1:
        raise InputError(f"--examples: expected at least 1, got {examples}")
    if kind not in ("cloze", "mc"):
        raise InputError(f"--kind: expected cloze or mc, got {kind!r}")
    source = corpus if corpus is not None else builtin_corpus()
    manifest = write_task_set(make_task_set(source, kind, examples, seed), output)
    if json_out:
        emit_json(manifest)
        return
    counts = manifest["counts"]
    buckets = ", ".join(f"{b} {n}" for b, n in counts["buckets"].items())
    out.print(
        f"{output}: {counts['examples']} {kind} examples ({buckets}); sha256 "
        f"{manifest['sha256'][:16]}",
        markup=False,
        highlight=False,
    )


def tasks_eval(
    run: str = typer.Argument(..., metavar="RUN", help="a run folder or a checkpoint file"),
    tasks: list[str] = typer.Option(
        ..., "--tasks", "-t", metavar="TASK", help="task file (.jsonl), or cloze / mc; repeatable"
    ),
    data: Optional[str] = typer.Option(
        None, "--data", metavar="DIR", help="prepared data folder (default: the run's)"
    ),
    examples: Optional[int] = typer.Option(
        None, "--examples", "-n", metavar="N", help="examples per task (default: the run's cap)"
    ),
    output: Optional[str] = typer.Option(
        None, "--out", "-o", metavar="FILE", help="write the rows as a run table (.csv, .jsonl)"
    ),
    device: str = typer.Option("auto", "--device", metavar="DEV", help="auto, cpu or cuda"),
    json_out: bool = Flag("--json", help="print the rows as JSON"),
) -> None:
    """Evaluate a finished run (or a checkpoint) on task sets: accuracy and task loss per bucket."""
    from scalelab.atomic import check_file
    from scalelab.runs.table import RunTable
    from scalelab.train.taskrun import evaluate_run

    if examples is not None and examples < 1:
        raise InputError(f"--examples: expected at least 1, got {examples}")
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device: expected auto, cpu or cuda, got {device!r}")
    if output is not None:
        check_file(output, "rows file")
    result = evaluate_run(run, tasks, data=data, examples=examples, device=device)
    for note in result.get("notes", []):
        err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if output is not None:
        RunTable.from_records(result["rows"]).write(output)
    if json_out:
        emit_json(result)
        return
    out.print(
        f"{result['run_id']} at step {result['step']} ({result['seconds']:.2f} s)",
        markup=False,
        highlight=False,
    )
    out.print(
        "  ".join(f"{c:>12}" for c in ROW_COLUMNS), markup=False, highlight=False, soft_wrap=True
    )
    for r in result["rows"]:
        cells = [f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in ROW_COLUMNS]
        out.print(
            "  ".join(f"{c:>12}" for c in cells), markup=False, highlight=False, soft_wrap=True
        )
    if output is not None:
        err.print(f"wrote {output}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``make`` and ``eval`` to the ``tasks`` group ``app``."""
    app.command("make", cls=PlainUsage)(tasks_make)
    app.command("eval", cls=PlainUsage)(tasks_eval)
