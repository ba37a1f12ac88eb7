"""Data-parallel training (torchrun, DDP, gloo on CPU): two real processes started through the CLI
give the single-process run's per-step losses, gradient norms and eval losses; one set of files;
bad input stops before anything starts; a ladder with nproc_per_run = 2 matches its 1-process twin.

The tolerance (relative 1e-5) leaves room for the different order of fp32 additions (measured:
~1e-7) and catches the mistakes that matter: ranks training on the same micro-batches, a summed
instead of averaged gradient (the gradient norm doubles), a loss that is not all-reduced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402

if not (dist.is_available() and dist.is_gloo_available()):
    pytest.skip(
        "SKIPPED LOUDLY: torch.distributed with the gloo backend is not available",
        allow_module_level=True,
    )

import pandas as pd  # noqa: E402
from ladder_helpers import ladder_dict, write_spec  # noqa: E402
from train_helpers import TINY, merge, write_config  # noqa: E402

from scalelab.ladder.registry import Registry  # noqa: E402
from scalelab.ladder.spec import load_spec  # noqa: E402
from scalelab.train.config import load_config  # noqa: E402
from scalelab.train.loop import train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RTOL = 1e-5
# 8 sequences per step in micro-batches of 2: 4 micro-batches, 2 per process (so no_sync is used)
RUN = merge(
    TINY,
    device="cpu",
    precision="fp32",
    train={
        "tokens": 256 * 40,
        "batch_tokens": 256,
        "micro_batch": 2,
        "lr": 3e-3,
        "warmup_frac": 0.1,
    },
)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "scalelab.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _train_here(cfg: dict, tmp: Path, name: str) -> tuple[dict, Path]:
    """The single-process reference, in this process (one thread, like the subprocesses)."""
    before = torch.get_num_threads()
    try:
        out = tmp / name
        summary = train(
            load_config(write_config(tmp / f"{name}.toml", merge(cfg, out_dir=str(out))))
        )
    finally:
        torch.set_num_threads(before)
    return summary, out


def _close(a, b, rtol=RTOL) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _train_here(RUN, tmp_path_factory.mktemp("ref"), "one")


def test_two_processes_give_the_single_process_run(tmp_path, reference):
    ref_summary, ref_out = reference
    config = write_config(tmp_path / "run.toml", merge(RUN, out_dir=str(tmp_path / "two")))
    r = _cli("train", str(config), "--nproc", "2", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)  # stdout holds the JSON only
    out = tmp_path / "two"
    assert summary == json.loads((out / "summary.json").read_text())
    assert (
        summary["status"] == "done"
        and summary["world_size"] == 2
        and ref_summary["world_size"] == 1
    )
    assert summary["grad_accum"] == ref_summary["grad_accum"] == 4

    one, two = pd.read_csv(ref_out / "train_log.csv"), pd.read_csv(out / "train_log.csv")
    assert list(two["step"]) == list(one["step"]) == list(range(1, 41))
    for col in ("loss", "grad_norm"):
        bad = [(s, a, b) for s, a, b in zip(one["step"], one[col], two[col]) if not _close(a, b)]
        assert not bad, f"{col} differs from the single-process run at (step, one, two): {bad[:5]}"
    assert list(two["lr"]) == list(one["lr"])
    for name, loss in ref_summary["final_loss"].items():
        assert _close(summary["final_loss"][name], loss), (name, summary["final_loss"][name], loss)

    # one set of outputs, written by rank 0 only: no duplicate rows, no stray files
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ref_out.iterdir())
    rows_one, rows_two = pd.read_csv(ref_out / "runs.csv"), pd.read_csv(out / "runs.csv")
    assert (
        len(rows_two) == len(rows_one)
        and not rows_two.duplicated(["run_id", "step", "eval_set"]).any()
    )
    assert len(two) == len(one)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    # 8 sequences in micro-batches of 8: one micro-batch cannot be shared by 2 processes
    config = write_config(
        tmp_path / "run.toml",
        merge(RUN, out_dir=str(out), train={**RUN["train"], "micro_batch": 8}),
    )
    r = _cli("train", str(config), "--nproc", "2")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "micro_batch" in lines[0] and "2 processes" in lines[0], r.stderr
    r = _cli("train", str(config), "--nproc", "0")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: --nproc: expected a number of processes >= 1, got 0"
    ], r.stderr
    assert not out.exists() and r.stdout == ""
    # the same check when a ladder plans its runs
    spec = write_spec(
        tmp_path / "l.toml",
        ladder_dict(
            out_dir=str(tmp_path / "lad"),
            nproc_per_run=2,
            hparams={"min_steps": 40, "batch_tokens": 256},
            train={"micro_batch": 16},
        ),
    )
    r = _cli("ladder", "run", str(spec), "--dry-run")
    assert (
        r.returncode == 2 and "[train] micro_batch" in r.stderr and "nproc_per_run = 2" in r.stderr
    ), r.stderr
    assert not (tmp_path / "lad").exists()


# slow (make test-all): SIGTERM + resume stays in the default suite for one process: test_checkpoint_resume
@pytest.mark.slow
def test_sigterm_stops_both_processes_at_one_step_and_resume_matches(tmp_path):
    """SIGTERM to `scalelab train --nproc 2`: the processes agree on a step, rank 0 checkpoints, exit
    143; the run resumes in one process (the data does not depend on the process count)."""
    cfg = merge(RUN, train={**RUN["train"], "tokens": 256 * 150}, checkpoint={"every_steps": 5})
    ref_summary, _ = _train_here(cfg, tmp_path, "ref")
    out = tmp_path / "two"
    config = write_config(tmp_path / "run.toml", merge(cfg, out_dir=str(out)))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalelab.cli", "train", str(config), "--nproc", "2", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t0 = time.time()
    while not (out / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < 120, "no checkpoint appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 0 < summary["step"] < 150, summary
    assert len(pd.read_csv(out / "train_log.csv")) == summary["step"]
    before = torch.get_num_threads()
    try:
        resumed = train(load_config(config), resume=True)
    finally:
        torch.set_num_threads(before)
    assert resumed["status"] == "done" and resumed["resumed_from_step"] == summary["step"]
    for name, loss in ref_summary["final_loss"].items():
        assert _close(resumed["final_loss"][name], loss), (name, resumed["final_loss"][name], loss)


def _ladder_here(spec: Path) -> None:
    """A ladder run in this process (one thread, like the subprocesses)."""
    from scalelab import ladder

    before = torch.get_num_threads()
    try:
        ladder.run(load_spec(spec))
    finally:
        torch.set_num_threads(before)


# slow (make test-all): two processes = one stays in the default suite: test_two_processes_give_the_single_process_run
@pytest.mark.slow
def test_ladder_with_two_processes_per_run_matches_one(tmp_path):
    losses = {}
    for nproc in (1, 2):
        lad = tmp_path / f"lad{nproc}"
        spec = write_spec(
            tmp_path / f"l{nproc}.toml",
            ladder_dict(
                out_dir=str(lad),
                nproc_per_run=nproc,
                grid={
                    "shapes": [{"n_layer": 1, "d_model": 16, "n_head": 2}],
                    "tokens_per_param": [4, 12],
                },
                hparams={"min_steps": 40, "batch_tokens": 256},
                train={"micro_batch": 4},
            ),
        )
        if nproc == 1:  # the twin in this process (`scalelab ladder run`'s one API call)
            _ladder_here(spec)
        else:
            r = _cli("ladder", "run", str(spec), "--quiet")
            assert r.returncode == 0, r.stderr
        with Registry.open(lad) as reg:
            runs = reg.runs()
            assert [r["status"] for r in runs] == ["done"], [
                (r["run_id"], r["status"], r["error"]) for r in runs
            ]
            assert runs[0]["summary"]["world_size"] == nproc
            assert all(p["status"] == "done" for p in reg.points()) and len(reg.points()) == 2
            assert len(reg.events("done")) == 1
        with Registry.open(lad) as reg:
            reg.export(tmp_path / f"runs{nproc}.csv")  # what `scalelab ladder export` writes
        t = pd.read_csv(tmp_path / f"runs{nproc}.csv")
        assert not t.duplicated(["run_id", "step", "eval_set"]).any()
        losses[nproc] = {(row.run_id, row.step, row.eval_set): row.loss for row in t.itertuples()}
    assert losses[2].keys() == losses[1].keys() and len(losses[1]) == 8
    bad = {
        k: (losses[1][k], losses[2][k]) for k in losses[1] if not _close(losses[1][k], losses[2][k])
    }
    assert not bad, bad
