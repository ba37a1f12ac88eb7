"""scalelab.compare: joint fits across groups, the effective-compute multiplier, offsets, decision
accuracy, shapes, and the ``scalelab compare`` command.

Synthetic groups with a known compute multiplier k (docs/compare.md): recipe A follows a
Chinchilla law L_A(N, D) = E + A/N^alpha + B/D^beta; recipe B's run of (N, D) has the loss A's
law gives at k_N N parameters and k_D D tokens with k_N k_D = k, i.e. A's loss at k times the
compute (6 k_N N k_D D = k C). Then B's compute-optimal loss at any budget C is A's at k C, so
k(C) = k at every C. With k_N = k^a, k_D = k^b (a, b A's frontier exponents) both recipes have
the same compute-optimal N and D; B's law is A's with coefficients A k_N^-alpha and B k_D^-beta.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from scalelab import compare
from scalelab.cli import main
from scalelab.compare import multiplier
from scalelab.errors import InputError
from scalelab.laws import Law, forms
from scalelab.laws.synthetic import simulate

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
N = [2e7, 6e7, 2e8, 6e8, 2e9]
D = [4e8, 2e9, 1e10, 5e10]
GRID = {  # a small initialisation grid keeps the tests fast; the true point lies inside it
    "e": [0.0, 0.5],
    "a": [5.0, 7.0],
    "b": [5.0, 7.0],
    "alpha": [0.3, 0.6],
    "beta": [0.3, 0.6],
}


def law_b(k: float, params=TRUE) -> dict:
    """A's law worth k times the compute, split along A's frontier."""
    s = params["alpha"] + params["beta"]
    a, b = params["beta"] / s, params["alpha"] / s
    return params | {
        "A": params["A"] * (k**a) ** -params["alpha"],
        "B": params["B"] * (k**b) ** -params["beta"],
    }


def groups_table(laws: dict, noise: float, seed: int = 0, column: str = "recipe") -> pd.DataFrame:
    frames = []
    for i, (name, params) in enumerate(laws.items()):
        t = simulate(Law("chinchilla", params), N=N, D=D, noise=noise, seed=seed + i).data
        t[column] = name
        t["run_id"] = [f"{name}-{r}" for r in t["run_id"]]
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def test_the_construction_has_a_constant_multiplier():
    form = forms.get("chinchilla")
    ta = form.internal(TRUE)
    tb = form.internal(law_b(3.0))
    k = multiplier.multiplier_samples(form, ta, tb, np.array([1e18, 1e21, 1e24, 1e27]))[0]
    assert np.allclose(k, 3.0, rtol=1e-3)
    k = multiplier.multiplier_samples(form, tb, ta, np.array([1e20]))[0]  # A over B: 1/k
    assert k[0] == pytest.approx(1 / 3.0, rel=1e-3)


def test_multiplier_recovered_and_verdict_flips_with_noise():
    results = {}
    for noise in (0.003, 0.08):
        table = groups_table({"A": TRUE, "B": law_b(2.0)}, noise)
        results[noise] = compare.compare(
            table,
            by="recipe",
            shared="E,alpha,beta",
            budgets=[1e19, "1e21", 1e23],
            bootstrap=60,
            grid=GRID,
            tests=False,
            decision=False,
        )
    quiet, loud = results[0.003], results[0.08]
    (pair,) = quiet.pairs
    assert (pair.a, pair.b) == ("A", "B")
    for at in pair.budgets:
        lo, hi = at.interval
        assert lo <= 2.0 <= hi, at
        assert at.multiplier == pytest.approx(2.0, rel=0.25)
        assert at.verdict == "B better"
    assert pair.crossover is None and pair.crossover_reason
    for at in loud.pairs[0].budgets:
        assert at.verdict == "not distinguishable", at
    json.dumps(quiet.to_dict(), allow_nan=False, default=float)


def test_constant_offset_recovered_on_eval_sets():
    table = groups_table(
        {"in": TRUE, "ood": TRUE | {"E": TRUE["E"] + 0.3}}, 0.003, column="eval_set"
    )
    table["run_id"] = [r.split("-", 1)[1] for r in table["run_id"]]  # the same runs, two sets
    result = compare.compare(table, by="eval_set", bootstrap=40, grid=GRID)
    assert result.pairs == [] and result.decision is None
    off = result.offsets
    assert off.reference == "in" and off.holds is True
    lo, hi = off.offsets["ood"]["interval"]
    assert lo <= 0.3 <= hi
    assert off.offsets["ood"]["offset"] == pytest.approx(0.3, abs=0.03)


def test_exponent_difference_rejects_sharing():
    # B's N-term falls faster (alpha 0.45) and equals A's at N = 2e8, inside the runs: a
    # difference the runs can see (with A unchanged, alpha 0.45 would make B's N-term negligible)
    other = TRUE | {"alpha": 0.45, "A": TRUE["A"] * 2e8 ** (0.45 - TRUE["alpha"])}
    table = groups_table({"A": TRUE, "B": other}, 0.003)
    result = compare.compare(
        table, by="recipe", bootstrap=20, grid=GRID, budgets=[1e21], decision=False
    )
    tests = {t.hypothesis: t for t in result.sharing}
    assert tests["exponents"].supported is False and tests["exponents"].p_value < 1e-3
    assert tests["offset"].supported is False
    assert tests["exponents"].oos_error_shared > tests["exponents"].oos_error_free


def test_decision_accuracy_on_a_clear_winner():
    table = groups_table({"A": TRUE, "B": law_b(1.5), "C": law_b(3.0)}, 0.002)
    table = table[table.N <= 6e8]  # four sizes: the target and three rungs below it
    result = compare.compare(
        table, by="recipe", shared="E,alpha,beta", bootstrap=20, grid=GRID, tests=False
    )
    d = result.decision
    assert len(result.pairs) == 3  # every pair: (A, B), (A, C), (B, C)
    assert d.target.N == pytest.approx(6e8) and d.target.ranking == ["C", "B", "A"]
    assert d.pairs == 3
    assert all(r.accuracy == 1.0 for r in d.single_scale)
    assert [e.rungs for e in d.extrapolated] == [2, 3] and d.extrapolated[-1].accuracy == 1.0


def test_shape_family_with_identical_losses_has_no_shape_effect():
    rows = []
    for n in (1e7, 1e8, 1e9):
        for layers, width in ((4, 512), (8, 384), (16, 256), (32, 192)):
            for ratio in (10, 20, 40):
                loss = Law("chinchilla", TRUE).predict(N=n, D=ratio * n)
                rows.append(
                    {
                        "N": n,
                        "D": ratio * n,
                        "loss": float(loss),
                        "n_layer": layers,
                        "d_model": width,
                    }
                )
    result = compare.compare(pd.DataFrame(rows), by="shape", grid=GRID)
    s = result.shape
    assert s.verdict == "no shape effect" and s.spread == pytest.approx(0.0, abs=1e-6)
    assert len(s.cells) == 9 and all(len(c["shapes"]) == 4 for c in s.cells)
    assert s.noise_sd is None and s.noise_reason
    json.dumps(s.to_dict(), allow_nan=False)


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    table = groups_table({"A": TRUE, "B": law_b(2.0)}, 0.003)
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    one = tmp_path / "one.csv"
    table[table.recipe == "A"].to_csv(one, index=False)
    few = tmp_path / "few.csv"
    table[(table.recipe == "A") | (table.N <= 6e7)].to_csv(few, index=False)
    cases = [
        ([str(one), "--by", "recipe"], "single group"),
        ([str(few), "--by", "recipe"], "group 'B' has 2 model size(s)"),
        ([str(path), "--by", "lab"], "no column 'lab'"),
        ([str(path), "--shared", "gamma"], "'gamma' is not a parameter of form 'chinchilla'"),
        ([str(path), "--budget", "lots"], "--budget"),
    ]
    for argv, message in cases:
        assert main(["compare", *argv, "--bootstrap", "20", "--no-decision", "--no-tests"]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    with pytest.raises(InputError, match="at least 20 resamples"):
        compare.compare(table, by="recipe", bootstrap=5)


def test_cli_json(tmp_path, capsys):
    tied = TRUE | {"beta": TRUE["alpha"]}
    table = groups_table({"A": tied, "B": law_b(2.0, tied)}, 0.003)
    table = table[(table.N <= 2e8) & (table.D <= 1e10)]  # 9 runs a group: the full grid is quick
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    argv = ["compare", str(path), "--by", "recipe", "--shared", "E,alpha"]
    argv += ["--form", "chinchilla-tied"]  # 900 starts a fit, not 4,500: the CLI has no --grid
    argv += ["--budget", "1e21", "--budget", "270T", "--bootstrap", "30", "--json"]
    assert main(argv + ["--no-decision", "--no-tests"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["budgets"] == [2.7e14, 1e21]
    (pair,) = out["pairs"]
    assert {"a", "b", "budgets", "crossover"} <= set(pair)
    for at in pair["budgets"]:
        assert {"C", "multiplier", "interval", "verdict"} <= set(at)
        assert at["verdict"] in (
            f"{pair['b']} better",
            f"{pair['a']} better",
            "not distinguishable",
        )
    assert out["fit"]["shared"] == ["E", "alpha"]
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(out))


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


@pytest.mark.slow
def test_gadre_all_by_dataset(capsys):
    assert main(["compare", "--example", "gadre2024-all", "--by", "dataset", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["groups"] == ["c4_original", "rpj", "rw_original"] and len(out["pairs"]) == 3
