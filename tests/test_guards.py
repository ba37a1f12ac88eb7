"""Guards: a C-only law asked at (N, D), the law's warnings repeated where it is used, predictions
far beyond the fitted runs, and forms with too many parameters for the runs."""

import json

import numpy as np
import pytest

from scalelab.cli import main
from scalelab.errors import InputError
from scalelab.laws import Law, fit, guards, synthetic
from scalelab.plan import planner

PARAMS = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37}
RANGES = {"N": [1e7, 1e9], "D": [1e9, 1e11]}
FITTED = {"ranges": RANGES, "compute": [6e16, 6e19]}


def chinchilla(warnings=(), samples=False, data=FITTED):
    law = Law("chinchilla", dict(PARAMS), warnings=list(warnings), data=dict(data))
    law.conventions = {"params": "total", "flops": "6ND"}
    if samples:
        law.samples = np.tile(law.theta, (8, 1)) * (1 + 0.01 * np.arange(8))[:, None]
    return law


def c_only(flops="6ND"):
    law = Law("power-offset:C", {"E": 1.7, "A": 30.0, "alpha": 0.06})
    law.conventions = {"flops": flops}
    return law


def run_json(capsys, argv):
    assert main(argv) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


# -- C-only laws at (N, D) -------------------------------------------------------------------------


def test_c_only_law_takes_n_and_d_by_its_flop_convention():
    law = c_only()
    variables, notes = guards.resolve_variables(law, {"N": 1e9, "D": 2e10})
    assert variables == {"C": pytest.approx(1.2e20)} and "C = 6 N D" in notes[0]
    assert guards.resolve_variables(law, {"C": 1e20}) == ({"C": 1e20}, [])  # no trip
    same = guards.resolve_variables(chinchilla(), {"N": 1e9, "D": 2e10})
    assert same == ({"N": 1e9, "D": 2e10}, [])  # a law in N and D is left alone


def test_c_only_law_without_6nd_convention_is_refused():
    with pytest.raises(InputError, match="give C"):
        guards.resolve_variables(c_only("table"), {"N": 1e9, "D": 2e10})


def test_cli_predict_c_only_law_at_n_and_d(tmp_path, capsys):
    path = c_only().save(tmp_path / "c.json")
    result, err = run_json(
        capsys, ["predict", "--law", str(path), "--N", "1e9", "--D", "2e10", "--json"]
    )
    assert result["C"] == pytest.approx(1.2e20) and "N" not in result
    assert result["loss"] == pytest.approx(float(c_only().predict(C=1.2e20)))
    assert "C = 6 N D" in result["notes"][0] and "note: the law depends on C alone" in err
    result, _ = run_json(
        capsys, ["predict", "--law", "kaplan-2020-c", "--N", "1e9", "--D", "2e10", "--json"]
    )
    assert result["C"] == pytest.approx(1.2e20)


# -- the law's warnings, repeated ------------------------------------------------------------------


@pytest.mark.parametrize("warned", [True, False])
def test_predict_optimal_plan_repeat_the_laws_warnings(tmp_path, capsys, warned):
    text = "parameter E sits on its lower bound"
    path = chinchilla([text] if warned else []).save(tmp_path / "law.json")
    for argv in (
        ["predict", "--law", str(path), "--N", "1e8", "--D", "2e9"],
        ["optimal", "--law", str(path), "--flops", "1e18"],
        ["plan", "--law", str(path), "--flops", "1e18"],
        ["plan", "--law", str(path), "--N", "1e8", "--D", "2e9", "--device", "H100"],
    ):
        result, err = run_json(capsys, argv + ["--json"])
        assert result["warnings"] == ([text] if warned else []), argv
        assert (f"warning: {text}" in err) is warned, argv


# -- extrapolation ---------------------------------------------------------------------------------


def test_prediction_far_beyond_the_fitted_compute_is_warned():
    law = chinchilla()
    near = guards.prediction_warnings(law, {"N": 1e9, "D": 1e12})  # 6e21: 100x the largest
    assert near == []
    far = guards.prediction_warnings(law, {"N": 3e9, "D": 1e12})  # 1.8e22: 300x
    assert len(far) == 1 and "300x the largest fitted compute" in far[0]
    assert guards.prediction_warnings(law, {"C": 1e22})[0].startswith("prediction at C = 1e+22")


def test_size_far_outside_the_fitted_range_is_warned():
    law = chinchilla(data={"ranges": RANGES})  # an older law without a compute record
    assert guards.extrapolation_warnings(law, N=9e9) == []
    assert "1.1e+10" in guards.extrapolation_warnings(law, N=1.1e10)[0]
    assert "smallest fitted size" in guards.extrapolation_warnings(law, N=5e5)[0]
    assert guards.extrapolation_warnings(chinchilla(data={}), C=1e30, N=1e15) == []


def test_bootstrapped_law_says_its_interval_is_wider_out_there():
    law = chinchilla(samples=True)
    far = guards.extrapolation_warnings(law, C=1e23, N=1e11)
    assert len(far) == 3 and "the real interval is wider" in far[-1]
    assert guards.extrapolation_warnings(law, C=1e20, N=1e9) == []


def test_cli_optimal_and_plan_warn_beyond_the_fitted_runs(tmp_path, capsys):
    path = chinchilla().save(tmp_path / "law.json")
    result, err = run_json(capsys, ["optimal", "--law", str(path), "--flops", "1e25", "--json"])
    assert any("largest fitted compute" in w for w in result["warnings"])
    assert "warning: allocation at C = 1e+25" in err
    result, _ = run_json(capsys, ["optimal", "--law", str(path), "--flops", "1e20", "--json"])
    assert result["warnings"] == []
    plan = planner.plan(chinchilla(), flops=1e25)
    assert any("largest fitted compute" in w for w in plan["warnings"])


# -- parameters per run ----------------------------------------------------------------------------


def test_too_many_parameters_for_the_runs_is_warned_at_fit_time():
    truth = Law("power-offset:N", {"E": 1.8, "A": 400.0, "alpha": 0.3})
    assert guards.fit_warnings(5, 12, "chinchilla") and not guards.fit_warnings(5, 15, "x")
    few = synthetic.simulate(truth, N=np.geomspace(1e7, 1e9, 6), noise=0.002)  # 3 > 6/3
    enough = synthetic.simulate(truth, N=np.geomspace(1e7, 1e9, 9), noise=0.002)  # 3 = 9/3
    assert any("3 parameters for 6 runs" in w for w in fit(few, "power-offset:N").warnings)
    assert not any("per parameter" in w for w in fit(enough, "power-offset:N").warnings)
