"""The report's sections come from one declared list (issue 24), in the order and with the titles
the page had before; the checklist keeps its groups and items in order; and the report's budget is
one its runs can speak to, a far one headlined as an extrapolation (issue 23)."""

import re
from pathlib import Path

import numpy as np
import pytest

from scalelab.cli import main
from scalelab.laws.conventions import Conventions
from scalelab.report import checklist
from scalelab.report import html as report_html
from scalelab.report import page as report_page
from scalelab.report.section import Section
from scalelab.runs.table import read_table

pytest.importorskip("matplotlib")

DEMO = Path(__file__).parent / "data" / "demo_runs.csv"
GRID = {"e": [0.5], "a": [6.0], "b": [8.0], "alpha": [0.4], "beta": [0.4]}
BEFORE = [  # the page before the list (page.SECTIONS + OPTIONAL_SECTIONS "after" rules)
    ("summary", "Summary"),
    ("law", "Fitted law"),
    ("figures", "Fit figures"),
    ("curves", "Learning curves"),
    ("bcrit", "Critical batch size"),
    ("isoflop", "IsoFLOP profiles"),
    ("frontier", "Compute-optimal frontier"),
    ("plan", "Plan for the budget"),
    ("backtest", "Backtest"),
    ("downstream", "Downstream tasks"),
    ("catalog", "Published models"),
    ("comparison", "Comparison"),
    ("checklist", "Checklist"),
    ("sensitivity", "Sensitivity"),
    ("notes", "Notes and warnings"),
    ("reproduce", "Reproduce"),
]
OPTIONAL = {"curves", "bcrit", "downstream", "comparison"}


def test_declared_list_keeps_the_page_order_and_titles():
    assert [(s.id, s.title) for s in report_page.REPORT] == BEFORE
    assert {s.id for s in report_page.REPORT if s.when is not None} == OPTIONAL
    assert report_html.SECTIONS == tuple(p for p in BEFORE if p[0] not in OPTIONAL)


def _ids(html: str) -> list[str]:
    return re.findall(r'<section id="([a-z]+)"><h2>', html)


def test_one_loop_builds_every_applying_section_in_order():
    """Stub builders: the loop builds in declared order (summary last, it reads the others),
    leaves out what does not apply or returns None, and the page shows the rest in order."""
    calls = []

    def stub(sid):
        def build(ctx):
            calls.append(sid)
            return None if sid == "bcrit" else Section(sid, f"<p>{sid}</p>")

        return build

    specs = [
        report_page.SectionSpec(
            s.id,
            s.title,
            stub(s.id),
            when=(lambda c: False) if s.id == "comparison" else None,
            last=s.last,
        )
        for s in report_page.REPORT
    ]
    ctx = report_page.Context(
        table=None, law=None, options=None, budget=1.0, params="total", flops="6ND"
    )
    parts = report_page.assemble(ctx, specs)
    built = [s for s, _ in BEFORE if s not in ("bcrit", "comparison")]
    assert calls == [s for s, _ in BEFORE if s not in ("summary", "comparison")] + ["summary"]
    assert [p.id for p in parts] == built
    assert [p.title for p in parts] == [t for s, t in BEFORE if s in built]
    html = report_page.page("t", parts)
    assert _ids(html) == built
    assert re.findall(r'<a href="#([a-z]+)">', html) == built


@pytest.fixture(scope="module")
def demo_table():
    return read_table(DEMO)


def _build(table, **kw):
    """A light report (one-start fit, no bootstrap, no sensitivity, backtest or catalog; figures
    drawn but not embedded as SVG)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report_html.F, "data_uri", lambda fig, fmt="svg": "data:,")
        return report_html.build(
            table, bootstrap=0, grid=GRID, sensitivity=False, backtest=None, catalog=None, **kw
        )


@pytest.fixture(scope="module")
def demo_report(demo_table):
    rep = _build(demo_table)
    yield rep
    rep.close()


def _largest_compute(table) -> float:
    sel = table.select(points="final")
    return float(np.max(Conventions().variables(sel)["C"]))


def test_default_budget_is_one_the_runs_speak_to(demo_table, demo_report):
    rep = demo_report
    assert rep.budget == pytest.approx(100 * _largest_compute(demo_table))
    summary = rep.html.split('<section id="law">')[0]
    assert "the default budget: 100x the largest run&#x27;s compute" in summary
    assert "Warning" not in summary
    assert rep.law.derived["tokens_per_param"] > 0.1  # not 1e-4 from ten decades out
    assert "Neither the fit nor the report raised a warning" in rep.html
    assert _ids(rep.html) == [s for s, _ in BEFORE if s not in OPTIONAL]


def test_a_far_budget_is_headlined_as_an_extrapolation(demo_table):
    rep = _build(demo_table, budget=5.76e23)
    try:
        summary = rep.html.split('<section id="law">')[0]
        warning = summary.index("Warning: the plan at C = 5.76e+23 FLOPs is")
        assert warning < summary.index("tokens/parameter</strong>")  # before the number
        notes = rep.html.split('<section id="notes">')[1]
        assert "the plan at C = 5.76e+23 FLOPs is" in notes and "an extrapolation" in notes
        assert "raised no warning" not in notes
    finally:
        rep.close()


@pytest.mark.slow
def test_cli_report_budget_flag(tmp_path, capsys):
    out = tmp_path / "r.html"
    args = ["report", str(DEMO), "-o", str(out), "--no-sensitivity", "--bootstrap", "0"]
    assert main([*args, "--budget", "5.76e23"]) == 0
    html = out.read_text()
    assert "Warning: the plan at C = 5.76e+23 FLOPs" in html
    assert "--budget 5.76e+23" in html  # the reproduce command keeps an asked budget
    assert "report written to" in capsys.readouterr().out


def test_checklist_groups_in_order(demo_table, demo_report):
    law = demo_report.law
    items = checklist.build(law, demo_table, {"name": "corpus", "checklist": {"dedup": "exact"}})
    assert [i["group"] for i in items] == sorted(
        (i["group"] for i in items), key=["data", "model", "training", "fit"].index
    )
    keys = [i["item"] for i in items]
    assert keys[:6] == ["data_name", "data_sources", "data_size", "dedup", "tokenizer", "data_hash"]
    assert keys[-2:] == ["fit_code_version", "report_code_version"]
    by = {i["item"]: i for i in items}
    assert by["data_name"]["value"] == "corpus" and by["dedup"]["value"] == "exact"
    assert by["data_sources"]["status"] == checklist.UNKNOWN
    assert by["shapes"]["status"] == checklist.KNOWN and "n_layer" in by["shapes"]["value"]
