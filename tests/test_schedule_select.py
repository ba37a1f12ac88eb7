"""``fit --form auto`` considers the schedule-aware laws when the table carries schedules, and
nothing changes when it does not (issue 22, item 5: laws/schedule_select.py)."""

from __future__ import annotations

import pytest
from test_curves import synth_rows

from scalelab.laws import fit as fit_law
from scalelab.laws.schedule_select import schedule_aware
from scalelab.runs.table import RunTable

SCHEDULE = ("schedule", "total_steps", "warmup_steps", "lr_step", "decay_start", "min_lr_ratio")


def _final_fit(form):
    return lambda t: fit_law(t, form, bootstrap=0)


def test_no_schedules_no_record():
    rows = synth_rows(kinds=("cosine",), sizes=(1e5, 2e5, 4e5, 8e5), total=200)
    plain = [{k: v for k, v in r.items() if k not in SCHEDULE and k != "lr"} for r in rows]
    assert (
        schedule_aware(RunTable.from_records(plain), "chinchilla", _final_fit("chinchilla")) is None
    )


@pytest.mark.slow  # about 10 s on the loaded 2-core machine
def test_schedule_aware_law_wins_on_cosine_curves():
    """Annealing-law curves, 4 sizes x 2 cosine lengths: the annealing law on every checkpoint
    predicts the held-out size's final losses better than Chinchilla on final points."""
    rows = synth_rows(kinds=("cosine",), sizes=(1e5, 2e5, 4e5, 8e5), total=300)
    rows += [
        dict(r, run_id=r["run_id"] + "-long")
        for r in synth_rows(kinds=("cosine",), sizes=(1e5, 2e5, 4e5, 8e5), total=900, seed=1)
    ]
    record = schedule_aware(RunTable.from_records(rows), "chinchilla", _final_fit("chinchilla"))
    assert record["winner"] == "annealing", record
    assert set(record["mean_abs_rel_error"]) == {"chinchilla", "annealing"}
    assert "predict uses the annealing law" in record["why"]
    assert record["law"]["law"] == "annealing"
