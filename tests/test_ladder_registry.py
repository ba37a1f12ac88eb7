"""Registry: claims under concurrency, dead-claim takeover, conditional completion, export (no training)."""

from __future__ import annotations

import json
import multiprocessing as mp
import time

from ladder_helpers import ladder_dict

from scalelab.ladder.plan import plan_ladder
from scalelab.ladder.registry import Registry
from scalelab.ladder.spec import spec_from_dict


def _registry(tmp_path, **kw):
    raw = ladder_dict(train={"schedule": "cosine"})
    raw["grid"]["seeds"] = list(range(5))
    plan = plan_ladder(spec_from_dict(raw))
    reg = Registry(tmp_path / "ladder.db", create=True, **kw)
    reg.sync_plan(plan)
    return reg, plan


def _claimer(path: str, out: mp.Queue) -> None:
    reg = Registry(path)
    got = []
    while True:
        job = reg.claim()
        if job is None:
            break
        got.append(job["run_id"])
        time.sleep(0.01)
        row = {
            "run_id": job["run_id"],
            "N": 1,
            "D": 1,
            "C": 6,
            "loss": 1.0,
            "step": 1,
            "eval_set": "val",
        }
        assert reg.finish(job["run_id"], job["claim"], "done", rows=[row])
    out.put(got)


def test_concurrent_claims_never_duplicate(tmp_path):
    reg, plan = _registry(tmp_path)
    n = len(plan.jobs)
    assert n == 20
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(str(reg.path), q)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    claimed = [r for g in got for r in g]
    assert sorted(claimed) == sorted(j.run_id for j in plan.jobs)  # each exactly once
    assert reg.counts()["done"] == n
    assert len(reg.events("claim")) == n and len(reg.events("done")) == n


def test_dead_claim_is_taken_over_and_old_owner_cannot_finish(tmp_path):
    reg, plan = _registry(tmp_path, lease_s=60)
    first = reg.claim()
    # simulate a SIGKILLed worker on this host: a pid that does not exist
    reg.conn.execute("UPDATE runs SET pid=? WHERE run_id=?", (2**22 + 12345, first["run_id"]))
    again = reg.claim()
    assert again["run_id"] == first["run_id"] and again["took_over"] and again["attempts"] == 2
    assert not reg.finish(first["run_id"], first["claim"], "done")  # the old claim is void
    assert not reg.heartbeat(first["run_id"], first["claim"])
    assert reg.finish(again["run_id"], again["claim"], "done")
    assert not reg.finish(again["run_id"], again["claim"], "done")  # done once


def test_live_claim_is_not_taken_and_lease_expiry_frees_it(tmp_path):
    reg, plan = _registry(tmp_path, lease_s=60)
    first = reg.claim()
    nxt = reg.claim()
    assert nxt["run_id"] != first["run_id"]  # a live claim is skipped
    other = Registry(reg.path, lease_s=60)
    other.host = "elsewhere"  # can't check pids across hosts
    reg.conn.execute(
        "UPDATE runs SET lease_until=? WHERE run_id=?", (time.time() - 1, first["run_id"])
    )
    taken = other.claim(first["run_id"])
    assert taken is not None and taken["took_over"]


def test_release_requeues_and_export_keeps_status(tmp_path):
    reg, plan = _registry(tmp_path)
    a, b = reg.claim(), reg.claim()
    assert reg.release(a["run_id"], a["claim"])
    assert reg.runs()[0]["status"] == "queued"
    row = {
        "run_id": b["run_id"],
        "N": 10,
        "D": 100,
        "C": 6000,
        "loss": 9.0,
        "step": 5,
        "eval_set": "val",
        "status": "diverged",
    }
    reg.finish(b["run_id"], b["claim"], "diverged", rows=[row])
    c = reg.claim()
    reg.finish(
        c["run_id"],
        c["claim"],
        "done",
        rows=[{**row, "run_id": c["run_id"], "loss": 3.0, "status": "done"}],
    )
    n = reg.export(tmp_path / "runs.csv")
    assert n == 2
    from scalelab.runs.table import read_table

    t = read_table(tmp_path / "runs.csv")
    sel = t.select()
    assert list(sel.data["run_id"]) == [c["run_id"]]
    assert any("left out 1 run" in n and f"{b['run_id']} (diverged)" in n for n in sel.notes)
    assert json.loads(reg.meta("plan"))["name"] == "t"


def test_progress_and_status_from_another_connection(tmp_path):
    import io

    from rich.console import Console

    from scalelab.ladder.status import LiveProgress, ladder_state, status_rows

    reg, plan = _registry(tmp_path)
    job = reg.claim()
    assert reg.heartbeat(job["run_id"], job["claim"], step=7, train_loss=2.5, tokens_per_s=1234.0)
    buf = io.StringIO()
    live = LiveProgress(reg.path, console=Console(file=buf, force_terminal=True, width=200))
    live.progress.start()
    live.refresh()
    live.progress.stop()
    text = buf.getvalue()
    assert (
        "runs 0/20" in text
        and job["run_id"] in text
        and "step 7/" in text
        and "1,234 tok/s" in text
    )
    # a second run in flight (another worker) gets its own bar; a finished one loses its bar
    other = reg.claim()
    assert reg.heartbeat(other["run_id"], other["claim"], step=3, train_loss=3.5, tokens_per_s=99.0)
    live.progress.start()
    live.refresh()
    assert set(live.run_tasks) == {job["run_id"], other["run_id"]}
    reg.finish(job["run_id"], job["claim"], "done", rows=[])
    live.refresh()
    live.progress.stop()
    assert set(live.run_tasks) == {other["run_id"]} and "step 3/" in buf.getvalue()
    reg.release(other["run_id"], other["claim"])
    st = ladder_state(Registry(reg.path))
    assert st["finished"] == 1 and not st["running"] and 0 < st["flops_done"] < st["flops_total"]
    job = reg.claim()
    assert reg.heartbeat(job["run_id"], job["claim"], step=7, train_loss=2.5, tokens_per_s=1234.0)
    st = ladder_state(Registry(reg.path))
    assert len(st["running"]) == 1
    rows = {r["run_id"]: r for r in status_rows(Registry(reg.path))}
    assert rows[job["run_id"]]["status"] == "running" and rows[job["run_id"]]["step"] == 7
