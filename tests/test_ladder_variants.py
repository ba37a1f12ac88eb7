"""Recipes in a ladder: ``[[variants]]`` plan, validate, train, export a recipe column, compare."""

from __future__ import annotations

import csv
import json

import pytest
from ladder_helpers import cli, ladder_dict, write_spec

from scalelab.errors import InputError
from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.spec import load_spec, spec_from_dict

pytest.importorskip("torch")

SHAPES = [
    {"n_layer": 1, "d_model": 16, "n_head": 2},
    {"n_layer": 2, "d_model": 16, "n_head": 2},
    {"n_layer": 3, "d_model": 16, "n_head": 2},
]
VARIANTS = """
[[variants]]
name = "gelu"

[[variants]]
name = "swiglu"
model.mlp = "swiglu"
hparams.lr_scale = 0.8
"""


def _spec(tmp_path, variants: str = VARIANTS, **sections):
    raw = ladder_dict(out_dir=str(tmp_path / "lad"), **sections)
    raw["grid"] = {**raw["grid"], "shapes": SHAPES, "tokens_per_param": [4, 8]}
    path = write_spec(tmp_path / "ladder.toml", raw)
    path.write_text(path.read_text() + variants)
    return path


def test_variants_plan_the_same_grid_with_prefixed_ids(tmp_path):
    spec = load_spec(_spec(tmp_path))
    plan = plan_ladder(spec)
    by = {}
    for j in plan.jobs:
        by.setdefault(j.recipe, []).append(j)
    assert sorted(by) == ["gelu", "swiglu"]
    assert len(by["gelu"]) == len(by["swiglu"]) == 3
    for j in plan.jobs:
        assert j.run_id.startswith(f"{j.recipe}-")
        assert j.run_config.run_id == j.run_id
        assert all(p.run_id.startswith(j.run_id) and p.job == j.run_id for p in j.points)
        assert j.run_config.model.mlp == ("swiglu" if j.recipe == "swiglu" else "gelu")
    # same shapes and budgets per variant; the variant's lr_scale reaches its runs
    gelu, swiglu = by["gelu"], by["swiglu"]
    assert [j.n_layer for j in gelu] == [j.n_layer for j in swiglu]
    assert swiglu[0].lr / gelu[0].lr == pytest.approx(0.8 * (gelu[0].N / swiglu[0].N) ** 0.25)
    assert {j["recipe"] for j in plan.to_dict()["jobs"]} == {"gelu", "swiglu"}


def test_spec_without_variants_plans_no_labels(tmp_path):
    plan = plan_ladder(load_spec(_spec(tmp_path, variants="")))
    assert all(j.recipe is None for j in plan.jobs)
    assert all("recipe" not in j for j in plan.to_dict()["jobs"])
    assert not any(j.run_id.startswith(("gelu", "swiglu")) for j in plan.jobs)


@pytest.mark.parametrize(
    "variants, needle",
    [
        ([{"name": "a", "model": {"bogus": 1}}], "unknown key model.bogus"),
        ([{"name": "a"}, {"name": "a"}], "duplicate variant name 'a'"),
        ([{"name": "a", "model": {"n_layer": 4}}], "model.n_layer is set per job by [grid]"),
        ([{"name": "a", "train": {"lr": 0.01}}], "use hparams.lr_scale"),
        ([{"name": "a", "train": {"tokens": 100}}], "train.tokens is set per job"),
        ([{"name": "a", "hparams": {"min_steps": 3}}], "only lr_scale varies"),
        ([{"name": "a", "grid": {"seeds": [1]}}], "[grid] is the same for every variant"),
        (
            [{"name": "a", "data": {"preset": "builtin"}}],
            "data.preset: a variant's data is a mixture",
        ),
        ([{"name": "a", "model": {"mlp": "nope"}}], "[[variants]] a"),
    ],
)
def test_variant_errors_are_one_line_each(tmp_path, variants, needle):
    raw = ladder_dict(out_dir=str(tmp_path / "lad"), variants=variants)
    with pytest.raises(InputError) as exc:
        spec_from_dict(raw, "s.toml")
    assert any(needle in p for p in exc.value.problems), exc.value.problems


def test_several_variant_errors_each_a_line_and_exit_2(tmp_path):
    bad = VARIANTS + '\n[[variants]]\nname = "gelu"\nmodel.d_model = 8\ntrain.lr = 0.1\n'
    r = cli("ladder", "plan", str(_spec(tmp_path, variants=bad)))
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 3, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow  # about a minute on 2 shared cores (12 tiny runs and a bootstrap)
def test_two_variants_train_export_recipe_and_compare(tmp_path):
    spec = _spec(tmp_path, hparams={"min_steps": 25}, eval={"points": 2, "tokens": 256})
    r = cli("ladder", "run", str(spec), "--workers", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli("ladder", "export", str(tmp_path / "lad"), "-o", str(tmp_path / "runs.csv"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert {row["recipe"] for row in rows} == {"gelu", "swiglu"}
    assert all(row["run_id"].startswith(row["recipe"] + "-") for row in rows)
    r = cli(
        "compare",
        str(tmp_path / "lad"),
        "--by",
        "recipe",
        "--bootstrap",
        "20",
        "--no-tests",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["groups"] == ["gelu", "swiglu"]
    verdicts = {b["verdict"] for b in out["pairs"][0]["budgets"]}
    assert verdicts <= {"gelu better", "swiglu better", "not distinguishable"}
    assert "NaN" not in r.stdout


def test_shape_family_plans_shapes_at_fixed_n(tmp_path):
    raw = ladder_dict(out_dir=str(tmp_path / "lad"))
    raw["grid"] = {
        "shape_family": {"sizes": [1e5], "n_layers": [2, 4, 8]},
        "tokens": [200_000],
        "branches": False,
    }
    raw["hparams"] = {"min_steps": 10}
    plan = plan_ladder(spec_from_dict(raw, "s.toml"))
    depths = sorted(j.n_layer for j in plan.jobs)
    assert len(depths) >= 2 and len(set(depths)) == len(depths)
    n = [j.N for j in plan.jobs]
    assert max(n) / min(n) < 1.1
    assert all(j.shape == f"L{j.n_layer}-d{j.d_model}" for j in plan.jobs)
    assert all(f"-L{j.n_layer}-" in j.run_id for j in plan.jobs)
    assert {j["shape"] for j in plan.to_dict()["jobs"]} == {j.shape for j in plan.jobs}
