"""Kill a real training subprocess (SIGKILL, SIGTERM) mid-run, resume it, and demand the exact
(bitwise) final loss and learning curve of the uninterrupted run, on CPU."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from train_helpers import TINY, merge, write_config  # noqa: E402

from scalelab.train.checkpoint import load_checkpoint  # noqa: E402
from scalelab.train.config import load_config  # noqa: E402
from scalelab.train.loop import bf16_supported, train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RUN = merge(
    TINY,
    device="cpu",
    model={"vocab_size": 64, "n_ctx": 32, "n_layer": 2, "d_model": 32, "n_head": 2},
    train={
        "tokens": 512 * 150,
        "batch_tokens": 512,
        "micro_batch": 8,
        "schedule": "wsd",
        "branch_tokens": [512 * 60],
    },
    eval={"points": 6, "tokens": 1024},
    checkpoint={"every_steps": 10},
)


BF16 = "bf16" if bf16_supported("cpu") else "fp32"
HANG_S = 300
"""Seconds a training subprocess may take before the test calls it hung: at a load average of 13
on 2 cores the first checkpoint took over 60 s and a resumed 150-step run over 120 s."""


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """The uninterrupted runs (in this process, one thread like the subprocesses), by precision."""
    cache = {}

    def get(precision):
        if precision not in cache:
            tmp = tmp_path_factory.mktemp(f"ref-{precision}")
            before = torch.get_num_threads()
            try:
                cfg = merge(RUN, out_dir=str(tmp / "out"), precision=precision)
                summary = train(load_config(write_config(tmp / "ref.toml", cfg)))
            finally:
                torch.set_num_threads(before)
            cache[precision] = (summary, tmp / "out")
        return cache[precision]

    return get


def _start(config: Path, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "scalelab.cli", "train", str(config), "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def _wait_for_checkpoint(proc: subprocess.Popen, path: Path, timeout: float = HANG_S) -> None:
    """Until the run's first checkpoint appears (the timeout only guards a hang)."""
    start = time.time()
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"training exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.time() - start > timeout:
            proc.kill()
            pytest.fail("no checkpoint appeared")
        time.sleep(0.01)


def _assert_same_as_reference(reference, out: Path):
    ref_summary, ref_out = reference
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done"
    assert (
        summary["resumed_from_step"] is not None
        and 0 < summary["resumed_from_step"] < summary["total_steps"]
    )
    assert summary["final_loss"] == ref_summary["final_loss"]  # bitwise: floats compared exactly
    assert summary["final_train_loss"] == ref_summary["final_train_loss"]
    assert summary["branches"] == json.loads(json.dumps(ref_summary["branches"]))
    assert (out / "train_log.csv").read_text() == (ref_out / "train_log.csv").read_text()
    assert (out / "runs.csv").read_text() == (ref_out / "runs.csv").read_text()
    a, b = (
        load_checkpoint(out / "checkpoint.pt")["model"],
        load_checkpoint(ref_out / "checkpoint.pt")["model"],
    )
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sigkill_mid_run_then_resume_is_bitwise_identical(tmp_path, references):
    """bf16 autocast (where the CPU supports it): the path most likely to hide non-determinism."""
    reference = references(BF16)
    out = tmp_path / "out"
    config = write_config(tmp_path / "run.toml", merge(RUN, out_dir=str(out), precision=BF16))
    proc = _start(config)
    _wait_for_checkpoint(proc, out / "checkpoint.pt")
    time.sleep(0.25)  # somewhere between checkpoints, possibly while writing one
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists(), (
        "the run finished before it was killed; make it longer"
    )
    killed_at = load_checkpoint(out / "checkpoint.pt")["step"]
    assert 0 < killed_at < 150
    resumed = _start(config, "--resume")
    _, err = resumed.communicate(timeout=HANG_S)
    assert resumed.returncode == 0, err
    _assert_same_as_reference(reference, out)


def test_sigterm_checkpoints_and_resume_is_bitwise_identical(tmp_path, references):
    reference = references("fp32")
    out = tmp_path / "out"
    config = write_config(tmp_path / "run.toml", merge(RUN, out_dir=str(out), precision="fp32"))
    proc = _start(config)
    _wait_for_checkpoint(proc, out / "checkpoint.pt")
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "continue with --resume" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    stopped = load_checkpoint(out / "checkpoint.pt")["step"]
    assert (
        stopped == summary["step"] and 0 < stopped < 150
    )  # saved at the signal, not at the last multiple of K
    resumed = _start(config, "--resume")
    _, err = resumed.communicate(timeout=HANG_S)
    assert resumed.returncode == 0, err
    _assert_same_as_reference(reference, out)


@pytest.mark.slow
def test_repeated_sigkills_at_random_moments(tmp_path, references):
    """Kill the same run three times at random moments (possibly mid-checkpoint), then finish it."""
    import random

    reference = references(BF16)
    out = tmp_path / "out"
    config = write_config(
        tmp_path / "run.toml",
        merge(RUN, out_dir=str(out), precision=BF16, checkpoint={"every_steps": 3}),
    )
    rng = random.Random(0)
    for attempt in range(3):
        proc = _start(config, *(["--resume"] if attempt else []))
        if attempt == 0:
            _wait_for_checkpoint(proc, out / "checkpoint.pt")
        time.sleep(rng.uniform(2.0, 3.0) if attempt else rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert (
        not (out / "summary.json").exists()
        or json.loads((out / "summary.json").read_text())["status"] == "done"
    )
    resumed = _start(config, "--resume")
    _, err = resumed.communicate(timeout=HANG_S)
    assert resumed.returncode == 0, err
    assert not list(out.glob(".checkpoint.pt.*.tmp"))
    ref_summary, ref_out = reference
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_loss"] == ref_summary["final_loss"]
    assert (out / "train_log.csv").read_text() == (ref_out / "train_log.csv").read_text()
