"""The training loop end to end on tiny models (a few seconds each, one thread)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from train_helpers import TINY, merge, write_config  # noqa: E402

from scalelab.cli import main  # noqa: E402
from scalelab.runs.table import read_table  # noqa: E402
from scalelab.train import hparams  # noqa: E402
from scalelab.train.config import config_from_dict  # noqa: E402
from scalelab.train.loop import plan_run, train  # noqa: E402
from scalelab.train.schedule import Schedule, log_spaced_steps  # noqa: E402
from scalelab.train.tokens import ArrayTokens, eval_windows, synthetic_markov  # noqa: E402


@pytest.fixture(autouse=True)
def _threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def cfg_of(tmp_path, **sections):
    sections.setdefault("out_dir", str(tmp_path / "out"))
    return config_from_dict(merge(TINY, **sections), "test", tmp_path)


def test_schedules():
    cos = Schedule("cosine", 1.0, 100, warmup_steps=10, min_lr_ratio=0.1)
    assert cos.lr(0) == pytest.approx(0.1) and cos.lr(9) == pytest.approx(1.0)
    assert cos.lr(10) == pytest.approx(1.0)
    lrs = [cos.lr(s) for s in range(100)]
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)  # decay length matched to the run
    wsd = Schedule("wsd", 1.0, 100, warmup_steps=10, min_lr_ratio=0.0, cooldown_frac=0.2)
    assert wsd.decay_start == 80 and wsd.lr(79) == 1.0 and wsd.lr(99) == 0.0
    short = wsd.branch(50)
    assert short.decay_start == 40
    assert [short.lr(s) for s in range(40)] == [
        wsd.lr(s) for s in range(40)
    ]  # shares the stable phase
    assert short.lr(49) == 0.0
    const = Schedule("constant", 2.0, 100, warmup_steps=0)
    assert {const.lr(s) for s in range(100)} == {2.0}
    steps = log_spaced_steps(1000, 12)
    assert steps[0] == 1 and steps[-1] == 1000 and steps == sorted(set(steps))
    ratios = np.diff(np.log(steps[3:]))
    assert ratios.std() < 0.1  # log-spaced


def test_hparam_rule_is_a_power_law_of_n():
    ns = np.array([1e5, 1e6, 1e7, 1e8])
    lrs = np.array([hparams.lr_rule(n) for n in ns])
    slope = np.polyfit(np.log(ns), np.log(lrs), 1)[0]
    assert slope == pytest.approx(-0.25, abs=1e-9)  # -0.125 * 2 at fixed tokens/parameter
    assert hparams.lr_rule(1e8, 2e9) == pytest.approx(0.3118 * (6 * 1e8 * 2e9) ** -0.125)
    b = hparams.batch_rule(1e8, None, n_ctx=1)
    assert b == round(0.2920 * (6 * 1e8 * 2e9) ** 0.3271)
    assert hparams.batch_rule(1e5, None, n_ctx=256) % 256 == 0
    assert hparams.default_micro_batch(48, 256) == 48 and hparams.default_micro_batch(96, 256) == 48
    assert (
        hparams.default_micro_batch(64, 256, vocab_size=50257) == 2
    )  # ~890 tokens of 50k-vocab logits


def test_token_source_is_deterministic_and_resumable():
    arr = synthetic_markov(5000, 64, seed=1)
    a, b = ArrayTokens(arr, seed=3), ArrayTokens(arr, seed=3)
    assert torch.equal(a.batch(7, 1, 4, 16), b.batch(7, 1, 4, 16))
    assert not torch.equal(a.batch(7, 1, 4, 16), a.batch(8, 1, 4, 16))
    x = a.batch(0, 0, 4, 16)
    assert x.shape == (4, 17) and x.dtype == torch.int64
    w = eval_windows(arr, 64, 16)
    assert w.shape == (4, 17) and torch.equal(w[1, 0], w[0, 16])  # consecutive windows
    assert synthetic_markov(5000, 64, seed=1) is arr  # cached, read-only
    assert not arr.flags.writeable


def test_tiny_run_learns_and_writes_a_run_table(tmp_path):
    seen = []
    summary = train(
        cfg_of(tmp_path, eval={"points": 5, "tokens": 1024}), on_step=lambda *a: seen.append(a)
    )
    out = tmp_path / "out"
    assert summary["status"] == "done" and summary["step"] == summary["total_steps"] == 40
    table = read_table(out / "runs.csv")
    assert set(table.data["eval_set"]) == {"val", "ood"}
    val = table.data[table.data["eval_set"] == "val"].sort_values("step")
    assert list(val["step"]) == log_spaced_steps(40, 5)
    assert (val["D"] == val["step"] * 256).all()
    assert np.allclose(table["C"], 6 * table["N"] * table["D"])
    assert val["loss"].iloc[-1] < val["loss"].iloc[0] - 0.3  # it learns
    assert summary["final_loss"]["val"] == val["loss"].iloc[-1]
    fit_rows = table.select(points="final")
    assert len(fit_rows) == 1 and fit_rows.data["status"].iloc[0] == "done"
    log = (out / "train_log.csv").read_text().splitlines()
    assert log[0] == "step,tokens,lr,loss,grad_norm" and len(log) == 41
    # the per-step progress callback (progress bars) sees every step with the logged loss
    assert [a[0] for a in seen] == list(range(1, 41)) and all(a[1] == 40 and a[3] > 0 for a in seen)
    assert seen[-1][2] == pytest.approx(float(log[-1].split(",")[3]))
    assert json.loads((out / "config.json").read_text())["run_id"] == "tiny"
    assert (out / "checkpoint.pt").exists()


def test_run_refuses_to_overwrite_and_cli_reports(tmp_path, capsys):
    path = write_config(
        tmp_path / "c.toml", merge(TINY, out_dir=str(tmp_path / "o"), train={"tokens": 256 * 6})
    )
    assert main(["train", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "done"
    assert main(["train", str(path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (
        main(["train", str(path), "--resume", "--quiet"]) == 0
    )  # a finished run resumes to itself


def test_wsd_branches_are_their_own_runs(tmp_path):
    cfg = cfg_of(
        tmp_path,
        train={
            "schedule": "wsd",
            "tokens": 256 * 40,
            "cooldown_frac": 0.25,
            "min_lr_ratio": 0.0,
            "branch_tokens": [256 * 10, 256 * 20],
        },
    )
    summary = train(cfg)
    table = read_table(tmp_path / "out" / "runs.csv")
    finals = table.select(eval_set="val", points="final").data.set_index("run_id")
    assert set(finals.index) == {"tiny", "tiny-D2560", "tiny-D5120"}
    assert finals.loc["tiny-D2560", "D"] == 2560 and finals.loc["tiny-D5120", "step"] == 20
    assert finals.loc["tiny-D5120", "branch_of"] == "tiny"
    # more tokens, lower loss (all three are annealed)
    assert (
        finals.loc["tiny", "loss"]
        < finals.loc["tiny-D5120", "loss"]
        < finals.loc["tiny-D2560", "loss"]
    )
    assert [b["cooldown_from_step"] for b in summary["branches"]] == [8, 15]
    # the main run is unaffected by its branches: same final loss as a run without them
    plain = train(
        cfg_of(
            tmp_path,
            out_dir=str(tmp_path / "plain"),
            train={
                "schedule": "wsd",
                "tokens": 256 * 40,
                "cooldown_frac": 0.25,
                "min_lr_ratio": 0.0,
            },
        ),
        out_dir=tmp_path / "plain",
    )
    assert plain["final_loss"] == summary["final_loss"]


def test_branch_equals_a_separate_short_run(tmp_path):
    """A cool-down branch at D_b is the same computation as a separate WSD run of D_b tokens."""
    base = {"schedule": "wsd", "cooldown_frac": 0.25, "min_lr_ratio": 0.0, "warmup_tokens": 512}
    main_run = train(
        cfg_of(tmp_path, train={**base, "tokens": 256 * 24, "branch_tokens": [256 * 12]})
    )
    short = train(cfg_of(tmp_path, train={**base, "tokens": 256 * 12}), out_dir=tmp_path / "short")
    assert main_run["branches"][0]["loss"] == short["final_loss"]


def test_divergence_ends_the_run(tmp_path, capsys):
    path = write_config(
        tmp_path / "c.toml",
        merge(
            TINY,
            out_dir=str(tmp_path / "o"),
            train={"lr": 30.0, "warmup_frac": 0.0, "grad_clip": 0.0, "divergence_factor": 1.5},
        ),
    )
    assert main(["train", str(path), "--quiet"]) == 3
    assert "diverged" in capsys.readouterr().err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["step"] < summary["total_steps"]


def test_moe_rotary_swiglu_fp32_run(tmp_path):
    summary = train(
        cfg_of(
            tmp_path,
            precision="fp32",
            model={
                "mlp": "swiglu",
                "positions": "rotary",
                "n_expert": 4,
                "top_k": 2,
                "tie_embeddings": False,
            },
            train={"tokens": 256 * 10, "schedule": "constant"},
        )
    )
    assert summary["status"] == "done" and summary["precision"] == "fp32"
    assert summary["N_active"] < summary["N"]
    table = read_table(tmp_path / "out" / "runs.csv")
    assert (table["N_active"] == summary["N_active"]).all()
    assert np.allclose(table["C"], 6 * summary["N_active"] * table["D"])


def test_shape_and_hparams_from_rule(tmp_path):
    raw = merge(TINY, out_dir=str(tmp_path / "out"))
    raw["model"] = {"vocab_size": 64, "n_ctx": 32, "n_params": 2e4}
    raw["train"] = {"tokens_per_param": 0.5}
    cfg = config_from_dict(raw, "test", tmp_path)
    plan = plan_run(cfg)
    assert abs(plan.counts.non_embedding / 2e4 - 1) <= 0.05
    assert plan.schedule.peak_lr == pytest.approx(hparams.lr_rule(plan.n_params, plan.tokens))
    assert plan.batch_tokens % 32 == 0
    assert any("power-law rule" in n for n in plan.notes)


def test_token_files_and_folders(tmp_path):
    arr = np.asarray(synthetic_markov(20000, 64, seed=5), dtype=np.uint16)
    arr.tofile(tmp_path / "train.bin")
    np.save(tmp_path / "val.npy", arr[:3000])
    np.save(tmp_path / "other.npy", arr[::-1][:3000].copy())
    cfg = cfg_of(
        tmp_path,
        data={"train": "train.bin", "eval": {"val": "val.npy", "rev": "other.npy"}},
        train={"tokens": 256 * 4},
    )
    summary = train(cfg)
    assert set(summary["final_loss"]) == {"val", "rev"}
    folder = cfg_of(tmp_path, data={"train": "."}, train={"tokens": 256 * 4})
    assert set(train(folder, out_dir=tmp_path / "f")["final_loss"]) == {"val"}


def test_resume_with_a_different_config_is_refused(tmp_path):
    train(cfg_of(tmp_path, train={"tokens": 256 * 4}))
    from scalelab.errors import InputError

    with pytest.raises(InputError, match="different config"):
        train(cfg_of(tmp_path, train={"tokens": 256 * 4, "lr": 1e-3}), resume=True)
    with pytest.raises(InputError, match="no checkpoint.pt"):
        train(cfg_of(tmp_path), resume=True, out_dir=tmp_path / "empty")


@pytest.mark.slow
def test_compiled_run_matches_eager_within_bf16_tolerance(tmp_path):
    eager = train(cfg_of(tmp_path, train={"tokens": 256 * 30}), out_dir=tmp_path / "e")
    compiled = train(
        cfg_of(tmp_path, compile=True, train={"tokens": 256 * 30}), out_dir=tmp_path / "c"
    )
    for name, loss in eager["final_loss"].items():
        assert compiled["final_loss"][name] == pytest.approx(loss, rel=2e-3)


def test_injected_token_source(tmp_path):
    """Another data pipeline plugs in through the TokenSource protocol."""

    class Counting:
        n_tokens = 10**6

        def batch(self, step, micro, batch_size, n_ctx):
            start = torch.arange(batch_size)[:, None] + step
            return (start + torch.arange(n_ctx + 1)[None, :]) % 64

    assert isinstance(
        Counting(), __import__("scalelab.train.tokens", fromlist=["TokenSource"]).TokenSource
    )
    evals = {"val": np.arange(4000) % 64}
    summary = train(
        cfg_of(tmp_path, train={"tokens": 256 * 20, "lr": 1e-2}), tokens=Counting(), eval_sets=evals
    )
    assert summary["final_loss"]["val"] < 0.7 * np.log(64)  # "next = current + 1" is easy to learn
