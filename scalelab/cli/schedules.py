"""The schedule-aware laws in the CLI (issue 22, item 5): ``fit --form auto``'s comparison,
``predict`` under a target schedule, ``backtest``'s schedule-aware row."""

from __future__ import annotations

from typing import Optional

from scalelab.cli.common import _interval, emit_json, err, out


def print_comparison(record: Optional[dict]) -> None:
    """``fit --form auto`` on a table with schedules: which law won the held-out comparison, why."""
    if not record:  # a table without learning-rate schedules (laws/schedule_select.py)
        return
    text = record.get("why") or record.get("skipped")
    out.print(f"schedule-aware laws: {text}", markup=False, highlight=False)
    if "law" in record:
        law = record["law"]
        out.print(
            f"the law carries the {law['law']} law fitted to every checkpoint "
            f"({law['n_points']} points of {law['n_runs']} runs): predict uses it",
            markup=False,
            highlight=False,
        )


def print_prediction(law: str, result: dict, as_json: bool) -> None:
    """A prediction of the schedule-aware law (:mod:`scalelab.laws.schedule_predict`)."""
    result = {"law": law, **result}
    for note in result["notes"]:
        err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        emit_json(result)
    else:
        interval = result["interval"]
        out.print(
            f"loss at N={result['N']:.4g}, {result['steps']:,} steps (D={result['D']:.4g}) under "
            f"{result['schedule']['text']}: {result['loss']:.4f} nats/token"
            + (
                f"  {result['level']:.0%} prediction interval {_interval(interval)}"
                if interval
                else "  (no interval)"
            ),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        point = result["final_point_loss"]
        out.print(
            f"law: {result['form']}, which won fit --form auto's held-out comparison: "
            f"{result['why']}"
            + (
                f"; the final-point form {result['final_point_form']} gives {point:.4f}"
                if point
                else ""
            ),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    _print_warnings([result])


def _print_warnings(results: list[dict]) -> None:
    for w in dict.fromkeys(w for r in results for w in r.get("warnings", [])):
        err.print(f"warning: {w}", markup=False, highlight=False)


def print_backtest(record: Optional[dict]) -> None:
    """``backtest`` on a table with schedules: the schedule-aware law on the same held-out runs."""
    if not record:
        return
    if "skipped" in record:
        out.print(f"schedule-aware law: not compared ({record['skipped']})", markup=False)
        return
    law = record["law"]
    out.print(
        f"schedule-aware law ({law}, every checkpoint of the fitting runs, each held-out run's own "
        f"schedule): mean |error| {record['mean_abs_rel_error'][law]:.2%}, max "
        f"{record['max_abs_rel_error']:.2%}, coverage {record['coverage']:.0%} at "
        f"{record['level']:.0%}; {record['winner']} won: {record['why']}",
        markup=False,
        highlight=False,
    )
    for note in record.get("notes", []):
        err.print(f"warning (schedule-aware law): {note}", markup=False, highlight=False)
