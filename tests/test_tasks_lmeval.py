"""lm-evaluation-harness result files as task tables: every key spelling, a Pythia-like folder
joined through a mapping of globs, the files skipped with one note, the built-in chance table,
tasks of unknown chance skipped in ``--task all``, and the errors (one line, exit status 2)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run_cli

from scalelab.errors import InputError
from scalelab.runs.chance import chance_of
from scalelab.runs.lmeval import lm_eval_metrics, step_of
from scalelab.runs.tasktable import fittable, read_lm_eval, read_tasks
from scalelab.tasks import synthetic

PYTHIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pythia_evals"
BUNDLED_MAP = Path(__file__).resolve().parents[1] / "scalelab" / "examples" / "pythia_lm_eval.toml"
TOKENS_PER_STEP = 2097152


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-2000:]
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


@pytest.mark.parametrize(
    "metrics, metric, accuracy, loss, unit",
    [
        ({"acc": 0.3, "acc_stderr": 0.01}, "acc", 0.3, None, None),
        ({"acc,none": 0.3, "acc_stderr,none": 0.01, "alias": "arc_easy"}, "acc", 0.3, None, None),
        ({"acc": 0.3, "acc_norm": 0.35, "acc_norm_stderr": 0.01}, "acc_norm", 0.35, None, None),
        ({"acc,none": 0.3, "acc_norm,none": 0.35}, "acc_norm", 0.35, None, None),
        ({"ppl": 20.0, "ppl_stderr": 1.0, "acc": 0.2}, "acc", 0.2, math.log(20.0), "nats/word"),
        ({"perplexity,none": 20.0, "acc,none": 0.2}, "acc", 0.2, math.log(20.0), "nats/word"),
        ({"word_perplexity,none": math.e**2}, "acc", None, 2.0, "nats/word"),
        ({"byte_perplexity,none": 2.0}, "acc", None, 1.0, "bits/byte"),
        (
            {"word_perplexity,none": 30.0, "byte_perplexity,none": 1.5, "bits_per_byte,none": 0.58},
            "acc",
            None,
            0.58,
            "bits/byte",
        ),
        (
            {"exact_match,strict-match": 0.4, "exact_match,flexible-extract": 0.5},
            "exact_match",
            0.4,
            None,
            None,
        ),
    ],
)
def test_each_key_spelling_is_read(metrics, metric, accuracy, loss, unit):
    rows, skipped = lm_eval_metrics({"results": {"t": metrics}}, "f.json", metric)
    assert skipped == []
    row = rows["t"]
    assert row.get("accuracy") == (pytest.approx(accuracy) if accuracy is not None else None)
    if loss is None:
        assert "task_loss" not in row
    else:
        assert row["task_loss"] == pytest.approx(loss) and row["task_loss_unit"] == unit
    if metric + "_stderr" in str(metrics) and accuracy is not None:
        assert row["accuracy_stderr"] == 0.01


def test_a_task_without_metric_or_loss_is_skipped_not_an_error():
    doc = {"results": {"crows": {"pct_stereotype": 0.5}, "piqa": {"acc": 0.6}}}
    rows, skipped = lm_eval_metrics(doc, "f.json")
    assert list(rows) == ["piqa"] and skipped == ["crows"]
    with pytest.raises(InputError, match=r"results\['piqa'\]\[acc\]: expected a finite number"):
        lm_eval_metrics({"results": {"piqa": {"acc": "high"}}}, "f.json")


def test_step_from_file_name_or_config():
    assert step_of(Path("70m_step143000.json"), {}) == 143000
    assert step_of(Path("1b-bf16-5shot_step128.json"), {}) == 128
    doc = {"config": {"model_args": "pretrained=EleutherAI/pythia-1b,revision=step3000"}}
    assert step_of(Path("results_2024-01-01.json"), doc) == 3000
    assert step_of(Path("results.json"), {"config": {}}) is None
    doc = {"config": {"model_args": {"pretrained": "m", "revision": "step64"}}}
    assert step_of(Path("results.json"), doc) == 64


def _pythia_like(tmp_path: Path) -> tuple[Path, Path]:
    """Three mapped checkpoints of two sizes, one at step 0 and one file outside the mapping."""
    folder = tmp_path / "evals"
    files = {
        "m-small/small_step0.json": (0.0, 3.0e6),
        "m-small/small_step1000.json": (0.10, 300.0),
        "m-small/small_step2000.json": (0.20, 90.0),
        "m-big/big_step1000.json": (0.30, 40.0),
        "other/x_step1000.json": (0.5, 10.0),
    }
    for rel, (acc, ppl) in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        results = {
            "lambada_openai": {"ppl": ppl, "ppl_stderr": 1.0, "acc": acc, "acc_stderr": 0.01},
            "hendrycksTest-anatomy": {"acc": 0.25 + acc / 10, "acc_norm": 0.2},
            "crows_pairs_english": {"pct_stereotype": 0.5, "likelihood_difference": 3.0},
        }
        path.write_text(json.dumps({"results": results, "versions": {}, "config": {}}))
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        "tokens_per_step = 2097152\n"
        '[[run]]\nmatch = "m-small/*.json"\nrun_id = "small"\nN = 1.9e7\nN_total = 7.0e7\n'
        '[[run]]\nmatch = "m-big/*.json"\nrun_id = "big"\nN = 8.5e7\n'
    )
    return folder, mapping


def test_pythia_like_folder_with_a_mapping_of_globs(tmp_path):
    folder, mapping = _pythia_like(tmp_path)
    table = read_lm_eval(folder, mapping)
    data = table.data
    assert len(data) == 3 * 2  # 3 mapped checkpoints past step 0 x (lambada, anatomy)
    lamb = data[data.task == "lambada_openai"].set_index(["run_id", "step"]).sort_index()
    assert list(lamb.index) == [("big", 1000), ("small", 1000), ("small", 2000)]
    np.testing.assert_allclose(lamb["D"], np.array([1000, 1000, 2000]) * TOKENS_PER_STEP)
    np.testing.assert_allclose(lamb["task_loss"], np.log([40.0, 300.0, 90.0]))
    assert set(lamb["task_loss_unit"]) == {"nats/word"} and set(lamb["chance"]) == {0.0}
    assert lamb.loc[("small", 2000), "N_total"] == 7.0e7
    anatomy = data[data.task == "hendrycksTest-anatomy"]
    assert set(anatomy["chance"]) == {0.25} and anatomy["task_loss"].isna().all()
    notes = "\n".join(table.notes)
    assert "1 file(s) not in the mapping" in notes and "other/x_step1000.json" in notes
    assert "1 file(s) at step 0" in notes and "m-small/small_step0.json" in notes
    assert (
        "1 task(s) with neither the metric 'acc' nor a loss skipped (crows_pairs_english)" in notes
    )
    # the same through the CLI, a glob instead of the folder and --where on a mapping column
    code, out, err = run_cli(
        "tasks",
        "rank",
        f"{folder}/m-*/*.json",
        "--lm-eval-map",
        mapping,
        "--where",
        "run_id=small",
        "--json",
    )
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert sum("at step 0" in n for n in notes) == 1, err
    assert not any("not in the mapping" in n for n in notes), err  # the glob left other/ out
    assert not any("matching no file" in n for n in notes), err
    assert any("rows where run_id=small" in n for n in notes), err
    assert not error_lines(err)
    assert code in (0, 3), err


def test_mapping_as_csv_with_explicit_files_and_d(tmp_path):
    folder, _ = _pythia_like(tmp_path)
    mapping = tmp_path / "map.csv"
    mapping.write_text(
        "file,run_id,N,D\nm-small/small_step1000.json,s,1.9e7,2e9\nbig_step1000.json,b,8.5e7,2e9\n"
        "big_step9.json,typo,1e8,1e9\n"
    )
    table = read_lm_eval(folder, mapping)
    data = table.data
    assert "1 mapping row(s) matching no file (typo)" in table.notes
    assert sorted(data["run_id"].unique()) == ["b", "s"] and set(data["D"]) == {2e9}
    assert set(data["step"]) == {1000}  # from the file name


@pytest.mark.parametrize(
    "mapping, needle",
    [
        ('[[run]]\nmatch = "m-*/*.json"\nfile = "a.json"\nN = 1e6\nD = 1e9\n', "not both"),
        (
            'tokens_per_step = 10\n[[run]]\nmatch = "m-*/*.json"\nN = 1e6\n'
            '[[run]]\nmatch = "m-small/*"\nN = 2e6\n',
            "matches several mapping rows",
        ),
        ('[[run]]\nmatch = "m-*/*.json"\nN = 1e6\n', "lacks D (or tokens_per_step"),
        ('[[run]]\nmatch = "m-*/*.json"\nD = 1e9\n', "lacks N (or N_total)"),
        ("tokens_per_step = -3\n[[run]]\nmatch = '*'\nN = 1e6\n", "tokens_per_step: expected"),
    ],
)
def test_bad_mapping_is_one_line_exit_2(tmp_path, mapping, needle):
    folder, _ = _pythia_like(tmp_path)
    path = tmp_path / "bad.toml"
    path.write_text(mapping)
    code, out, err = run_cli("tasks", "rank", folder, "--lm-eval-map", path)
    lines = error_lines(err)
    assert code == 2 and out == "" and len(lines) == 1, err
    assert needle in lines[0], lines


def test_malformed_json_is_one_line_naming_the_file(tmp_path):
    folder, mapping = _pythia_like(tmp_path)
    bad = folder / "m-big" / "big_step2000.json"
    bad.write_text('{"results": {"piqa": {"acc": 0.6}')
    code, out, err = run_cli(
        "tasks", "predict", folder, "--lm-eval-map", mapping, "--N", "1B", "--D", "20B"
    )
    lines = error_lines(err)
    assert code == 2 and out == "" and len(lines) == 1, err
    assert str(bad) in lines[0] and "not valid JSON" in lines[0]
    bad.write_text(json.dumps({"config": {}}))
    code, _, err = run_cli("tasks", "backtest", folder, "--lm-eval-map", mapping)
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "no 'results' object" in lines[0], lines
    assert str(bad) in lines[0]


def test_builtin_chance_table_and_overrides():
    assert chance_of("hendrycksTest-anatomy") == 0.25
    assert chance_of("mmlu_stem_val") == 0.25
    assert chance_of("mmlu_pro_law") == pytest.approx(0.1)  # the longest name wins
    assert chance_of("mmlu_professional_law") == 0.25  # an MMLU subject, not MMLU-Pro
    assert chance_of("arc_challenge:mc") == 0.25
    assert chance_of("csqa_val") == pytest.approx(0.2)
    assert chance_of("socialiqa_val") == pytest.approx(1 / 3)
    assert chance_of("lambada_standard") == 0.0
    assert chance_of("winogrande_val") == 0.5 and chance_of("wsc273") == 0.5
    assert chance_of("arcade") is None and chance_of("truthfulqa_mc1") is None
    assert chance_of("piqa", {"piqa": 0.4}) == 0.4
    assert chance_of("crows_pairs_french", {"crows_pairs_*": 0.5}) == 0.5


def _with_unknown_task(tmp_path) -> Path:
    tasks = {"arc_easy": {"chance": 0.25, **synthetic.STEP2}}
    table = synthetic.chain_table(tasks=tasks, points=4, seed=2)
    mystery = table[table.task == "arc_easy"].assign(task="mystery", chance=np.nan)
    path = tmp_path / "tasks.csv"
    pd.concat([table, mystery], ignore_index=True).to_csv(path, index=False)
    return path


def test_unknown_chance_is_skipped_with_a_note_in_task_all(tmp_path):
    path = _with_unknown_task(tmp_path)
    table = read_tasks(path)
    kept = fittable(table)
    assert sorted(kept.data["task"].unique()) == ["arc_easy"]
    assert any("1 task(s) skipped, no chance accuracy" in n and "mystery" in n for n in kept.notes)
    # one plain form and link: this test is about which tasks are read, not about selection
    predict = ("tasks", "predict", path, "--N", "1B", "--D", "20B", "--bootstrap", "0", "--json")
    predict += ("--form", "chinchilla", "--link", "sigmoid")
    code, out, err = run_cli(*predict)
    assert code == 0, err
    assert json.loads(out)["task"] == "arc_easy"  # one object: the only task fitted
    assert sum("skipped, no chance accuracy" in ln for ln in err.splitlines()) == 1, err
    # named, it is an error; given a chance, it is fitted
    code, _, err = run_cli(*predict, "--task", "mystery")
    assert code == 2 and "--chance mystery=VALUE" in err, err
    code, out, err = run_cli(*predict, "--task", "mystery", "--chance", "myst*=0.25")
    assert code == 0 and json.loads(out)["step2"]["chance"] == 0.25, err


def test_warnings_are_printed_in_table_mode(tmp_path, monkeypatch):
    import scalelab.tasks
    from scalelab.tasks.predict import TaskPrediction

    path = _with_unknown_task(tmp_path)

    def fake_predict(table, task, **kw):
        result = TaskPrediction(
            "arc_easy",
            None,
            {"N": 1e9, "D": 2e10, "C": 1.2e20},
            True,
            accuracy=0.5,
            interval=[0.4, 0.6],
            intermediate={"name": "task_loss", "value": 1.0, "interval": [0.9, 1.1]},
            step1={"form": "chinchilla", "warnings": ["E is at its lower bound"]},
            step2={"warnings": ["ceiling fixed at 1"]},
            notes=["3 checkpoints skipped"],
        )
        return [result]

    monkeypatch.setattr(scalelab.tasks, "predict", fake_predict)
    code, out, err = run_cli(
        "tasks", "predict", path, "--task", "arc_easy", "--N", "1B", "--D", "2B"
    )
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert warnings == [
        "warning: arc_easy: E is at its lower bound",
        "warning: arc_easy: ceiling fixed at 1",
        "warning: arc_easy: 3 checkpoints skipped",
    ], err
    code, out, err = run_cli(
        "tasks", "predict", path, "--task", "arc_easy", "--N", "1B", "--D", "2B", "--json"
    )
    assert code == 0 and "warning:" not in err
    assert json.loads(out)["step1"]["warnings"] == ["E is at its lower bound"]


@pytest.mark.skipif(not PYTHIA.is_dir(), reason=f"LOUD SKIP: real data absent: {PYTHIA}")
def test_real_pythia_folder_with_the_bundled_mapping():
    table = read_lm_eval(PYTHIA, BUNDLED_MAP)
    data = table.data
    # 8 sizes x 26 checkpoints past step 0 x 65 tasks with an accuracy (57 MMLU subjects, 8 more)
    assert len(data) == 8 * 26 * 65 and data["task"].nunique() == 65
    assert data["chance"].notna().all()
    row = data[(data.run_id == "pythia-70m") & (data.step == 143000)]
    lamb = row[row.task == "lambada_openai"].iloc[0]
    assert lamb["accuracy"] == pytest.approx(0.18455268775470599)
    assert lamb["task_loss"] == pytest.approx(math.log(142.42891015470678))
    assert lamb["task_loss_unit"] == "nats/word" and lamb["D"] == 143000 * TOKENS_PER_STEP
    assert lamb["N"] == 18915328 and lamb["N_total"] == 70426624
    assert any("8 file(s) at step 0" in n for n in table.notes)
    assert set(data[data.run_id == "pythia-1b"]["step"]) >= {128, 1000, 143000}  # *-5shot_* too


def test_new_harness_folder_step_from_config_and_sample_counts(tmp_path):
    """lm-eval 0.4 writes results_<date>.json per run: the step comes from the config's revision,
    the number of examples from n-samples, keys carry their filter."""
    folder = tmp_path / "out"
    for step, acc in ((1000, 0.3), (2000, 0.4)):
        doc = {
            "results": {
                "arc_easy": {"alias": "arc_easy", "acc,none": acc, "acc_stderr,none": 0.01},
                "mmlu": {"alias": "mmlu", "acc,none": 0.26, "acc_stderr,none": "N/A"},
            },
            "n-samples": {"arc_easy": {"original": 2376, "effective": 2376}},
            "config": {"model_args": f"pretrained=org/m-1b,revision=step{step}"},
        }
        path = folder / f"org__m-1b-{step}" / "results_2024-05-01T10-00-00.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc))
    mapping = tmp_path / "map.csv"
    mapping.write_text("match,run_id,N,tokens_per_step\norg__m-1b-*/*.json,m-1b,1e9,4e6\n")
    data = read_lm_eval(folder, mapping).data.sort_values(["task", "step"])
    arc = data[data.task == "arc_easy"]
    assert list(arc["step"]) == [1000, 2000] and list(arc["D"]) == [4e9, 8e9]
    assert list(arc["accuracy"]) == [0.3, 0.4] and set(arc["n_examples"]) == {2376}
    mmlu = data[data.task == "mmlu"]
    assert mmlu["accuracy_stderr"].isna().all() and mmlu["n_examples"].isna().all()
