"""The report's comparison section: shown for a table with recipes, not available otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalelab.report import html as report_html


def _table(recipes=("gelu", "swiglu"), eval_sets=("val",)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for r, recipe in enumerate(recipes):
        for N in (1e6, 3e6, 1e7, 3e7):
            for tpp in (5, 20, 80):
                D = tpp * N
                for e, s in enumerate(eval_sets):
                    loss = 1.7 + 0.3 * e + 400 / N**0.34 / (1 + 0.2 * r) + 410 / D**0.28
                    rows.append(
                        {
                            "run_id": f"{recipe}-{N:g}-{tpp}",
                            "N": N,
                            "D": D,
                            "eval_set": s,
                            "loss": loss * np.exp(rng.normal(0, 0.003)),
                            **({"recipe": recipe} if len(recipes) > 1 else {}),
                        }
                    )
    return pd.DataFrame(rows)


def _build(frame, **kw):
    return report_html.build(
        frame, bootstrap=20, sensitivity=False, backtest=None, catalog=None, form="chinchilla", **kw
    )


@pytest.mark.slow  # joint fits per recipe and per eval set: about a minute on 2 shared cores
def test_recipe_table_gets_the_comparison_section_with_offsets():
    rep = _build(_table(eval_sets=("val", "wiki")))
    assert rep.sections["comparison"] == "ok"
    assert {"comparison_laws", "comparison_multiplier"} <= set(rep.figures)
    assert "swiglu over gelu" in rep.html and "wiki − val" in rep.html
    rep.close()


def test_no_grouping_column_omits_the_section():
    rep = _build(_table(recipes=("only",)))
    assert "comparison" not in rep.sections and 'id="comparison"' not in rep.html
    rep.close()


def test_by_option_names_an_unknown_column():
    rep = _build(_table(), by="nope")
    assert rep.sections["comparison"].startswith("not available")
    assert "ok" == rep.sections["law"]
    rep.close()
