"""The critical batch size B_crit(L) (Kaplan et al. 2020 §5.1) and Kaplan's L(N, S_min)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scalelab.cli import main
from scalelab.errors import InputError, NumericalError
from scalelab.laws import Law, batch, fit
from scalelab.laws.batch import BcritResult, critical_batch, steps_to_reach


def sweep_table(**kwargs) -> pd.DataFrame:
    return batch.simulate_sweep(**kwargs).data


def test_steps_to_reach_interpolates_the_running_minimum_in_log_log():
    steps = np.array([10.0, 100.0, 1000.0])
    loss = 10.0 * steps**-0.5
    target = 10.0 * 300.0**-0.5
    assert steps_to_reach(steps, loss, target) == pytest.approx(300.0)
    # a spike above the target after reaching it does not matter; never reached: NaN
    assert steps_to_reach(steps, np.array([3.0, 1.0, 5.0]), 1.0) == pytest.approx(100.0)
    assert np.isnan(steps_to_reach(steps, loss, 0.01))
    assert np.isnan(steps_to_reach(steps, loss, 5.0))  # already below at the first evaluation


def test_s_min_and_e_min_per_loss_match_the_sweep_exactly():
    r = critical_batch(sweep_table(), bootstrap=0)
    used = [lv for lv in r.levels if lv["used"]]
    assert len(used) >= 6
    for lv in used:
        assert lv["B_crit"] == pytest.approx(2e8 / lv["loss"] ** (1 / 0.21), rel=0.05)
        assert lv["E_min"] == pytest.approx(lv["S_min"] * lv["B_crit"])
    assert r.B_star == pytest.approx(2e8, rel=0.1)
    assert r.alpha_B == pytest.approx(0.21, rel=0.02)


@pytest.mark.parametrize("seed", [1, 2])
def test_bcrit_recovered_within_its_bootstrap_interval_from_a_noisy_sweep(seed):
    r = critical_batch(sweep_table(noise=0.01, seed=seed), bootstrap=200, seed=seed)
    assert r.ci["B_star"][0] <= 2e8 <= r.ci["B_star"][1], (r.B_star, r.ci)
    assert r.ci["alpha_B"][0] <= 0.21 <= r.ci["alpha_B"][1], (r.alpha_B, r.ci)
    assert r.alpha_B == pytest.approx(0.21, rel=0.15)
    assert r.failed < 20


def test_fit_file_round_trips_and_drives_s_min(tmp_path):
    r = critical_batch(sweep_table(), bootstrap=20)
    path = r.save(tmp_path / "bcrit.json")
    back = BcritResult.load(path)
    assert back.B_star == r.B_star and back.levels[0]["loss"] == r.levels[0]["loss"]
    assert batch.resolve_bcrit(str(path))[:2] == (r.B_star, r.alpha_B)
    # a law fitted through the file keeps its numbers: it reloads once the file is gone
    law = fit(sweep_table(), "kaplan-ns", bcrit=str(path), grid={"n_c": [30.0], "s_c": [5.0]})
    law.save(tmp_path / "law.json")
    path.unlink()
    back_law = Law.load(tmp_path / "law.json")
    assert batch.resolve_bcrit(back_law.conventions["bcrit"])[:2] == (r.B_star, r.alpha_B)
    lo, hi = back.band(np.array([5.0]))
    assert lo[0] <= back.predict(5.0) <= hi[0]


def test_too_few_batch_sizes_is_a_numerical_error():
    two = sweep_table(batches=(1e4, 1e5))
    with pytest.raises(NumericalError, match="batch sizes"):
        critical_batch(two, bootstrap=0)
    with pytest.raises(NumericalError, match=r"loss 4 is reached by 0 batch size"):
        critical_batch(sweep_table(batches=(1e4, 1e5, 3e5)), losses=[4.0], bootstrap=0)


def test_kaplan_ns_reports_published_names_and_recovers_them_through_s_min():
    truth = {"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76}
    table = sweep_table(
        sizes=(1e6, 1e7, 1e8, 1e9), batches=(1e4, 1e5, 1e6), n_points=10, law=truth, noise=0.003
    )
    law = fit(table, "kaplan-ns", bcrit="2e8,0.21", bootstrap=40, level=0.99)
    assert set(law.params) == {"N_c", "S_c", "alpha_N", "alpha_S"}
    for name, value in truth.items():
        lo, hi = law.ci[name]
        assert lo <= value <= hi, (name, law.params[name], (lo, hi))
    assert law.params["alpha_S"] == pytest.approx(0.76, rel=0.1)
    assert law.params["alpha_N"] == pytest.approx(0.077, rel=0.1)
    assert law.conventions["bcrit"] == "2e8,0.21"
    assert "S_min" in law.conventions["steps_meaning"]
    # the raw steps are not S_min: fitted as if they were, the law misses S_c badly
    raw = fit(table, "kaplan-ns", bcrit="none")
    assert not raw.params["S_c"] == pytest.approx(truth["S_c"], rel=0.5)


def test_bad_bcrit_convention_is_one_input_line():
    with pytest.raises(InputError, match="bcrit"):
        fit(sweep_table(), "kaplan-ns", bcrit="fast")


def test_cli_bcrit_json_table_and_exit_statuses(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    sweep_table(noise=0.005, n_points=20).to_csv(runs, index=False)
    out = tmp_path / "bcrit.json"
    assert main(["bcrit", str(runs), "--bootstrap", "30", "--json", "-o", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["B_star"] == pytest.approx(2e8, rel=0.5) and d["alpha_B"] == pytest.approx(
        0.21, rel=0.1
    )
    assert d["ci"]["alpha_B"][0] <= d["alpha_B"] <= d["ci"]["alpha_B"][1]
    assert {"loss", "S_min", "E_min", "B_crit"} <= set(d["levels"][0])
    assert main(["bcrit", str(runs), "--bootstrap", "0"]) == 0
    assert "alpha_B" in capsys.readouterr().out
    # the ladder's batches against the measured B_crit at each rung's expected loss
    spec = str(__import__("pathlib").Path(__file__).parents[1] / "examples/ladder_batch.toml")
    args = ["bcrit", str(runs), "--bootstrap", "0", "--ladder", spec, "--json"]
    assert main([*args, "--law", "chinchilla-2022"]) == 0
    rows = json.loads(capsys.readouterr().out)["ladder"]
    assert len(rows) == 8 and all(r["batch_over_bcrit"] > 0 for r in rows)
    for r in rows:
        assert r["tokens_over_min"] == pytest.approx(1 + r["batch_tokens"] / r["B_crit"])
    assert main(args) == 2  # --ladder without --law
    capsys.readouterr()
    # kaplan-ns through `scalelab fit`, with S_min from the measured B_crit
    assert main(["fit", str(runs), "--form", "kaplan-ns", "--bcrit", str(out), "--json"]) == 0
    law = json.loads(capsys.readouterr().out)
    assert {"N_c", "S_c", "alpha_N", "alpha_S"} <= set(law["params"])
    # bad input: one line, exit 2; too few batch sizes: exit 3
    assert main(["bcrit", str(runs), "--losses", "4,x"]) == 2
    assert capsys.readouterr().err.count("error:") == 1
    no_steps = tmp_path / "final.csv"
    pd.DataFrame({"N": [1e6, 2e6], "D": [1e9, 2e9], "loss": [3.0, 2.9]}).to_csv(no_steps)
    assert main(["bcrit", str(no_steps)]) == 2
    assert "step column" in capsys.readouterr().err
    two = tmp_path / "two.csv"
    sweep_table(batches=(1e4, 1e5)).to_csv(two, index=False)
    assert main(["bcrit", str(two)]) == 3


# ---- the ladder's batch sweep ------------------------------------------------------------------

SWEEP_SPEC = {
    "name": "batch",
    "data": {"preset": "markov", "markov_tokens": 600000},
    "model": {"n_ctx": 16, "vocab_size": 64},
    "train": {"schedule": "constant"},
    "eval": {"points": 12},
    "grid": {
        "shapes": [
            {"n_layer": 1, "d_model": 16, "n_head": 2},
            {"n_layer": 2, "d_model": 32, "n_head": 2},
        ],
        "tokens": [400000],
        "batch_tokens": [64, 256, 1024, 4096],
        "branches": False,
    },
    "hparams": {"min_steps": 50, "lr_batch_scaling": "sqrt"},
}


def _spec(tmp_path, **changes):
    from scalelab.ladder.spec import spec_from_dict

    raw = json.loads(json.dumps(SWEEP_SPEC))
    raw["out_dir"] = str(tmp_path / "out")
    for section, values in changes.items():
        raw[section] = {**raw.get(section, {}), **values}
    return spec_from_dict(raw, "sweep.toml")


def test_ladder_plans_one_job_per_size_and_batch_with_the_lr_rule(tmp_path):
    from scalelab.ladder.plan import plan_ladder
    from scalelab.train import hparams

    plan = plan_ladder(_spec(tmp_path), "sweep.toml")
    cells = {(j.N, j.batch_tokens): j for j in plan.jobs}
    assert len(plan.jobs) == len(cells) == 8
    assert {b for _, b in cells} == {64, 256, 1024, 4096}
    for (n, b), j in cells.items():
        assert j.run_id.endswith(f"-B{b}") and j.run_config.run_id == j.run_id
        assert j.run_config.train.batch_tokens == b and j.points[0].run_id == j.run_id
        rule = hparams.lr_rule(n) * (b / hparams.batch_rule(n, None, 16)) ** 0.5
        assert j.lr == pytest.approx(rule) and j.run_config.train.lr == pytest.approx(rule)
    assert len({j.run_id for j in plan.jobs}) == 8
    flat = plan_ladder(_spec(tmp_path, hparams={"lr_batch_scaling": "none"}), "sweep.toml")
    assert len({round(j.lr, 12) for j in flat.jobs}) == 2  # one lr per size


def test_bad_batch_sweeps_are_one_line_each_and_exit_2(tmp_path):
    from scalelab.ladder.plan import plan_ladder

    with pytest.raises(InputError, match=r"batch_tokens.*not both"):
        _spec(tmp_path, hparams={"batch_tokens": 256})
    with pytest.raises(InputError, match="repeated"):
        _spec(tmp_path, grid={"batch_tokens": [64, 64, 256]})
    with pytest.raises(InputError, match="n_ctx"):
        plan_ladder(_spec(tmp_path, grid={"batch_tokens": [64, 100]}), "sweep.toml")
    toml = tmp_path / "sweep.toml"
    toml.write_text(
        'name = "b"\n[data]\npreset = "markov"\n[grid]\nsizes = [2e4]\ntokens = [400000]\n'
        'batch_tokens = [64, 0]\n[hparams]\nlr_batch_scaling = "cubic"\n'
    )
    assert main(["ladder", "plan", str(toml)]) == 2


def test_bcrit_batch_rule_trains_each_size_at_its_critical_batch(tmp_path):
    from scalelab.ladder.batches import compare_rule
    from scalelab.ladder.plan import plan_ladder
    from scalelab.laws.batch import bcrit_of

    law = Law("chinchilla", {"E": 1.0, "A": 40.0, "B": 40.0, "alpha": 0.3, "beta": 0.3})
    law.save(tmp_path / "law.json")
    grid = {"batch_tokens": [], "tokens": [], "tokens_per_param": [40, 80]}
    hp = {"batch_rule": "bcrit", "bcrit": "2e5,0.3", "bcrit_law": str(tmp_path / "law.json")}
    plan = plan_ladder(_spec(tmp_path, grid=grid, hparams=hp), "sweep.toml")
    assert len(plan.jobs) == 4  # 2 sizes x 2 budgets, one job each (branches = false)
    for j in plan.jobs:
        d_min = 40 * j.N
        want = bcrit_of(law.predict(N=j.N, D=d_min), 2e5, 0.3)
        cap = (d_min // 50) // 16 * 16
        assert j.batch_tokens == min(cap, max(16, round(want / 16) * 16)), (j.run_id, want)
    assert len({j.batch_tokens for j in plan.jobs}) == 2  # one batch per size
    rows = compare_rule(plan, law, 2e5, 0.3)
    for r in rows:
        assert r["steps_over_min"] == pytest.approx(1 + r["B_crit"] / r["batch_tokens"])
    with pytest.raises(InputError, match="bcrit_law"):
        _spec(tmp_path, grid=grid, hparams={"batch_rule": "bcrit"})


# ---- the report's B_crit figure ----------------------------------------------------------------


def test_report_section_draws_bcrit_against_loss_only_for_a_batch_sweep():
    from scalelab.report import figures as F
    from scalelab.report.bcrit import bcrit_section, has_batch_sweep
    from scalelab.report.page import page
    from scalelab.runs import RunTable

    sweep = RunTable.from_frame(sweep_table(noise=0.005))
    assert has_batch_sweep(sweep)
    plain = RunTable.from_frame(sweep_table(batches=(1e4, 1e5)))
    assert not has_batch_sweep(plain) and bcrit_section(plain) is None
    section = bcrit_section(sweep)
    assert section.ok and set(section.figures) == {"bcrit"}
    ax = section.figures["bcrit"].axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "B_crit(L) = B*/L^(1/α_B)" in section.body and "<img" in section.body
    html = page("t", [section])
    assert 'href="#bcrit"' in html and "Critical batch size" in html
    F.close(section.figures["bcrit"])


@pytest.mark.slow
def test_a_tiny_trained_sweep_gives_bcrit_end_to_end(tmp_path):
    from ladder_helpers import cli, ladder_dict, write_spec

    spec = ladder_dict(
        out_dir=str(tmp_path / "ladder"),
        data={"markov_tokens": 100000},
        train={"schedule": "constant"},
        eval={"points": 10},
        grid={"tokens_per_param": [], "tokens": [100000], "batch_tokens": [32, 256, 2048]},
        hparams={"min_steps": 40, "lr_batch_scaling": "sqrt"},
    )
    spec["grid"]["branches"] = False
    path = write_spec(tmp_path / "sweep.toml", spec)
    assert cli("ladder", "run", str(path)).returncode == 0
    table = tmp_path / "runs.csv"
    assert cli("ladder", "export", str(tmp_path / "ladder"), "-o", str(table)).returncode == 0
    rows = pd.read_csv(table)
    assert rows.groupby("run_id")["step"].nunique().min() >= 8  # whole learning curves
    batches = rows.groupby("run_id")["tokens_per_step"].first()
    assert all(rid.endswith(f"-B{int(b)}") for rid, b in batches.items())
    done = cli("bcrit", str(table), "--bootstrap", "50", "--json")
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["B_star"] > 0 and d["alpha_B"] > 0
    assert all(lv["S_min"] > 0 for lv in d["levels"] if lv["used"])
