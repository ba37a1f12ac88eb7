"""What the restructuring added: typed fit options (saved with the law), form selection as its own
module, the planning API the CLI calls, and the report's reproduce command from its options."""

import json

import numpy as np
import pytest

from scalelab import laws
from scalelab.cli import main
from scalelab.errors import InputError
from scalelab.laws import FitOptions, Law, published, select, synthetic
from scalelab.plan import planner
from scalelab.report.options import ReportOptions

TIED = Law("chinchilla-tied", {"E": 1.9, "A": 500.0, "B": 1500.0, "alpha": 0.33})
TIED_GRID = {"e": [0.5], "a": [5.0, 10.0], "b": [5.0, 10.0], "alpha": [0.5]}
RECORD_KEYS = {
    "loss",
    "delta",
    "optimizer",
    "grid",
    "bounds",
    "bootstrap",
    "seed",
    "level",
    "budget",
    "eval_set",
    "task",
    "points",
    "max_iter",
}


def test_fit_options_round_trip_through_a_saved_law(tmp_path):
    table = synthetic.simulate(
        TIED, N=np.geomspace(2e7, 2e9, 5), D=np.geomspace(4e8, 4e11, 5), noise=0.005
    )
    options = FitOptions(loss="mse", bootstrap=20, seed=3, level=0.9, budget=1e22, grid=TIED_GRID)
    law = laws.fit(table, "chinchilla-tied", options=options)
    assert isinstance(law.options, FitOptions)
    assert law.options.loss == "mse" and law.options.delta is None  # resolved as the fit applied it
    assert law.options.points == "final" and law.options.grid == {
        k: list(v) for k, v in TIED_GRID.items()
    }
    assert law.options.budget == 1e22 and law.options.conventions.params == "non-embedding"
    path = law.save(tmp_path / "law.json")
    saved = json.loads(path.read_text())
    assert set(saved["options"]) == RECORD_KEYS  # the file format's keys
    assert saved["conventions"]["params"] == "non-embedding" and saved["options"]["delta"] is None
    back = Law.load(path)
    assert back.options == law.options and back.level == 0.9
    assert FitOptions.from_record(saved["options"], saved["conventions"]) == law.options
    # keyword arguments build the same options as the typed object
    again = laws.fit(
        table,
        "chinchilla-tied",
        loss="mse",
        bootstrap=20,
        seed=3,
        level=0.9,
        budget=1e22,
        grid=TIED_GRID,
    )
    assert again.options == law.options and again.params == law.params
    # a law without a fit has no options, saved as {}
    chinchilla = published.get("chinchilla-2022")
    assert chinchilla.options is None and chinchilla.to_dict()["options"] == {}


def test_fit_options_validate_once():
    with pytest.raises(InputError, match="bootstrap"):
        FitOptions(bootstrap=-1)
    with pytest.raises(InputError, match="parameter convention"):
        FitOptions(params="all")
    with pytest.raises(InputError, match="Huber delta"):
        FitOptions(delta=0.0)
    assert FitOptions(loss="mse", delta=None).delta is None
    with pytest.raises(TypeError):
        FitOptions.make(bogus=1)


# slow (make test-all): selection of the true form stays in the default suite: test_extrapolation
@pytest.mark.slow
def test_select_chooses_the_true_form():
    """Runs from a power law with an irreducible term: the form with the floor extrapolates to the
    held-out largest size, the pure power law does not."""
    truth = Law("power-offset:C", {"E": 1.7, "A": 60.0, "alpha": 0.1})
    table = synthetic.simulate(truth, C=np.geomspace(1e17, 1e22, 8), noise=0.001, seed=1)
    choice = select.select_form(table, ["power:C", "power-offset:C"])
    assert choice["chosen"] == "power-offset:C"
    errors = choice["errors"]
    assert errors["power-offset:C"]["mean_abs_rel_error"] < errors["power:C"]["mean_abs_rel_error"]
    law = laws.fit(table, "auto", options=FitOptions(bootstrap=0))
    assert law.form in ("power-offset:C", "chinchilla", "chinchilla-tied", "kaplan-nd", "power:C")
    assert law.options.auto["chosen"] == law.form
    assert laws.fit is select.fit


def test_plan_api_returns_what_the_cli_prints(capsys):
    argv = [
        "plan",
        "--law",
        "chinchilla-2022",
        "--gpus",
        "1000",
        "--days",
        "30",
        "--device",
        "H100",
        "--mfu",
        "0.4",
        "--price",
        "2",
        "--json",
    ]
    assert main(argv) == 0
    cli = json.loads(capsys.readouterr().out)
    api = planner.plan("chinchilla-2022", gpus=1000, days=30, device="H100", mfu=0.4, price=2)
    assert json.loads(json.dumps(api, default=float)) == cli
    argv = [
        "plan",
        "--N",
        "27B",
        "--D",
        "14T",
        "--law",
        "besiroglu-2024",
        "--gpus",
        "1000",
        "--device",
        "H100",
        "--mfu",
        "0.4",
        "--claim-days",
        "26",
        "--json",
    ]
    assert main(argv) == 0
    cli = json.loads(capsys.readouterr().out)
    api = planner.check_model(
        27e9, 14e12, law="besiroglu-2024", device="H100", gpus=1000, mfu=0.4, claim_days=26
    )
    assert json.loads(json.dumps(api, default=float)) == cli
    assert (
        api["frontier"]["verdict"].startswith("over-trained")
        and api["law"]["name"] == "besiroglu-2024"
    )
    assert planner.plan(None, N=27e9, D=14e12, device="H100") == planner.check_model(
        27e9, 14e12, device="H100"
    )
    with pytest.raises(InputError, match="takes no budget"):
        planner.plan("chinchilla-2022", N=27e9, D=14e12, flops=1e21)
    with pytest.raises(InputError, match="--law"):
        planner.plan(None, flops=1e21)


def test_report_reproduce_command_from_its_options():
    o = ReportOptions(
        runs="runs.csv",
        fit=FitOptions(bootstrap=50, budget=1e22),
        fast=True,
        output="r.html",
        where=("dataset=c4",),
    )
    assert o.command() == (
        "scalelab report runs.csv -o r.html --form chinchilla --budget 1e+22 "
        "--bootstrap 50 --where dataset=c4 --fast"
    )
    assert ReportOptions().command() == "scalelab report RUNS -o report.html --form chinchilla"
    assert ReportOptions.make(budget=1e23, form="auto").budget == 1e23  # the report's own budget
