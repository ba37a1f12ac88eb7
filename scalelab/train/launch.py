"""Starting one run on several processes through torchrun (DDP), and the processes' entry point.

``scalelab train CONFIG --nproc K`` and a ladder with ``nproc_per_run = K`` call :func:`launch`. It
checks everything the run would check before writing (:func:`scalelab.train.loop.check_run`,
including that each step's micro-batches split evenly over K processes), so bad input is one
InputError line with nothing written and nothing started; then it runs

    python -m torch.distributed.run --standalone --nproc_per_node K -m scalelab.train.launch

whose K processes each read the run (config, output folder, resume) from the environment variable
``SCALELAB_RUN`` (JSON) and call :func:`scalelab.train.loop.train`: DDP with ``gloo`` on CPU or
``nccl`` on ``cuda:LOCAL_RANK`` (:mod:`scalelab.train.distributed`). :func:`launch` waits, passes
rank 0's progress lines to ``log`` and its per-step progress to ``on_step`` (read from a
:class:`~scalelab.train.callbacks.ProgressFile` rank 0 keeps in a temporary file), and returns the
summary rank 0 wrote. SIGTERM or SIGINT received
while waiting (or ``stop`` being set) is passed once to torchrun, which passes it to the processes:
they agree on a step, checkpoint and stop with status ``interrupted``, as a single process does.

torchrun may also be called directly: ``torchrun --nproc_per_node K -m scalelab.cli train CONFIG``
(each process runs the CLI; only rank 0 prints and writes).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import torch

from scalelab.errors import InputError, ScalelabError
from scalelab.train.callbacks import ProgressFile, read_progress
from scalelab.train.config import RunConfig, config_from_dict
from scalelab.train.loop import train
from scalelab.train.plan import SUMMARY, check_run

ENV = "SCALELAB_RUN"


def torchrun_command(nproc: int) -> list[str]:
    """The command that starts ``nproc`` training processes on this machine."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        "-m",
        "scalelab.train.launch",
    ]


def _stamp(path: Path) -> Optional[tuple]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def launch(
    cfg: RunConfig,
    nproc: int,
    *,
    resume: bool = False,
    out_dir: str | Path | None = None,
    source: str = "<config>",
    log: Callable[[str], None] | None = None,
    stop: Optional[threading.Event] = None,
    on_step: Optional[Callable[[int, int, float, float], None]] = None,
) -> dict:
    """Train ``cfg`` on ``nproc`` processes (torchrun, DDP) and return the run's summary.

    ``on_step(step, total_steps, loss, tokens_per_s)`` gets rank 0's progress, polled about every
    0.2 s (so not every step: a fast run skips some).

    Raises InputError (nothing written, nothing started) for bad input, and ScalelabError when the
    processes end without writing a summary (a crash; their messages are on stderr or in ``log``).
    """
    if nproc < 1:
        raise InputError(f"--nproc: expected a number of processes >= 1, got {nproc}")
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise InputError(
            "--nproc: this process already is one of several (torchrun's WORLD_SIZE is set); "
            "leave out --nproc, or start it without torchrun"
        )
    plan = check_run(cfg, resume=resume, out_dir=out_dir, source=source, world_size=nproc)
    if plan.device == "cuda" and nproc > torch.cuda.device_count():
        raise InputError(
            f"--nproc {nproc}: one process per GPU, but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    out = Path(out_dir if out_dir is not None else cfg.out_dir)
    progress = None
    if on_step is not None:
        fd, name = tempfile.mkstemp(prefix="scalelab-progress-", suffix=".json")
        os.close(fd)
        progress = Path(name)
    run = {
        "config": cfg.model_dump(mode="json"),
        "base_dir": cfg.base_dir,
        "source": source,
        "out_dir": str(out),
        "resume": resume,
        "quiet": log is None,
        "progress": str(progress) if progress else None,
    }
    env = {**os.environ, ENV: json.dumps(run)}
    env.setdefault("OMP_NUM_THREADS", str(cfg.threads or max(1, (os.cpu_count() or 1) // nproc)))
    before = _stamp(out / SUMMARY)
    # stdout goes to our stderr (our stdout may carry --json); its own session, so that a Ctrl-C
    # reaches torchrun once, from us, and not twice (from the terminal and from us)
    proc = subprocess.Popen(
        torchrun_command(nproc),
        env=env,
        start_new_session=True,
        text=True,
        stdout=subprocess.PIPE if log else 2,
        stderr=subprocess.STDOUT if log else None,
    )
    pump = None
    if log is not None:

        def read():
            for line in proc.stdout:
                try:
                    log(line.rstrip("\n"))
                except Exception:  # pragma: no cover - a broken log must not block the output
                    pass

        pump = threading.Thread(target=read, daemon=True, name="torchrun-output")
        pump.start()
    forwarded = []

    def forward(signum, frame=None):
        if not forwarded and proc.poll() is None:
            forwarded.append(signum)
            proc.send_signal(signum)

    seen = [None]  # the last step passed to on_step

    def report_progress():
        p = read_progress(progress) if progress is not None else None
        if p is not None and p.step != seen[0]:
            seen[0] = p.step
            on_step(p.step, p.total_steps, p.loss, p.tokens_per_s)

    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, forward)
    try:
        while True:
            try:
                rc = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stop is not None and stop.is_set():
                    forward(signal.SIGTERM)
                report_progress()
        report_progress()  # the last step
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if proc.poll() is None:  # leaving on an exception: stop (checkpoint), then wait
            forward(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if pump is not None:
            pump.join(timeout=10)
        if progress is not None:
            progress.unlink(missing_ok=True)
            progress.with_name(f".{progress.name}.tmp").unlink(missing_ok=True)
    if _stamp(out / SUMMARY) in (None, before):
        raise ScalelabError(
            f"{source}: the {nproc} training processes (torchrun) exited with status {rc} "
            "without writing a summary; see their messages above"
        )
    return json.loads((out / SUMMARY).read_text())


def _worker() -> int:
    """One of the processes torchrun starts: train the run described in ``SCALELAB_RUN``."""
    run = json.loads(os.environ[ENV])
    lead = os.environ.get("RANK", "0") == "0"
    if not run["quiet"]:  # rank 0's progress lines (scalelab.train at INFO) on stderr, as they are
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger("scalelab.train")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    callbacks = [ProgressFile(run["progress"])] if run.get("progress") else []
    try:
        cfg = config_from_dict(run["config"], run["source"], run["base_dir"])
        train(
            cfg,
            resume=run["resume"],
            out_dir=run["out_dir"],
            source=run["source"],
            callbacks=callbacks,
        )
    except InputError as exc:
        if lead:
            for line in exc.problems:
                print(f"error: {line}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0  # done, diverged or interrupted: the launcher reads the status from the summary


if __name__ == "__main__":
    sys.exit(_worker())
