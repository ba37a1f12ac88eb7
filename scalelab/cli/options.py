"""The shared command-line options, each declared once, its default read from a typed option class.

A flag that several commands take (``--bootstrap``, ``--form``, ``--level``, the task options) is
declared here, in :data:`SHARED`: its flags, its help, and its default read from
:class:`~scalelab.laws.options.FitOptions` (fit options) or
:class:`~scalelab.tasks.options.TaskOptions` (task options). Those two modules import nothing
heavy (their packages load their API on first use, :mod:`scalelab.lazy`), so ``--help`` loads
neither pandas nor numpy (``tests/test_cli_help_imports.py``). A command takes it with
:func:`option`::

    bootstrap: int = option("--bootstrap", "backtest")

Where a command gives a flag another default on purpose, :data:`DEFAULT_OVERRIDES` records it with
the reason; ``tests/test_cli_defaults.py`` fails when two commands give one flag different
defaults that are not in that table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import typer

from scalelab.laws.options import DEFAULT_FORM, INTERVAL_BOOTSTRAP, TIES, FitOptions
from scalelab.tasks.options import TaskOptions


@dataclass(frozen=True)
class Shared:
    """One shared flag: its names, default (and where it comes from), help and typer extras."""

    flags: tuple[str, ...]
    default: Any
    source: str
    help: str
    extra: dict = field(default_factory=dict)


SHARED: dict[str, Shared] = {
    s.flags[0]: s
    for s in (
        Shared(
            ("--bootstrap",),
            FitOptions.bootstrap,
            "FitOptions.bootstrap",
            "Run-level bootstrap resamples for intervals (0: none).",
        ),
        Shared(("--seed",), FitOptions.seed, "FitOptions.seed", "Seed of the bootstrap."),
        Shared(
            ("--level",),
            FitOptions.level,
            "FitOptions.level",
            "Confidence level of intervals (between 0 and 1).",
        ),
        Shared(
            ("--loss",),
            FitOptions.loss,
            "FitOptions.loss",
            "Fitting loss on log residuals: huber or mse.",
        ),
        Shared(
            ("--delta",), FitOptions.delta, "FitOptions.delta", "Huber delta (a positive number)."
        ),
        Shared(
            ("--params",),
            FitOptions.params,
            "FitOptions.params",
            "Parameter convention: non-embedding, total or active (the run table's N, N_total or "
            "N_active column).",
        ),
        Shared(
            ("--flops",),
            FitOptions.flops,
            "FitOptions.flops",
            "FLOP convention: 6ND, 6ND+attention, table.",
        ),
        Shared(
            ("--eval-set",),
            FitOptions.eval_set,
            "FitOptions.eval_set",
            "Evaluation set to fit (default: val).",
        ),
        Shared(
            ("--points",),
            FitOptions.points,
            "FitOptions.points",
            "final (each run's last point) or all.",
        ),
        Shared(
            ("--skip-first",),
            FitOptions.skip_first,
            "FitOptions.skip_first",
            "With --points all: drop each run's first fraction of tokens.",
        ),
        Shared(
            ("--tie",),
            FitOptions.tie,
            "FitOptions.tie",
            f"--form auto, tied forms: {' or '.join(TIES)} (irreducible: prefer E; stack: average).",
        ),
        Shared(
            ("--form",),
            DEFAULT_FORM,
            "laws.options.DEFAULT_FORM",
            "Functional form to fit (see `scalelab forms`).",
        ),
        Shared(
            ("--through",),
            TaskOptions.through,
            "TaskOptions.through",
            "The intermediate: task_loss (the task's own), loss (the general held-out loss) or "
            "task_loss:TASK (another task's loss at the same points, for tasks without one).",
        ),
        Shared(
            ("--link",),
            TaskOptions.link,
            "TaskOptions.link",
            "Step 2: auto (chosen per task by backtest over held-out sizes), sigmoid (pinned at "
            "chance and at the top accuracy for zero loss), olmo (Bhagia, with the ideal point), "
            "exp (Gadre), sigmoid-free.",
        ),
        Shared(
            ("--smooth",),
            TaskOptions.smooth,
            "TaskOptions.smooth",
            "Step 2: moving average over this many checkpoints of each run.",
        ),
        Shared(
            ("--skip",),
            TaskOptions.skip,
            "TaskOptions.skip",
            "Step 2: skip this fraction of each run's tokens (warm-up).",
        ),
        Shared(
            ("--step1-points",),
            TaskOptions.step1_points,
            "TaskOptions.step1_points",
            "Step 1's points: all (every checkpoint after --skip), final (each run's last), auto "
            "(final with cool-down branches, else all).",
        ),
    )
}

_INTERVALS = "its product is an interval: INTERVAL_BOOTSTRAP run-level resamples"
_HOMONYM = "another option under the same name"

#: (command, flag) -> (default, reason): where a command gives a flag another default than the
#: typed option class on purpose, or a flag of that name means something else in that command.
DEFAULT_OVERRIDES: dict[tuple[str, str], tuple[Any, str]] = {
    ("isoflop", "--bootstrap"): (
        1000,
        "approach 2 refits one parabola per budget in closed form: 1000 resamples add about "
        "0.2 s CPU (porian2024), and the intervals are the command's product",
    ),
    ("backtest", "--bootstrap"): (INTERVAL_BOOTSTRAP, _INTERVALS + " scored for coverage"),
    ("curves", "--bootstrap"): (
        100,
        "each resample refits the curve law to every run's whole curve (the slowest fit in the "
        "house: 100 multi-power refits take about 50 s CPU on the OLMo ladder, benchmarks.md)",
    ),
    ("predict", "--batch-tokens"): (
        None,
        "the target's tokens per step for a schedule-aware law: by default the fitted runs' "
        "(recorded in the law file), not the bench's batch",
    ),
    ("bcrit", "--bootstrap"): (INTERVAL_BOOTSTRAP, _INTERVALS),
    ("report", "--bootstrap"): (INTERVAL_BOOTSTRAP, _INTERVALS),
    ("compare", "--bootstrap"): (INTERVAL_BOOTSTRAP, _INTERVALS + " per group"),
    ("demo", "--bootstrap"): (INTERVAL_BOOTSTRAP, _INTERVALS),
    ("tasks predict", "--bootstrap"): (
        TaskOptions.bootstrap,
        "TaskOptions.bootstrap: a task prediction's product is its interval",
    ),
    ("tasks backtest", "--bootstrap"): (
        100,
        "each resample refits both steps of every task on every held-out fold: on the OLMo "
        "ladder's 14 tasks, 100 resamples add about 43 s CPU to a 65 s backtest",
    ),
    ("curves", "--skip-first"): (
        0.1,
        "fits every point of each training curve: the warm-up is off the law (the other "
        "commands fit final points, where --skip-first does not apply)",
    ),
    ("tasks predict", "--form"): (TaskOptions.form, "TaskOptions.form: step 1 chooses its law"),
    ("tasks backtest", "--form"): (TaskOptions.form, "TaskOptions.form: step 1 chooses its law"),
    ("tasks rank", "--form"): (TaskOptions.form, "TaskOptions.form: step 1 chooses its law"),
    ("optimal", "--flops"): (..., _HOMONYM + ": the budgets (FLOPs), required"),
    ("plan", "--flops"): (None, _HOMONYM + ": a budget in FLOPs"),
    ("data prepare", "--seed"): (None, _HOMONYM + ": the split seed (None: the config's)"),
    ("curves", "--law"): ("annealing", _HOMONYM + ": the curve law to fit"),
    ("catalog", "--law"): ("besiroglu-2024", _HOMONYM + ": the published law to plan with"),
    ("report", "--output"): ("report.html", "a report always writes its page"),
    ("compare", "--by"): ("recipe", _HOMONYM + ": the column that names the groups"),
    ("bench", "--device"): ("cpu", _HOMONYM + ": the device to measure"),
    ("tasks eval", "--device"): ("auto", _HOMONYM + ": the device to evaluate on"),
    ("tasks make", "--examples"): (300, _HOMONYM + ": the size of the task set"),
    ("ladder sweep-lr", "--sizes"): (2, _HOMONYM + ": how many sizes to sweep"),
    ("watch", "--skip"): (0.1, _HOMONYM + ": the warm-up a watch does not judge"),
    ("tasks backtest", "--split"): ("size", "task ladders have few sizes: leave the largest out"),
}


def default(flag: str, command: str) -> Any:
    """The default of a shared ``flag`` in ``command``: its override, else the typed class's."""
    if (command, flag) in DEFAULT_OVERRIDES:
        return DEFAULT_OVERRIDES[command, flag][0]
    return SHARED[flag].default


def option(flag: str, command: str, *names: str, help: Optional[str] = None, **extra):
    """The typer option of a shared ``flag`` in ``command`` (its full name, ``tasks predict``):
    the default from :func:`default`, the help from :data:`SHARED` unless ``help`` words it for
    the command; ``names`` add short names (``-o``), ``extra`` typer's keywords (``metavar``)."""
    spec = SHARED[flag]
    kwargs = {**spec.extra, **extra}
    return typer.Option(
        default(flag, command), *spec.flags, *names, help=help or spec.help, **kwargs
    )
