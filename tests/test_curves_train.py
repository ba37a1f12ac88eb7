"""The learning-rate sequence rebuilt from a run table's schedule columns is the trainer's."""

import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from train_helpers import TINY, merge  # noqa: E402

from scalelab.runs.curves import learning_curves  # noqa: E402
from scalelab.runs.table import read_table  # noqa: E402
from scalelab.train.config import config_from_dict  # noqa: E402
from scalelab.train.loop import train  # noqa: E402


def test_schedule_reconstruction_equals_the_trainers_lr(tmp_path):
    before = torch.get_num_threads()
    base = {"schedule": "wsd", "cooldown_frac": 0.25, "min_lr_ratio": 0.0, "warmup_tokens": 512}

    def run(name, **train_cfg):
        cfg = merge(TINY, out_dir=str(tmp_path / name), run_id=name, train={**base, **train_cfg})
        train(config_from_dict(cfg, "test", tmp_path), out_dir=tmp_path / name)
        return tmp_path / name

    trunk = run("trunk", tokens=256 * 24, branch_tokens=[256 * 12])
    short = run("short", tokens=256 * 12)  # the branch's computation as a run of its own
    torch.set_num_threads(before)
    curves = {c.run_id: c for c in learning_curves(read_table(trunk / "runs.csv"))}
    logged = pd.read_csv(trunk / "train_log.csv")["lr"].tolist()
    assert curves["trunk"].lr.tolist() == logged  # every update, bitwise
    branch = curves["trunk-D3072"]
    assert branch.branch_of == "trunk" and branch.final_step == 12
    assert branch.lr.tolist() == pd.read_csv(short / "train_log.csv")["lr"].tolist()
    rows = read_table(trunk / "runs.csv").data
    assert set(rows["lr"]) == {TINY["train"]["lr"]}  # lr stays the PEAK lr on every row
    last = rows[rows["run_id"] == "trunk"].sort_values("step").iloc[-1]
    assert last["lr_step"] == logged[-1]
