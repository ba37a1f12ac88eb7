"""Running ladders: end to end, SIGKILL and restart, two processes on one registry, divergence,
prepared data, the process pool and Ray. Tiny models, a few seconds per run."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path

import pytest
from ladder_helpers import cli, ladder_dict, popen, write_spec

from scalelab.ladder.executors import run_pool
from scalelab.ladder.registry import Registry
from scalelab.ladder.runner import init_ladder, load_plan, prepare_data, work
from scalelab.ladder.spec import spec_from_dict


def _losses(reg: Registry) -> dict:
    return {(r["run_id"], r["step"], r["eval_set"]): r["loss"] for r in reg.eval_rows()}


def _done_once(reg: Registry) -> None:
    runs = reg.runs()
    assert all(r["status"] == "done" for r in runs), [
        (r["run_id"], r["status"], r["error"]) for r in runs
    ]
    done = [e["run_id"] for e in reg.events("done")]
    assert sorted(done) == sorted(r["run_id"] for r in runs)  # each run reached done exactly once
    assert all(p["status"] == "done" for p in reg.points())


def test_ladder_end_to_end_and_fit_reads_export(tmp_path, tiny_ladder):
    spec, lad, r = tiny_ladder  # `scalelab ladder run l.toml --quiet`, once per session
    assert r.returncode == 0, r.stderr
    with Registry.open(lad) as reg:
        _done_once(reg)
        assert len(reg.points()) == 4
    # a second run skips everything
    r = cli("ladder", "run", str(spec), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["counts"]["done"] == 2
    with Registry.open(lad) as reg:
        assert len(reg.events("claim")) == 2
    r = cli("ladder", "status", str(lad), "--json")
    rows = json.loads(r.stdout)["runs"]
    assert [x["status"] for x in rows] == ["done", "done"] and all(x["val_loss"] for x in rows)
    r = cli("ladder", "export", str(spec), "-o", str(tmp_path / "runs.csv"))
    assert r.returncode == 0, r.stderr
    import pandas as pd

    t = pd.read_csv(tmp_path / "runs.csv")
    assert {"run_id", "N", "D", "C", "loss", "status", "eval_set", "step"} <= set(t.columns)
    assert t["run_id"].nunique() == 4 and set(t["eval_set"]) == {"val", "ood"}
    r = cli("fit", str(tmp_path / "runs.csv"), "--form", "power:C", "--json")
    assert r.returncode == 0, r.stderr


def _queued(out: Path) -> int:
    """Runs not yet claimed (read-only: the ladder under test holds the database)."""
    import sqlite3

    db = out / "ladder.db"
    if not db.is_file():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
            return c.execute("SELECT COUNT(*) FROM runs WHERE status = 'queued'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _wait_mid_run(out: Path, proc, timeout: float = 120.0, queued: bool = False) -> str:
    """A run with a checkpoint and no summary yet (and, with ``queued``, a run still waiting, so
    that a signal sent now cannot arrive after the whole ladder finished on a loaded machine)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        for run in sorted((out / "runs").glob("*")) if (out / "runs").is_dir() else []:
            if (run / "checkpoint.pt").is_file() and not (run / "summary.json").is_file():
                if not queued or _queued(out):
                    return run.name
        if proc.poll() is not None:
            raise AssertionError(f"ladder finished before it could be killed: {proc.stderr.read()}")
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


# slow (make test-all): resume after SIGKILL stays in the default suite: test_checkpoint_resume (one run, bitwise)
@pytest.mark.slow
def test_sigkill_and_restart_resumes_exactly(tmp_path):
    raw = ladder_dict(
        grid={**ladder_dict()["grid"], "tokens_per_param": [4, 40]}, checkpoint={"every_steps": 25}
    )
    ref_spec = write_spec(tmp_path / "ref.toml", {**raw, "out_dir": str(tmp_path / "ref")})
    spec = write_spec(tmp_path / "l.toml", {**raw, "out_dir": str(tmp_path / "lad")})
    proc = popen("ladder", "run", str(spec), "--quiet")
    killed_in = _wait_mid_run(tmp_path / "lad", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with Registry.open(tmp_path / "lad") as reg:
        states = {r["run_id"]: r["status"] for r in reg.runs()}
    assert states[killed_in] == "running"  # left behind by the dead process, not lost
    r = cli("ladder", "run", str(spec), "--quiet")
    assert r.returncode == 0, r.stderr
    r_ref = cli("ladder", "run", str(ref_spec), "--quiet")
    assert r_ref.returncode == 0, r_ref.stderr
    with Registry.open(tmp_path / "lad") as reg, Registry.open(tmp_path / "ref") as ref:
        _done_once(reg)
        takeovers = [e for e in reg.events("claim") if "dead claim" in (e["message"] or "")]
        assert [e["run_id"] for e in takeovers] == [killed_in]
        summary = json.loads((tmp_path / "lad" / "runs" / killed_in / "summary.json").read_text())
        assert summary["resumed_from_step"] and summary["resumed_from_step"] % 25 == 0
        a, b = _losses(reg), _losses(ref)
        assert a.keys() == b.keys() and len(a) > 8
        assert all(a[k] == b[k] for k in a), "resumed runs differ from uninterrupted ones"


def test_ctrl_c_stops_a_worker_pool_cleanly_and_it_resumes(tmp_path):
    import os
    import subprocess
    import sys

    raw = ladder_dict(
        grid={
            **ladder_dict()["grid"],
            "tokens_per_param": [4, 40],
            # a third run, so that one still waits in the queue when Ctrl-C comes (2 workers)
            "shapes": [{"n_layer": n, "d_model": 16, "n_head": 2} for n in (1, 2, 3)],
        },
        checkpoint={"every_steps": 25},
    )
    spec = write_spec(tmp_path / "l.toml", {**raw, "out_dir": str(tmp_path / "lad")})
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scalelab.cli",
            "ladder",
            "run",
            str(spec),
            "--workers",
            "2",
            "--quiet",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _wait_mid_run(tmp_path / "lad", proc, queued=True)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group gets SIGINT
    _, errtext = proc.communicate(timeout=120)
    assert proc.returncode == 130, errtext
    assert "Traceback" not in errtext and "interrupted:" in errtext
    with Registry.open(tmp_path / "lad") as reg:
        assert any(r["status"] != "done" for r in reg.runs())
    r = cli("ladder", "run", str(spec), "--workers", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    with Registry.open(tmp_path / "lad") as reg:
        _done_once(reg)


# slow (make test-all): claims never duplicated stays in the default suite: test_ladder_registry
@pytest.mark.slow
def test_two_ladder_processes_never_run_a_run_twice(tmp_path):
    raw = ladder_dict(out_dir=str(tmp_path / "lad"), train={"schedule": "cosine"})
    spec = write_spec(tmp_path / "l.toml", raw)
    procs = [popen("ladder", "run", str(spec), "--quiet") for _ in range(2)]
    t0 = time.time()
    while not (tmp_path / "lad" / "ladder.db").is_file() and time.time() - t0 < 60:
        time.sleep(0.05)
    r = cli("ladder", "status", str(tmp_path / "lad"), "--json")  # while the ladder runs
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["runs"]) in (0, 4)
    for p in procs:
        _, errtext = p.communicate(timeout=300)
        assert p.returncode == 0, errtext
    with Registry.open(tmp_path / "lad") as reg:
        _done_once(reg)
        claims = [e["run_id"] for e in reg.events("claim")]
        assert sorted(claims) == sorted(r["run_id"] for r in reg.runs())  # each claimed once
        assert len({e["pid"] for e in reg.events("claim")}) >= 1


def test_diverging_run_is_marked_and_ladder_goes_on(tmp_path):
    plan = load_plan(spec_from_dict(ladder_dict(out_dir=str(tmp_path / "lad"))))
    reg = init_ladder(plan)
    bad = plan.jobs[0].run_id
    cfg = json.loads(
        reg.conn.execute("SELECT config FROM runs WHERE run_id=?", (bad,)).fetchone()[0]
    )
    cfg["train"].update(lr=200.0, grad_clip=0.0, divergence_factor=1.5)  # make it blow up
    reg.conn.execute("UPDATE runs SET config=? WHERE run_id=?", (json.dumps(cfg), bad))
    counts = work(reg.path)
    assert counts == {"diverged": 1, "done": 1}
    st = {r["run_id"]: r["status"] for r in reg.runs()}
    assert st[bad] == "diverged" and list(st.values()).count("done") == 1
    reg.export(tmp_path / "runs.csv")
    from scalelab.runs.table import read_table

    sel = read_table(tmp_path / "runs.csv").select()
    assert not any(str(x).startswith(bad) for x in sel.data["run_id"] if str(x) == bad)
    assert any("left out" in n and bad in n for n in sel.notes)


def test_prepared_synthetic_data_and_process_pool(tmp_path):
    raw = ladder_dict(
        out_dir=str(tmp_path / "lad"),
        data={"preset": "synthetic", "synthetic_docs": 300, "tokenizer": "bytes"},
    )
    raw["model"] = {"n_ctx": 16}
    plan = load_plan(spec_from_dict(raw))
    assert plan.data.vocab_size == 256 and set(plan.data.eval) == {"val"}
    prepare_data(plan, log=lambda m: None)
    reg = init_ladder(plan)
    totals = run_pool(reg.path, 2)
    assert totals == {"done": 2}
    _done_once(reg)
    rows = reg.eval_rows()
    assert {r["eval_set"] for r in rows} == {"val"}
    assert (
        Path(plan.jobs[0].config["data"]["train"]).parent == (tmp_path / "lad" / "data").resolve()
    )
    # a second preparation reuses the folder
    mtime = (tmp_path / "lad" / "data" / "manifest.json").stat().st_mtime
    prepare_data(plan, log=lambda m: None)
    assert (tmp_path / "lad" / "data" / "manifest.json").stat().st_mtime == mtime


def test_ray_executor_two_workers(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray not installed (optional extra: scalelab[ray])")
    from scalelab.ladder.executors import run_ray

    plan = load_plan(
        spec_from_dict(ladder_dict(out_dir=str(tmp_path / "lad"), train={"schedule": "cosine"}))
    )
    reg = init_ladder(plan)
    totals = run_ray(reg.path, 2, init_kwargs={"num_cpus": 2, "include_dashboard": False})
    assert totals == {"done": 4}
    _done_once(reg)
    assert not ray.is_initialized()


@pytest.mark.slow
def test_builtin_corpus_with_wiki_ood(tmp_path):
    """The built-in Shakespeare + Bible corpus, Wikipedia as the out-of-distribution eval set."""
    raw = ladder_dict(
        out_dir=str(tmp_path / "lad"),
        data={"preset": "builtin", "tokenizer": "bytes"},
        eval={"points": 2, "tokens": 2048},
    )
    raw["model"] = {"n_ctx": 32}
    raw["grid"] = {"shapes": [{"n_layer": 1, "d_model": 16, "n_head": 2}], "tokens_per_param": [10]}
    plan = load_plan(spec_from_dict(raw))
    assert set(plan.data.eval) == {"val", "wiki"}
    prepare_data(plan, log=lambda m: None)
    reg = init_ladder(plan)
    assert work(reg.path) == {"done": 1}
    assert {r["eval_set"] for r in reg.eval_rows()} == {"val", "wiki"}


def test_sweep_lr_on_smallest_size(tmp_path):
    spec = write_spec(tmp_path / "l.toml", ladder_dict(out_dir=str(tmp_path / "lad")))
    r = cli("ladder", "sweep-lr", str(spec), "--sizes", "1", "--scales", "0.5,2", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["complete"] and len(rep["sizes"]) == 1
    size = rep["sizes"][0]
    assert [x["scale"] for x in size["runs"]] == [0.5, 2.0] and size["best_scale"] in (0.5, 2.0)
    assert size["runs"][1]["lr"] == pytest.approx(4 * size["runs"][0]["lr"])
    assert rep["suggested_lr_scale"] == size["best_scale"]
    assert (tmp_path / "lad" / "sweep-lr" / "ladder.db").is_file()
    r = cli("ladder", "sweep-lr", str(spec), "--scales", "1")
    assert r.returncode == 2 and "at least two" in r.stderr


@pytest.mark.slow
def test_ladder_demo_pipeline_fits_and_backtests(tmp_path):
    raw = ladder_dict(out_dir=str(tmp_path / "lad"))
    raw["grid"] = {
        "shapes": [
            {"n_layer": 1, "d_model": 16, "n_head": 2},
            {"n_layer": 2, "d_model": 16, "n_head": 2},
            {"n_layer": 2, "d_model": 24, "n_head": 2},
            {"n_layer": 2, "d_model": 32, "n_head": 2},
        ],
        "tokens_per_param": [3, 8],
    }
    spec = write_spec(tmp_path / "l.toml", raw)
    r = cli("demo", "--spec", str(spec), "--bootstrap", "10", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["counts"]["done"] == 4 and s["points"] == 8
    assert "params" in s["fits"]["chinchilla"] and "params" in s["fits"]["kaplan-nd"]
    bt = s["backtest"]
    assert bt["held_out_N"] == max(s["sizes"]) and len(bt["points"]) == 2
    assert all(abs(p["rel_error"]) < 0.5 for p in bt["points"])
    # held-out loss falls with N at each budget and with D at each size on this toy ladder
    assert s["trend_violations"] == []
    assert (tmp_path / "lad" / "demo_summary.json").is_file() and (
        tmp_path / "lad" / "chinchilla.json"
    ).is_file()


def test_worker_stops_when_its_claim_is_taken_over(tmp_path):
    import threading

    raw = ladder_dict(
        out_dir=str(tmp_path / "lad"), grid={**ladder_dict()["grid"], "tokens_per_param": [4, 60]}
    )
    plan = load_plan(spec_from_dict(raw))
    reg = init_ladder(plan, lease_s=2.0)  # heartbeats every 0.5 s
    first = plan.jobs[0].run_id

    def steal():
        other = Registry(reg.path)
        t0 = time.time()
        while time.time() - t0 < 60:
            row = other.conn.execute(
                "SELECT status, claim FROM runs WHERE run_id=?", (first,)
            ).fetchone()
            if row["status"] == "running":
                time.sleep(0.3)
                other.conn.execute("UPDATE runs SET claim='someone-else' WHERE run_id=?", (first,))
                return
            time.sleep(0.02)

    thief = threading.Thread(target=steal)
    thief.start()
    counts = work(reg.path, lease_s=2.0)
    thief.join()
    # the worker stopped the run it no longer owned; the "thief" never heart-beat, so once its lease
    # expired the run was claimed again, resumed from its checkpoint and finished, once
    assert counts == {"lost": 1, "done": 2}
    _done_once(reg)
    row = reg.conn.execute("SELECT attempts FROM runs WHERE run_id=?", (first,)).fetchone()
    assert row["attempts"] == 2
