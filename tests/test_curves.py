"""Schedule-aware learning-curve laws: synthetic curves from the annealing law (Tissue et al.
2024) under cosine, WSD and constant schedules; the fit recovers them and predicts an unseen
schedule; the schedule-blind fit on the same points is biased; bad schedule columns are one line
each and exit status 2."""

import json

import numpy as np
import pytest

from scalelab import laws
from scalelab.cli import main
from scalelab.errors import InputError
from scalelab.laws.curve_forms import DECAY, curve_features, form
from scalelab.laws.curves import CurveLaw, fit_curves
from scalelab.runs.curves import learning_curves
from scalelab.runs.schedules import Schedule, lr_sequence, schedule_columns
from scalelab.runs.table import RunTable

TRUE = {"E": 1.8, "B": 30.0, "beta": 0.35, "A": 3.0, "nu": 0.1, "alpha": 0.5, "C": 0.8}
NOISE = 0.005
SIZES = (1e5, 3e5, 1e6)


def law_loss(N, sched, steps, params=TRUE, law="annealing", decay=DECAY):
    f = form(law, joint=True)
    x = curve_features(np.array(lr_sequence(sched)), np.asarray(steps), N, decay).as_dict()
    return np.exp(f.log_predict(f.internal(params)[None], x)[0])


def synth_rows(
    kinds=("cosine", "wsd", "constant"),
    sizes=SIZES,
    total=600,
    seed=0,
    *,
    warmup=30,
    cooldown=0.2,
    points=25,
    noise=NOISE,
    decay=DECAY,
    law="annealing",
    params=TRUE,
    peak=3e-3,
):
    """Run-table rows of noisy curves from the annealing law (``TRUE``, momentum ``decay``), or
    from ``law`` with ``params``."""
    rng = np.random.default_rng(seed)
    rows = []
    for N in sizes:
        for kind in kinds:
            s = Schedule(kind, peak, total, warmup_steps=warmup, cooldown_frac=cooldown)
            steps = np.unique(np.linspace(20, total, points).astype(int))
            truth = law_loss(N, s, steps, params, law, decay)
            loss = truth * np.exp(rng.normal(0, noise, len(steps)))
            for st, lo in zip(steps, loss, strict=True):
                rows.append(
                    {
                        "run_id": f"{kind}-{N:g}",
                        "N": N,
                        "D": int(st) * 1024,
                        "loss": lo,
                        "step": int(st),
                        "schedule": kind,
                        "lr": peak,
                        **schedule_columns(s, int(st)),
                    }
                )
    return rows


@pytest.fixture(scope="module")
def table():
    return RunTable.from_records(synth_rows())


@pytest.fixture(scope="module")
def fitted(table):
    return fit_curves(table, "annealing", bootstrap=40, seed=1)


def test_fit_recovers_parameters_within_intervals(fitted):
    assert fitted.joint and fitted.n_runs == 9
    for name, value in TRUE.items():
        lo, hi = fitted.ci[name]
        assert lo <= value <= hi, (name, value, fitted.ci[name])
    assert abs(fitted.sigma - NOISE) < 0.3 * NOISE  # the residual scatter is the noise


def test_predicts_an_unseen_schedule_and_length(fitted):
    # a longer run with a short linear cool-down: neither its length nor its shape was fitted
    unseen = Schedule(
        "wsd", 3e-3, 1200, warmup_steps=30, cooldown_frac=0.1, cooldown_shape="linear"
    )
    truth = float(law_loss(1e6, unseen, [1200])[0])
    pred = fitted.final(1e6, unseen)
    assert abs(pred["loss"] / truth - 1) < 2 * NOISE
    assert pred["lo"] <= truth <= pred["hi"]
    # (b) a larger model's whole curve
    big = Schedule("cosine", 3e-3, 600, warmup_steps=30)
    steps = np.arange(100, 601, 50)
    curve = fitted.predict(3e6, lr_sequence(big), steps)
    assert np.max(np.abs(curve / law_loss(3e6, big, steps) - 1)) < 3 * NOISE


def test_schedule_blind_fit_on_intermediate_points_is_biased(table, fitted):
    """The reason the law exists: Chinchilla's L(N, D) on every (unannealed) point of the same
    runs mis-predicts the final, annealed loss of a cosine run of another length."""
    grid = {"e": [0.0, 0.5], "a": [0, 5, 10], "b": [0, 5, 10], "alpha": [0.5], "beta": [0.5]}
    blind = laws.fit(table, "chinchilla", points="all", skip_first=0.1, grid=grid)
    unseen = Schedule("cosine", 3e-3, 1200, warmup_steps=60)
    truth = float(law_loss(1e6, unseen, [1200])[0])
    blind_err = float(blind.predict(N=1e6, D=1200 * 1024)) / truth - 1
    aware_err = fitted.final(1e6, unseen)["loss"] / truth - 1
    assert abs(aware_err) < 2 * NOISE
    assert abs(blind_err) > 4 * NOISE and abs(blind_err) > 4 * abs(aware_err)


def test_forecast_of_a_running_job(fitted):
    sched = Schedule("wsd", 3e-3, 900, warmup_steps=30, cooldown_frac=0.2)
    rows = synth_rows(kinds=(), sizes=())  # none: build the running job's curve by hand
    steps = np.arange(50, 601, 50)  # before its cool-down (decay starts at step 720)
    loss = law_loss(6e5, sched, steps) * 1.01  # the job runs 1% above the law
    rows = [
        {
            "run_id": "job",
            "N": 6e5,
            "D": int(s) * 1024,
            "loss": lo,
            "step": int(s),
            "schedule": "wsd",
            "lr": 3e-3,
            **schedule_columns(sched, int(s)),
        }
        for s, lo in zip(steps, loss, strict=True)
    ]
    curve = learning_curves(RunTable.from_records(rows))[0]
    fc = fitted.forecast(curve)
    truth = 1.01 * float(law_loss(6e5, sched, [900])[0])
    assert abs(fc["loss"] / truth - 1) < 2 * NOISE and fc["lo"] <= truth <= fc["hi"]


def test_law_round_trips(fitted, tmp_path):
    again = CurveLaw.from_dict(json.loads(json.dumps(fitted.to_dict())))
    s = Schedule("cosine", 3e-3, 500, warmup_steps=20)
    assert again.final(3e5, s) == fitted.final(3e5, s)


def test_multipower_fits_the_curves():
    table = RunTable.from_records(synth_rows(sizes=(3e5,), total=400))
    mpl = fit_curves(table, "multipower", bootstrap=0)
    assert not mpl.joint
    unseen = Schedule("wsd", 3e-3, 1200, warmup_steps=30, cooldown_frac=0.1)
    truth = float(law_loss(3e5, unseen, [1200])[0])
    assert abs(mpl.final(3e5, unseen)["loss"] / truth - 1) < 0.03  # another law's curves
    assert mpl.sigma < 2 * NOISE


def test_per_step_lr_and_schedule_columns_give_the_same_curve():
    s = Schedule("cosine", 1e-3, 40, warmup_steps=4)
    lrs = lr_sequence(s)
    rows = [
        {
            "run_id": "r",
            "N": 1e5,
            "D": k * 10,
            "loss": 3.0 - 0.01 * k,
            "step": k,
            "lr_step": lrs[k - 1],
        }
        for k in range(1, 41)
    ]
    per_step = learning_curves(RunTable.from_records(rows))[0]
    described = learning_curves(
        RunTable.from_records(
            [
                {**r, "schedule": "cosine", "lr": 1e-3, "total_steps": 40, "warmup_steps": 4}
                for r in rows
            ]
        )
    )[0]
    as_lr = learning_curves(
        RunTable.from_records([{**r, "lr": r.pop("lr_step")} for r in map(dict, rows)])
    )[0]  # a user's lr that changes along the run is the lr at each step
    assert per_step.lr.tolist() == described.lr.tolist() == as_lr.lr.tolist() == lrs
    gaps = [r for r in rows if r["step"] != 7]
    with pytest.raises(InputError, match="a row at every step"):
        learning_curves(RunTable.from_records(gaps))


def test_bad_schedule_columns_one_line_each(tmp_path, capsys):
    rows = synth_rows(kinds=("cosine",), sizes=(1e5, 2e5), total=100)
    for r in rows:
        if r["N"] == 1e5:
            r["schedule"] = "linear-ish"
        else:
            r["warmup_steps"] = 500
    path = tmp_path / "bad.csv"
    RunTable.from_records(rows).write(path)
    with pytest.raises(InputError) as exc:
        learning_curves(RunTable.from_records(rows))
    assert len(exc.value.problems) == 2
    assert main(["curves", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error:") for line in err)
    assert "'schedule'" in err[0] + err[1] and "'warmup_steps'" in err[0] + err[1]
    assert "Traceback" not in capsys.readouterr().err


def test_cli_json_and_law_file(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    RunTable.from_records(synth_rows(sizes=(1e5,), total=300)).write(path)
    law_path = tmp_path / "law.json"
    rc = main(
        [
            "curves",
            str(path),
            "--bootstrap",
            "0",
            "--json",
            "-o",
            str(law_path),
            "--predict",
            "N=100k,kind=cosine,steps=600",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert not out["joint"] and set(out["params"]) == {"L0", "A", "alpha", "C"}
    assert out["predictions"][0]["steps"] == 600 and out["predictions"][0]["loss"] > 0
    assert CurveLaw.from_dict(json.loads(law_path.read_text())).law == "annealing"
    assert main(["curves", str(path), "--predict", "N=1e5,steps=10,kind=zigzag"]) == 2


def test_watch_shows_the_forecast_of_a_running_job(fitted, tmp_path, capsys):
    law_path = tmp_path / "curve_law.json"
    law_path.write_text(json.dumps(fitted.to_dict()))
    sched = Schedule("cosine", 3e-3, 800, warmup_steps=30)
    steps = np.arange(40, 401, 40)  # half-way through its cosine
    rows = [
        {
            "run_id": "job",
            "N": 5e5,
            "D": int(s) * 1024,
            "loss": lo,
            "step": int(s),
            "schedule": "cosine",
            "lr": 3e-3,
            **schedule_columns(sched, int(s)),
        }
        for s, lo in zip(steps, law_loss(5e5, sched, steps), strict=True)
    ]
    path = tmp_path / "job.csv"
    RunTable.from_records(rows).write(path)
    args = ["watch", str(path), "--law", "chinchilla-2022", "--forecast", str(law_path)]
    main([*args, "--json"])
    fc = json.loads(capsys.readouterr().out)["forecast"]
    truth = float(law_loss(5e5, sched, [800])[0])
    assert fc["total_steps"] == 800 and abs(fc["loss"] / truth - 1) < 2 * NOISE
    assert fc["lo"] <= truth <= fc["hi"]
    main(args)
    assert "forecast: final loss" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main([*args[:-1], str(bad)]) == 2


def test_a_law_without_n_term_says_its_prediction_at_a_new_size_is_not_one(tmp_path):
    """One size fits the pooled law (no N term): predicting another N warns, the fitted N not."""
    from scalelab.laws.curve_predict import curves_analysis

    table = RunTable.from_records(synth_rows(sizes=(1e5,), total=300))
    fitted, _ = curves_analysis(table, predict=["N=100k,kind=cosine,steps=600"], bootstrap=0)
    assert not fitted.joint and not any("no N term" in w for w in fitted.warnings)
    fitted, preds = curves_analysis(table, predict=["N=1M,kind=cosine,steps=600"], bootstrap=0)
    assert any("no N term" in w and "N = 1e+06" in w for w in fitted.warnings)
    assert preds[0]["loss"] > 0


def test_the_advice_on_a_bound_depends_on_how_densely_the_runs_were_sampled():
    from scalelab.laws.curves import _advise

    def advice(n_points, extra=()):
        law = CurveLaw("annealing", True, {}, n_runs=10)
        law.warnings = ["parameter C sits on a bound (0): these curves do not identify it", *extra]
        _advise(law, n_points, 7)
        return law.warnings[-1]

    assert "Evaluate each run more often" in advice(80)  # 8 points per run
    assert "sample the curves well" in advice(770)  # 77 per run: the bound is the data's
    assert "Evaluate each run more often" in advice(770, ["3 refits did not converge"])
