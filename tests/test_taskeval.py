"""Task evaluation: batched scores equal a per-example reference, a trained model beats chance on
the easiest cloze bucket, the trainer and the ladder write task rows, ``scalelab tasks eval``."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from ladder_helpers import cli, ladder_dict, write_spec
from task_helpers import counting_corpus

from scalelab.cli import main
from scalelab.data.taskfile import TaskSet
from scalelab.data.tasksets import make_task_set
from scalelab.data.tokenize import ByteTokenizer
from scalelab.ladder.registry import Registry
from scalelab.model.config import GPTConfig
from scalelab.model.gpt import GPT
from scalelab.train.config import config_from_dict
from scalelab.train.loop import train
from scalelab.train.taskeval import (
    encode_task,
    evaluate_tasks,
    example_scores,
    request_scores,
    windows,
)

TASK_COLUMNS = {"task", "bucket", "accuracy", "chance", "task_loss", "task_loss_unit",
                "task_nats_per_char", "task_bits_per_byte", "n_examples"}  # fmt: skip


@pytest.fixture
def syn(synthetic_docs):
    return synthetic_docs  # prepared once per session (conftest)


def _model(n_ctx: int, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=256, n_ctx=n_ctx, n_layer=2, d_model=32, n_head=2)).eval()


def _reference(model, task, n_ctx):
    """Per request, one forward pass on its own: NLL of the continuation and all-argmax."""
    tok = ByteTokenizer()
    out = []
    for ex in task.examples:
        conts = [ex["target"]] if task.kind == "cloze" else ex["choices"]
        ctx = tok.encode(ex["context"]).astype(np.int64)
        for c in conts:
            cont = tok.encode(c).astype(np.int64)
            seq = torch.from_numpy(np.concatenate([ctx, cont])[-(n_ctx + 1) :])[None]
            with torch.no_grad():
                logp = torch.log_softmax(model(seq[:, :-1]).float(), -1)[0]
            tgt = seq[0, 1:]
            k = len(cont)
            nll = -logp[-k:].gather(-1, tgt[-k:, None]).sum().item()
            greedy = bool((logp[-k:].argmax(-1) == tgt[-k:]).all())
            out.append((nll, greedy))
    return out


@pytest.mark.parametrize("kind", ["cloze", "mc"])
def test_batched_scores_equal_a_per_example_reference(syn, kind):
    n_ctx = 128  # choices (<= 120 bytes) fit; contexts (<= 300 bytes) are cut on the left
    model = _model(n_ctx)
    task = make_task_set(syn, kind, examples=12, seed=0)
    enc = encode_task(task, ByteTokenizer())
    ref = _reference(model, task, n_ctx)
    for budget in (n_ctx, 100_000):  # one window per forward pass, and everything in one
        got = request_scores(model, [enc], n_ctx, torch.device("cpu"), batch_tokens=budget)[0]
        np.testing.assert_allclose(got["nll"], [r[0] for r in ref], rtol=1e-5, atol=1e-4)
        assert got["greedy"].tolist() == [r[1] for r in ref]
        assert got["tokens"].tolist() == [len(c) for c in enc.continuation]
    ex = example_scores(enc, got)
    if kind == "mc":
        nll = np.array([r[0] for r in ref]).reshape(-1, 4)
        chars = np.array([[len(c) for c in e["choices"]] for e in task.examples])
        labels = np.array([e["label"] for e in task.examples])
        assert ex["correct"].tolist() == (np.argmin(nll / chars, 1) == labels).tolist()
        assert ex["correct_raw"].tolist() == (np.argmin(nll, 1) == labels).tolist()
    rows = evaluate_tasks(model, [enc], n_ctx)
    assert rows[0]["bucket"] == "all" and rows[0]["n_examples"] == 12
    nll_right = ex["nll"].sum()
    assert math.isclose(rows[0]["task_loss"], nll_right / ex["tokens"].sum(), rel_tol=1e-9)
    assert math.isclose(
        rows[0]["task_bits_per_byte"], nll_right / math.log(2) / ex["bytes"].sum(), rel_tol=1e-9
    )
    assert sum(r["n_examples"] for r in rows[1:]) == 12
    if kind == "mc":
        assert all(r["chance"] == 0.25 for r in rows)


def test_long_continuations_are_scored_in_windows_each_token_once():
    ctx, cont = np.arange(5), np.arange(100, 123)
    wins = windows(ctx, cont, n_ctx=8)
    assert all(len(w) <= 9 for w, _ in wins)
    scored = []
    for w, skip in wins:
        scored.extend(w[1 + skip :].tolist())
    assert sorted(scored) == cont.tolist()
    seq = np.concatenate([ctx, cont])
    # the context is cut on the left: a short continuation sees the last n_ctx tokens
    (w, skip), = windows(np.arange(50), np.array([7, 8]), n_ctx=8)  # fmt: skip
    assert w.tolist() == list(range(43, 50)) + [7, 8] and skip == 6
    assert len(seq) == 28


def test_empty_context_is_preceded_by_end_of_text():
    task = TaskSet("t", "cloze", [{"context": "", "target": " a"}])
    enc = encode_task(task, ByteTokenizer())
    assert enc.context[0].tolist() == [ByteTokenizer.eot_id]


def _run_cfg(data, out, steps, tasks, examples, d_model=32, n_ctx=32, lr=1e-2):
    return config_from_dict(
        {
            "run_id": "r",
            "seed": 0,
            "threads": 1,
            "model": {
                "vocab_size": 256,
                "n_ctx": n_ctx,
                "n_layer": 2,
                "d_model": d_model,
                "n_head": 2,
            },  # fmt: skip
            "data": {"train": f"{data}/train.bin", "eval": {"val": f"{data}/validation.bin"}},
            "train": {
                "tokens": n_ctx * 16 * steps,
                "batch_tokens": n_ctx * 16,
                "lr": lr,
                "warmup_frac": 0.05,
            },  # fmt: skip
            "eval": {"points": 2, "tokens": 1024, "tasks": tasks, "task_examples": examples},
            "checkpoint": {"every_steps": 100000},
            "out_dir": str(out),
        }
    )


SHORT = 30  # steps of the run the fast tests share
LONG = 500  # steps of the run that must beat chance (about 10 s on 2 cores; a slow test)


@pytest.fixture(scope="module")
def counting_data(tmp_path_factory):
    return counting_corpus(tmp_path_factory.mktemp("counting"))


@pytest.fixture(scope="module")
def counting_run(counting_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("short") / "run"
    train(_run_cfg(counting_data, run, SHORT, ["cloze"], 80), log=lambda m: None)
    return counting_data, run


def test_trainer_writes_task_rows_at_every_evaluation(counting_run):
    _, run = counting_run
    rows = pd.read_csv(run / "runs.csv")
    tasks = rows[rows["task"].notna()]
    assert TASK_COLUMNS <= set(tasks.columns)
    assert set(tasks["bucket"]) == {"all", "freq-q1", "freq-q2", "freq-q3", "freq-q4"}
    assert sorted(set(tasks["step"])) == [1, SHORT]
    first, last = tasks[tasks["step"] == 1], tasks[tasks["step"] == SHORT]
    assert (last["task_loss"].to_numpy() < first["task_loss"].to_numpy()).all()
    assert (tasks["task_loss_unit"] == "nats/token").all()
    assert (tasks["chance"] == 0.0).all()  # an open answer: a model without skill scores 0
    # bytes: nats per token == nats per character here; bits per byte = nats / ln 2
    assert np.allclose(tasks["task_loss"], tasks["task_nats_per_char"])
    assert np.allclose(tasks["task_bits_per_byte"], tasks["task_loss"] / math.log(2))
    # every task row carries the general held-out loss of its evaluation
    general = rows[rows["task"].isna()].set_index("step")["loss"]
    assert np.allclose(tasks["loss"], general.loc[tasks["step"]].to_numpy())
    info = json.loads((run / "task_eval.json").read_text())
    assert info["evaluations"] == 2 and info["seconds"] > 0


@pytest.mark.slow  # ~10 s; default suite: task losses fall with training (the rows test above)
def test_trained_model_beats_chance_on_the_easiest_cloze_bucket(counting_data, tmp_path):
    cfg = _run_cfg(counting_data, tmp_path / "run", LONG, ["cloze"], 80, d_model=64)
    train(cfg, log=lambda m: None)
    rows = pd.read_csv(tmp_path / "run" / "runs.csv")
    last = rows[(rows["step"] == LONG) & rows["task"].notna()].set_index("bucket")
    easiest = last.loc["freq-q1"]
    assert easiest["accuracy"] > easiest["chance"] + 0.2, easiest.to_dict()
    assert last.loc["all", "accuracy"] > last.loc["all", "chance"] + 0.2


def test_tasks_eval_cli_on_a_finished_run(counting_run, tmp_path, capsys):
    data, run = counting_run
    out = tmp_path / "rows.csv"
    assert main(["tasks", "eval", str(run), "--tasks", "cloze", "-n", "80", "-o", str(out)]) == 0
    mine = pd.read_csv(out)
    trained = pd.read_csv(run / "runs.csv")
    trained = trained[(trained["step"] == SHORT) & trained["task"].notna()]
    # the same weights scored again (another thread count): equal to float32 rounding
    assert np.allclose(mine["task_loss"], trained["task_loss"].to_numpy(), rtol=1e-3)
    assert (mine["step"] == SHORT).all() and (mine["run_id"] == "r").all()
    capsys.readouterr()
    assert main(["tasks", "eval", str(run / "checkpoint.pt"), "-t", "cloze", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["task"] == "cloze"


def test_tasks_eval_says_when_the_cap_scores_part_of_a_task_file(counting_run, tmp_path, capsys):
    data, run = counting_run
    task_file = tmp_path / "cloze60.jsonl"
    make = ["tasks", "make", "--corpus", str(data), "--kind", "cloze", "-n", "60"]
    assert main(make + ["-o", str(task_file)]) == 0
    capsys.readouterr()
    assert main(["tasks", "eval", str(run), "--tasks", str(task_file), "-n", "25", "--json"]) == 0
    captured = capsys.readouterr()
    assert "scored 25 of its 60 examples" in captured.err and "--examples 60" in captured.err
    assert json.loads(captured.out)["notes"]
    assert main(["tasks", "eval", str(run), "--tasks", str(task_file), "-n", "60"]) == 0
    assert "scored" not in capsys.readouterr().err  # all of them: nothing to say


def test_bad_task_file_and_missing_run_through_the_cli(counting_run, tmp_path, capsys):
    _, run = counting_run
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"context": "a", "target": ""}\n{"context": "a", "target": " b"\n')
    assert main(["tasks", "eval", str(run), "--tasks", str(bad)]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert len(err) == 2
    assert f"{bad}:1: target: empty" in err[0] and f"{bad}:2: not valid JSON" in err[1]
    assert main(["tasks", "eval", str(tmp_path / "nope"), "--tasks", "cloze"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_tasks_need_a_prepared_data_folder(tmp_path):
    from scalelab.errors import InputError
    from scalelab.train.trainer import Trainer

    cfg = config_from_dict({"eval": {"tasks": ["cloze"]}, "model": {"n_ctx": 8, "n_layer": 1,
                            "d_model": 8, "n_head": 1}, "out_dir": str(tmp_path / "o")})  # fmt: skip
    with pytest.raises(InputError, match="prepared data folder"):
        Trainer(cfg)


def test_ladder_with_eval_tasks_exports_task_rows(syn, tmp_path):
    spec = ladder_dict(
        out_dir=str(tmp_path / "lad"),
        eval={"points": 2, "tokens": 512, "tasks": ["cloze", "mc"], "task_examples": 16},
        grid={"shapes": [{"n_layer": 1, "d_model": 16, "n_head": 2}], "tokens_per_param": [4, 8]},
    )
    spec["data"], spec["model"] = {"prepared": str(syn)}, {"n_ctx": 16}
    path = write_spec(tmp_path / "l.toml", spec)
    r = cli("ladder", "run", str(path), "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli("ladder", "export", str(path), "-o", str(tmp_path / "runs.csv"))
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "runs.csv")
    tasks = t[t["task"].notna()]
    assert set(tasks["task"]) == {"cloze", "mc"}
    # both points (the trunk and its cool-down branch), every evaluation, five rows per task
    assert tasks["run_id"].nunique() == 2
    per_eval = tasks.groupby(["run_id", "step", "task"]).size()
    assert (per_eval == 5).all()
    assert TASK_COLUMNS <= set(t.columns)
    with Registry.open(tmp_path / "lad") as reg:
        assert len(reg.eval_rows()) == len(t)
