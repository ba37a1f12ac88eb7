"""The report's learning-curve section: the law's fit with its band, and final-loss forecasts."""

import re

from test_curves import synth_rows

from scalelab.report.curves import curves_section
from scalelab.runs.table import RunTable


def test_curves_section_draws_the_fit_and_forecasts():
    table = RunTable.from_records(synth_rows(total=400))
    section = curves_section(table, bootstrap=10)
    assert section.ok and "curves" in section.figures
    # one row per run: observed final loss, the law's, and the half-way forecast with its interval
    rows = re.findall(r"<tr><td>([a-z]+-[0-9e+.]+)</td>(.*?)</tr>", section.body)
    assert len(rows) == 9
    for _, cells in rows:
        values = [float(v) for v in re.findall(r"<td[^>]*>([0-9.]+)</td>", cells)]
        final, law, forecast = values[-3:]
        assert abs(law / final - 1) < 0.02 and abs(forecast / final - 1) < 0.02


def test_no_curves_no_section():
    rows = synth_rows(total=200)
    plain = [{k: v for k, v in r.items() if k not in ("total_steps", "lr_step")} for r in rows]
    assert curves_section(RunTable.from_records(plain)) is None
    # a schedule without its length: the section says why it is not available
    partial = [{k: v for k, v in r.items() if k != "total_steps"} for r in rows]
    section = curves_section(RunTable.from_records(partial))
    assert not section.ok and "total_steps" in section.status
