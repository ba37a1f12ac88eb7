"""Data variants: ``[[variants]] data.mix`` plans, validates, builds shared mixtures, trains."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from ladder_helpers import cli, ladder_dict, write_spec

from scalelab.errors import InputError
from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.runner import prepare_data
from scalelab.ladder.spec import load_spec, spec_from_dict

pytest.importorskip("torch")

DATA = """name = "two-languages"
[[sources]]
kind = "synthetic"
name = "lang_a"
n_docs = 120
language_seed = 1

[[sources]]
kind = "synthetic"
name = "lang_b"
n_docs = 120
language_seed = 2

[tokenizer]
kind = "bytes"
"""

VARIANTS = """
[[variants]]
name = "base"

[[variants]]
name = "mostly_a"
data.mix = { lang_a = 3, lang_b = 1 }

[[variants]]
name = "mostly_a_again"
data.mix = { lang_a = 6, lang_b = 2 }

[[variants]]
name = "only_b"
data.mix = { lang_b = 1 }
"""


def _spec(tmp_path, variants: str = VARIANTS, **sections):
    (tmp_path / "data.toml").write_text(DATA)
    raw = ladder_dict(out_dir=str(tmp_path / "lad"), data={"spec": "data.toml"}, **sections)
    raw["data"].pop("preset", None)
    raw["data"].pop("markov_tokens", None)
    raw["model"].pop("vocab_size", None)
    path = write_spec(tmp_path / "ladder.toml", raw)
    path.write_text(path.read_text() + variants)
    return path


def test_data_variants_plan_their_own_training_data_and_the_base_eval(tmp_path):
    plan = plan_ladder(load_spec(_spec(tmp_path)))
    by = {}
    for j in plan.jobs:
        by.setdefault(j.recipe, []).append(j)
    assert sorted(by) == ["base", "mostly_a", "mostly_a_again", "only_b"]
    base_train = plan.data.train
    trains = {r: {j.run_config.data.train for j in js} for r, js in by.items()}
    assert trains["base"] == {base_train}
    assert all(len(t) == 1 for t in trains.values())
    # equal mixtures (3:1 and 6:2) share one folder; another mixture has its own
    assert trains["mostly_a"] == trains["mostly_a_again"] != trains["only_b"]
    assert base_train not in trains["mostly_a"] | trains["only_b"]
    assert sorted(plan.variant_data) == ["mostly_a", "mostly_a_again", "only_b"]
    assert plan.variant_data["mostly_a"].mix["weights"] == {"lang_a": 0.75, "lang_b": 0.25}
    # every variant is evaluated on the base data's held-out sets, with the base's vocabulary:
    # the same shapes give the same N (embeddings included) in every variant
    for js in by.values():
        for j in js:
            assert j.run_config.data.eval == plan.data.eval
            assert j.run_config.model.vocab_size == plan.data.vocab_size == 256
    assert [(j.N, j.N_total) for j in by["base"]] == [(j.N, j.N_total) for j in by["only_b"]]
    assert any("variant only_b: trains on a mixture" in n and "lang_b 1" in n for n in plan.notes)
    assert plan.to_dict()["variant_data"]["mostly_a"]["mix"]["seed"] == 0


def test_equal_mixtures_are_built_once_and_drawn_from_the_base_training_split(tmp_path):
    plan = plan_ladder(load_spec(_spec(tmp_path)))
    lines = []
    prepare_data(plan, lines.append)
    assert len(lines) == 3, lines  # the base data, then two distinct mixtures
    base_dir = tmp_path / "lad" / "data"
    base = json.loads((base_dir / "manifest.json").read_text())
    docs = [r for r in csv.DictReader(open(base_dir / "documents.tsv"), delimiter="\t")]
    have = {
        s: sum(int(r["tokens"]) for r in docs if r["split"] == "train" and r["source"] == s)
        for s in ("lang_a", "lang_b")
    }
    mix_dir = plan.variant_data["mostly_a"].prepare_dir
    m = json.loads(open(f"{mix_dir}/manifest.json").read())
    got = {s: v["tokens"] for s, v in m["mix"]["sources"].items()}
    assert got["lang_a"] / sum(got.values()) == pytest.approx(0.75, abs=0.03)
    assert max(got["lang_a"] / have["lang_a"], got["lang_b"] / have["lang_b"]) > 0.97
    assert m["tokenizer"]["hash"] == base["tokenizer"]["hash"]
    assert m["data_hash"] != base["data_hash"] and m["mix"]["base_data_hash"] == base["data_hash"]
    train = np.fromfile(f"{mix_dir}/train.bin", dtype=m["dtype"])
    assert len(train) == m["splits"]["train"]["tokens"] == sum(got.values())

    # drawn from the base's training split only: no document of its held-out splits
    def docs_of(path):
        arr = np.fromfile(path, dtype=m["dtype"])
        ends = np.flatnonzero(arr == base["tokenizer"]["eot_id"])
        return {arr[a + 1 : b + 1].tobytes() for a, b in zip(np.r_[-1, ends[:-1]], ends)}

    mixed = docs_of(f"{mix_dir}/train.bin")
    assert mixed <= docs_of(base_dir / "train.bin")
    assert not mixed & (docs_of(base_dir / "validation.bin") | docs_of(base_dir / "test.bin"))
    only_b = json.loads(open(plan.variant_data["only_b"].prepare_dir + "/manifest.json").read())
    assert only_b["mix"]["sources"]["lang_b"]["tokens"] == have["lang_b"]
    assert "lang_a" not in only_b["mix"]["sources"]
    # run again: nothing rebuilt (the folders are reused while the base is unchanged)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "lad").glob("data-mix-*/train.bin")}
    prepare_data(plan_ladder(load_spec(_spec(tmp_path))), lambda s: None)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert len(before) == 2
    # a plan before a mixture is built knows its size from the base's document index
    shutil.rmtree(mix_dir)
    planned = plan_ladder(load_spec(_spec(tmp_path))).variant_data["mostly_a"].train_tokens
    assert planned == pytest.approx(m["splits"]["train"]["tokens"], rel=0.05)


@pytest.mark.parametrize(
    "variant, needle",
    [
        ({"data": {"tokenizer": "bytes"}}, "data.tokenizer: a variant cannot change the tokenizer"),
        ({"data": {"vocab_size": 4096}}, "losses per token under two tokenizers"),
        ({"data": {"spec": "other.toml"}}, "could hold the ladder's held-out documents"),
        ({"data": {"mix": {"a": -1}}}, "data.mix.a: expected a weight >= 0"),
        ({"data": {"mix": {"a": 0}}}, "every weight is 0"),
        ({"data": {"mix": "a"}}, "data.mix: expected a table of weights"),
        ({"data": {"mix": {"a": 1}, "mix_seed": -2}}, "data.mix_seed: expected an integer"),
    ],
)
def test_bad_data_overrides_are_one_line_each(tmp_path, variant, needle):
    raw = ladder_dict(out_dir=str(tmp_path / "lad"), variants=[{"name": "v", **variant}])
    with pytest.raises(InputError) as exc:
        spec_from_dict(raw, "s.toml")
    assert len(exc.value.problems) == 1, exc.value.problems
    assert needle in exc.value.problems[0] and "[[variants]] v" in exc.value.problems[0]


def test_unknown_mix_sources_and_markov_base_exit_2(tmp_path):
    bad = '\n[[variants]]\nname = "x"\ndata.mix = { lang_c = 1, lang_d = 2 }\n'
    r = cli("ladder", "plan", str(_spec(tmp_path, variants=bad)))
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 2 and "no training source 'lang_c'" in lines[0], r.stderr
    assert "lang_a, lang_b" in lines[0] and "Traceback" not in r.stderr
    raw = ladder_dict(
        out_dir=str(tmp_path / "m"), variants=[{"name": "v", "data": {"mix": {"a": 1}}}]
    )
    with pytest.raises(InputError, match="'markov' has no sources to mix"):
        plan_ladder(spec_from_dict(raw, "s.toml"))


@pytest.mark.slow  # about 40 s on 2 shared cores (4 tiny runs, data prepared and mixed)
def test_data_variants_train_and_export_recipe_and_data_provenance(tmp_path):
    variants = VARIANTS.split('[[variants]]\nname = "mostly_a_again"')[0]
    spec = _spec(
        tmp_path,
        variants=variants,
        grid={"shapes": [{"n_layer": 1, "d_model": 8, "n_head": 2}], "tokens_per_param": [2, 4]},
        hparams={"min_steps": 20},
        eval={"points": 2, "tokens": 256},
    )
    r = cli("ladder", "run", str(spec), "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli("ladder", "export", str(tmp_path / "lad"), "-o", str(tmp_path / "runs.csv"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert {row["recipe"] for row in rows} == {"base", "mostly_a"}
    data = {row["recipe"]: (row["dataset"], row["data_hash"], row["data_dir"]) for row in rows}
    assert len({d for d in data.values()}) == 2
    assert "mix (lang_a 0.75, lang_b 0.25)" in data["mostly_a"][0]
    assert data["base"][0] == "two-languages"
    assert {row["tokenizer"] for row in rows} == {"bytes vocab 256"}
    tokens = {row["recipe"]: int(row["data_tokens"]) for row in rows}
    assert 0 < tokens["mostly_a"] < tokens["base"]  # lang_b limits the 3:1 mixture
    # the same eval sets for every variant
    sets = {
        row["recipe"]: {r2["eval_set"] for r2 in rows if r2["recipe"] == row["recipe"]}
        for row in rows
    }
    assert sets["base"] == sets["mostly_a"]


def test_checklist_lists_each_variants_data(tmp_path):
    from scalelab.laws import Law, fit, synthetic  # noqa: PLC0415
    from scalelab.report import checklist  # noqa: PLC0415
    from scalelab.runs import RunTable  # noqa: PLC0415

    truth = Law("chinchilla", {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37})
    grid = {"e": [0.5], "a": [6.0], "b": [8.0], "alpha": [0.4], "beta": [0.4]}
    frame = synthetic.simulate(
        truth, N=np.geomspace(2e7, 2e9, 4), D=np.geomspace(4e8, 4e11, 4), noise=0.002
    ).data.copy()
    half = frame.index % 2 == 0
    frame["recipe"] = np.where(half, "base", "mix31")
    frame["dataset"] = np.where(half, "two-languages", "two-languages mix (lang_a 0.75)")
    frame["data_hash"] = np.where(half, "f00d", "beef")
    frame["data_tokens"] = np.where(half, 5000, 4000)
    table = RunTable.from_frame(frame, "ladder.csv")
    law = fit(table, grid=grid)
    manifest = {"name": "two-languages", "data_hash": "f00d", "checklist": {"data": "x"}}
    items = {i["item"]: i for i in checklist.build(law, table, manifest)}
    assert items["data_name"]["value"] == (
        "base: two-languages; mix31: two-languages mix (lang_a 0.75)"
    )
    assert items["data_size"]["value"] == "base: 5,000; mix31: 4,000"
    assert items["data_hash"]["value"] == "base: f00d; mix31: beef"
    assert "recipe" in items["data_name"]["source"]
    # one data set, the manifest's: the manifest's items as before
    same = RunTable.from_frame(frame[half].assign(recipe="base"), "ladder.csv")
    items = {i["item"]: i for i in checklist.build(fit(same, grid=grid), same, manifest)}
    assert items["data_name"]["value"] == "x" and items["data_name"]["source"] == "data manifest"
