"""Run configs and bad input through the CLI: one clear line, exit 2, nothing written."""

import pytest

pytest.importorskip("torch")

from train_helpers import TINY, merge, write_config  # noqa: E402

from scalelab.cli import main  # noqa: E402
from scalelab.train.config import load_config  # noqa: E402


def _run_bad(tmp_path, capsys, cfg: dict, *extra):
    out = tmp_path / "out"
    path = write_config(tmp_path / "bad.toml", merge(cfg, out_dir=str(out)))
    code = main(["train", str(path), "--quiet", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert not out.exists(), "nothing may be written on bad input"
    assert len(err) == 1, err
    return err[0]


def test_unknown_key(tmp_path, capsys):
    line = _run_bad(tmp_path, capsys, merge(TINY, model={**TINY["model"], "n_heads": 2}))
    assert "bad.toml" in line and "unknown key 'n_heads'" in line and "[model]" in line


def test_unknown_top_level_key(tmp_path, capsys):
    line = _run_bad(tmp_path, capsys, merge(TINY, learning_rate=1e-3))
    assert "unknown key 'learning_rate'" in line


def test_d_model_not_divisible_by_heads(tmp_path, capsys):
    line = _run_bad(tmp_path, capsys, merge(TINY, model={"n_head": 3}))
    assert "d_model (32) must be divisible by n_head (3)" in line and "[model]" in line


def test_batch_that_cannot_fit_the_context(tmp_path, capsys):
    line = _run_bad(tmp_path, capsys, merge(TINY, train={"batch_tokens": 48}))
    assert "batch_tokens = 48" in line and "n_ctx = 32" in line


def test_micro_batch_must_divide(tmp_path, capsys):
    line = _run_bad(tmp_path, capsys, merge(TINY, train={"micro_batch": 3}))
    assert "micro_batch = 3" in line


def test_missing_data_path(tmp_path, capsys):
    line = _run_bad(tmp_path, capsys, merge(TINY, data={"train": "nope/tokens.bin"}))
    assert "[data] train: no such file or folder" in line and "nope" in line


def test_missing_eval_path(tmp_path, capsys):
    line = _run_bad(tmp_path, capsys, merge(TINY, data={"eval": {"val": "missing.npy"}}))
    assert "eval.val" in line


def test_token_ids_outside_vocab(tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "train.npy", np.arange(1000, dtype=np.uint16) % 100)
    np.save(tmp_path / "val.npy", np.arange(500, dtype=np.uint16) % 50)
    line = _run_bad(tmp_path, capsys, merge(TINY, data={"train": str(tmp_path)}))
    assert "outside the vocabulary" in line and "vocab_size = 64" in line


def test_branches_need_wsd(tmp_path, capsys):
    line = _run_bad(tmp_path, capsys, merge(TINY, train={"branch_tokens": [1000]}))
    assert "wsd" in line


def test_missing_config_and_bad_toml(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.toml")]) == 2
    assert "no such config file" in capsys.readouterr().err
    (tmp_path / "broken.toml").write_text("run_id = [\n")
    assert main(["train", str(tmp_path / "broken.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_example_config_is_valid():
    from pathlib import Path

    from scalelab.train.loop import plan_run

    cfg = load_config(Path(__file__).resolve().parents[1] / "examples" / "train_tiny.toml")
    plan = plan_run(cfg)
    assert plan.total_steps * plan.batch_tokens == plan.tokens
    assert [b.run_id for b in plan.branches] == ["tiny-D100352", "tiny-D200704"]


def test_config_json_round_trip(tmp_path):
    cfg = load_config(write_config(tmp_path / "c.toml", TINY))
    import json

    from scalelab.train.config import config_from_dict

    again = config_from_dict(json.loads(cfg.to_json()), "json", tmp_path)
    assert again.model_dump() == cfg.model_dump()
