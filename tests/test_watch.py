"""scalelab watch: bootstrapped laws, the departure exit status, run folders and train logs, and
following a live run whose records grow."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

from scalelab import laws
from scalelab.cli import main
from scalelab.laws import Law
from scalelab.model.config import GPTConfig
from scalelab.model.counting import count_params
from scalelab.plan import watch_source as ws
from scalelab.plan.watch import EXIT_DEPARTURE, watch
from scalelab.runs import RunTable

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
GRID = {"e": [0.5], "a": [5.0, 10.0], "b": [5.0, 10.0], "alpha": [0.5], "beta": [0.5]}
SHAPE = {"n_layer": 2, "d_model": 64, "n_head": 4, "vocab_size": 256, "n_ctx": 128}
N_SHAPE = count_params(GPTConfig(**SHAPE)).non_embedding


def _curve(run_id="r1", N=1e8, drift_from=None, n=20):
    D = np.geomspace(1e8, 2e10, n)
    loss = TRUTH.predict(N=N, D=D) * (1 + 0.002 * np.sin(np.arange(n)))
    if drift_from is not None:
        loss = loss * np.where(np.arange(n) >= drift_from, 1.10, 1.0)
    return pd.DataFrame(
        {"run_id": run_id, "N": N, "D": D, "step": np.arange(1, n + 1), "loss": loss}
    )


@pytest.fixture(scope="module")
def boot_law(tmp_path_factory):
    """A law fitted with --bootstrap (README: fit runs.csv --bootstrap 200 -o law.json)."""
    rng = np.random.default_rng(0)
    rows = [
        {"run_id": f"f{i}", "N": N, "D": N * r, "loss": float(TRUTH.predict(N=N, D=N * r))}
        for i, (N, r) in enumerate((N, r) for N in (1e7, 3e7, 1e8, 3e8) for r in (5, 20, 60))
    ]
    for row in rows:
        row["loss"] *= float(np.exp(0.004 * rng.standard_normal()))
    law = laws.fit(pd.DataFrame(rows), "chinchilla", bootstrap=12, grid=GRID)
    assert law.samples is not None and len(law.samples) > 1
    path = tmp_path_factory.mktemp("law") / "law.json"
    law.save(path)
    return path


def test_watch_with_a_bootstrapped_law(boot_law, tmp_path):
    law = Law.load(boot_law)
    frame = pd.concat([_curve("good"), _curve("bad", drift_from=12)])
    w = watch(RunTable.from_frame(frame), law, run_id="good")
    assert w.verdict == "ok" and w.options["interval"]
    lo = np.array([p["band"][0] for p in w.points])
    hi = np.array([p["band"][1] for p in w.points])
    pred = np.array([p["predicted"] for p in w.points])
    assert np.all(lo < pred) and np.all(pred < hi) and len(set(np.round(hi, 6))) == len(hi)
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    assert main(["watch", str(path), "--law", str(boot_law), "--run", "good"]) == 0
    assert main(["watch", str(path), "--law", str(boot_law), "--run", "bad"]) == EXIT_DEPARTURE


def test_departure_exits_4_and_help_says_so(tmp_path, capsys):
    path = tmp_path / "curve.csv"
    _curve(drift_from=14).to_csv(path, index=False)
    law = tmp_path / "law.json"
    TRUTH.save(law)
    assert main(["watch", str(path), "--law", str(law)]) == 4
    assert "departed-above" in capsys.readouterr().err
    assert main(["watch", str(path), "--law", str(law), "--json"]) == 4
    assert json.loads(capsys.readouterr().out)["verdict"] == "departed-above"
    assert main(["watch", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "4 when it departs" in text
        and "--follow" in text
        and "<bool>" not in text.split("--help")[0]
    )


def _write_folder(folder, frame, status=None, train_log=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"run_id": "main", "model": SHAPE}))
    if frame is not None:
        frame.to_csv(folder / "runs.csv", index=False)
    if train_log is not None:
        train_log.to_csv(folder / "train_log.csv", index=False)
    if status is not None:
        (folder / "summary.json").write_text(json.dumps({"run_id": "main", "status": status}))


def test_run_folder_judges_its_own_run(tmp_path):
    # a WSD run's folder: the trunk and a branch are both runs of its runs.csv, on two eval sets
    trunk, branch = _curve("main", drift_from=15), _curve("main-D1e9", n=8)
    frame = pd.concat(
        [trunk.assign(eval_set="val"), trunk.assign(eval_set="ood", loss=trunk["loss"] * 1.5)]
        + [branch.assign(eval_set="val")]
    )
    _write_folder(tmp_path / "run", frame, status="done")
    law = tmp_path / "law.json"
    TRUTH.save(law)
    assert main(["watch", str(tmp_path / "run"), "--law", str(law)]) == 4
    assert main(["watch", str(tmp_path / "run"), "--law", str(law), "--run", "main-D1e9"]) == 0
    records = ws.read_run(tmp_path / "run")
    assert records.finished and records.run_id == "main"


def _train_log(steps, N, batch=4096, factor=1.0):
    tokens = np.asarray(steps) * batch
    return pd.DataFrame(
        {
            "step": steps,
            "tokens": tokens,
            "lr": 1e-3,
            "loss": TRUTH.predict(N=N, D=tokens) * factor,
            "grad_norm": 1.0,
        }
    )


def test_train_log_points_n_from_config_and_a_blow_up(tmp_path):
    log = _train_log(np.arange(1, 2001), N_SHAPE)
    _write_folder(tmp_path / "run", None, train_log=log)
    records = ws.read_run(tmp_path / "run")
    assert records.table is not None and not records.finished
    t = records.table.data
    assert set(t["N"]) == {N_SHAPE} and 20 < len(t) < 80 and t["D"].max() <= log["tokens"].max()
    law = tmp_path / "law.json"
    TRUTH.save(law)
    assert main(["watch", str(tmp_path / "run" / "train_log.csv"), "--law", str(law)]) == 0
    log.loc[1500:, "loss"] = np.nan  # the run blew up
    log.to_csv(tmp_path / "run" / "train_log.csv", index=False)
    result = ws.judge_with(TRUTH)(ws.read_run(tmp_path / "run"))
    assert result.verdict == "diverged" and result.first_departure["D"] > 1400 * 4096
    # a bare train log with no shape beside it needs --N
    bare = tmp_path / "bare"
    bare.mkdir()
    _train_log(np.arange(1, 300), 1e6).to_csv(bare / "train_log.csv", index=False)
    assert main(["watch", str(bare / "train_log.csv"), "--law", str(law)]) == 2
    assert main(["watch", str(bare / "train_log.csv"), "--law", str(law), "--N", "1M"]) == 0


class _Writer(threading.Thread):
    """Appends a train log in chunks (as a live run would), then writes summary.json."""

    def __init__(self, folder, factor_after=None, chunks=12, per_chunk=150):
        super().__init__(daemon=True)
        self.folder, self.factor_after = folder, factor_after
        self.chunks, self.per_chunk = chunks, per_chunk
        self.stop = threading.Event()
        self.finished = False

    def run(self):
        path = self.folder / "train_log.csv"
        for c in range(self.chunks):
            if self.stop.is_set():
                return
            steps = np.arange(c * self.per_chunk + 1, (c + 1) * self.per_chunk + 1)
            factor = 1.0 if self.factor_after is None or c < self.factor_after else 1.25
            chunk = _train_log(steps, N_SHAPE, factor=factor)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(chunk.to_csv(index=False, header=c == 0))
            time.sleep(0.05)
        (self.folder / "summary.json").write_text(json.dumps({"run_id": "main", "status": "done"}))
        self.finished = True


@pytest.mark.parametrize("drift", [False, True])
def test_follow_a_growing_run(tmp_path, capsys, drift):
    folder = tmp_path / "run"
    _write_folder(folder, None)
    law = tmp_path / "law.json"
    TRUTH.save(law)
    writer = _Writer(folder, factor_after=6 if drift else None)
    writer.start()
    try:
        status = main(
            ["watch", str(folder), "--law", str(law), "--follow", "--interval", "0.02"]
            + ["--timeout", "120"]
        )
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    out = capsys.readouterr()
    lines = [ln for ln in out.out.splitlines() if ln.startswith("D=")]
    d = [float(ln.split()[0][2:]) for ln in lines]
    assert len(lines) > 10 and d == sorted(set(d))  # each new point once, in order
    if drift:
        assert status == 4 and "departed-above" in out.err
        assert "above" in lines[-1] or "spike" in lines[-1]
    else:
        assert status == 0 and writer.finished and lines[-1].endswith(": ok")


def test_follow_times_out_on_a_silent_run(tmp_path, capsys):
    _write_folder(tmp_path / "run", None)
    law = tmp_path / "law.json"
    TRUTH.save(law)
    args = ["watch", str(tmp_path / "run"), "--law", str(law), "--follow", "--interval", "0.01"]
    assert main(args + ["--timeout", "0.05"]) == 0
    assert "has not finished" in capsys.readouterr().err
    assert main(["watch", str(tmp_path / "run"), "--law", str(law)]) == 2  # nothing to judge yet
    assert main(args + ["--interval", "0"]) == 2
