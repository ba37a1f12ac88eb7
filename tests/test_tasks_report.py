"""The report's downstream section: shown for a run table with task rows, absent without."""

from __future__ import annotations

import pandas as pd
import pytest

from scalelab.report import html as report_html
from scalelab.report.downstream import chain_band, downstream_section
from scalelab.report.page import page
from scalelab.runs.table import RunTable
from scalelab.tasks import synthetic
from scalelab.tasks.data import task_points
from scalelab.tasks.predict import fit_chain


def ladder_with_tasks() -> RunTable:
    tasks = {"cloze": {"chance": 0.0, **synthetic.STEP2}, "flat": {"chance": 0.5, "stuck": True}}
    rows = synthetic.chain_table(tasks=tasks, points=3, seed=7)
    general = rows[rows.task == "cloze"].drop(columns=["task", "accuracy", "chance"])
    general = general.drop(columns=["task_loss", "task_loss_unit"]).assign(
        loss=rows[rows.task == "cloze"]["task_loss"].to_numpy() * 0.9
    )
    return RunTable.from_frame(pd.concat([general, rows], ignore_index=True))


def test_downstream_section_has_ranking_and_figures():
    section = downstream_section(ladder_with_tasks(), bootstrap=20)
    assert section.ok and section.id == "downstream"
    # ranked: the predictable task first, the one stuck at chance last
    assert section.body.index("<td>cloze</td>") < section.body.index("<td>flat</td>")
    assert "Predictability" in section.body and "never leaves chance" in section.body
    assert list(section.figures) == ["downstream_cloze"]  # the stuck task is not drawn
    html = page("report", [section])
    assert '<section id="downstream"><h2>Downstream tasks</h2>' in html


@pytest.mark.slow
def test_report_shows_the_section_only_for_task_rows():
    table = ladder_with_tasks()
    rep = report_html.build(table, bootstrap=0, backtest=None, catalog=None, sensitivity=False)
    assert rep.sections["downstream"] == "ok"
    plain = RunTable.from_frame(table.data[table.data["task"].isna()].drop(columns=["task"]))
    rep = report_html.build(plain, bootstrap=0, backtest=None, catalog=None, sensitivity=False)
    assert "downstream" not in rep.sections


def test_chain_band_contains_the_chain():
    table = ladder_with_tasks()
    pts = task_points(table, "cloze")
    chain = fit_chain(pts, 0.0, bootstrap=30, form="chinchilla")
    C = pts["C"].to_numpy()
    centre, (lo, hi) = chain_band(chain, C)
    assert ((lo <= centre + 1e-9) & (centre <= hi + 1e-9)).mean() > 0.9
