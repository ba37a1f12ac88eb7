"""Downstream-task commands: scalelab tasks make | eval (more join from the tasks layer)."""

from __future__ import annotations

import typer

from scalelab.cli import tasks_eval
from scalelab.cli.common import app
from scalelab.cli.usage import PlainGroup

tasks_app = typer.Typer(
    cls=PlainGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Downstream tasks: build offline task sets, evaluate runs on them.",
)
app.add_typer(tasks_app, name="tasks")
tasks_eval.register(tasks_app)
