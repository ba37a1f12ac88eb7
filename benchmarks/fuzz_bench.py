"""A seeded fuzz of scalelab's input boundary: malformed inputs through the command line.

Each input is made from a valid one by one seeded mutation -- run tables (CSV, Parquet, JSON-lines)
with bad, missing or extreme values; law JSON files; data specs and ladder specs (TOML) cut short
or mistyped; lm-evaluation-harness result files and their mapping; option values -- and run
through ``scalelab.cli.main`` in this process, under an alarm. Each outcome is one of

* ``clear-error``: exit 2 or 3 with one to eight ``error:``/``failed:`` lines (each under 400
  characters) and no traceback;
* ``ok``: exit 0 on an input that is valid (the controls), or exit 0 with a ``warning:`` line on an
  input that may be valid (a TOML file cut after a whole line);
* ``traceback``: an exception escaped ``main``, "Traceback" was printed, or an unknown exit status;
* ``hang``: the alarm (``--timeout`` seconds) fired;
* ``warning-leak``: a Python warning (``warnings.warn``) escaped to the user in Python's own
  two-line form (the CLI turns those it catches into one ``warning: ... (RuntimeWarning)`` line;
  the summary counts the inputs that showed one as ``python_warnings_shown``);
* ``silent``: exit 0 with no warning on an input that is invalid by construction;
* ``unclear-error``: exit 2/3 whose lines are not one to eight short ``error:`` lines;
* ``rejected-valid``: exit 2 on a valid control (reported, not a failure of the boundary).

Input ``i`` is made from ``random.Random(f"{seed}:{i}")``, so ``--start``/``--n`` cut one run
into pieces that add up to the same inputs.

Usage: python benchmarks/fuzz_bench.py [--n 1000] [--start 0] [--seed 0] [--timeout 60]
       [--show 5] [--json]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_inputs import Case, make_case  # noqa: E402

FAILURES = ("traceback", "hang", "warning-leak", "silent", "unclear-error")


@dataclass
class Outcome:
    index: int
    kind: str
    mutation: str
    verdict: str
    code: int | None
    seconds: float
    detail: str = ""
    python_warnings: int = 0  # Python warnings the CLI turned into "warning: ... (XWarning)" lines


# -- running and classifying --------------------------------------------------------------------


class Alarm(BaseException):
    """Raised by the alarm: a BaseException, so no ``except Exception`` in scalelab swallows it."""


def run_case(case: Case, index: int, folder: Path, timeout: float) -> Outcome:
    from scalelab.cli import main

    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    argv = [a.replace("{dir}", str(folder)) for a in case.argv]
    out, err = io.StringIO(), io.StringIO()

    def expired(signum, frame):
        raise Alarm()

    old = signal.signal(signal.SIGALRM, expired)
    outer, _ = signal.getitimer(signal.ITIMER_REAL)  # an alarm already set (pytest-timeout's)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.process_time()
    code, escaped, caught = None, None, []
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
            warnings.simplefilter("always")
            with contextlib.redirect_stderr(err):
                code = main(argv)
    except Alarm:
        escaped = "hang"
    except BaseException:  # noqa: BLE001 - anything escaping main is the finding
        escaped = traceback.format_exc(limit=-3)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, outer - (time.monotonic() - started)))
    seconds = time.process_time() - t0
    stdout, stderr = out.getvalue(), err.getvalue()
    verdict, detail = classify(case, code, stdout, stderr, escaped, caught)
    shown = sum(
        ln.startswith("warning:") and ln.rstrip().endswith("Warning)") for ln in stderr.splitlines()
    )
    return Outcome(index, case.kind, case.mutation, verdict, code, seconds, detail, shown)


def classify(case: Case, code, stdout: str, stderr: str, escaped, caught) -> tuple[str, str]:
    if escaped == "hang":
        return "hang", ""
    if escaped is not None:
        return "traceback", escaped.strip().splitlines()[-1][:300]
    if "Traceback (most recent call last)" in stdout + stderr or code not in (0, 2, 3, 4):
        return "traceback", f"exit {code}: {stderr.strip()[-300:]}"
    leaked = [w for w in caught if not issubclass(w.category, DeprecationWarning)]
    if leaked:
        w = leaked[0]
        return "warning-leak", f"{w.category.__name__}: {str(w.message)[:200]} ({w.filename})"
    if any(
        "Warning:" in ln and not ln.startswith(("warning:", "note:")) for ln in stderr.splitlines()
    ):
        return "warning-leak", stderr.strip()[:300]
    # a note that input was skipped (a file outside an lm-eval mapping) tells the user as a warning does
    warned = any(
        ln.startswith("warning:") or (ln.startswith("note:") and "skipped" in ln)
        for ln in stderr.splitlines()
    )
    if code in (0, 4):
        if case.invalid is True and not warned:
            return "silent", stdout.strip()[:200]
        if case.invalid is False:
            return "ok", ""
        return "ok", "warned" if warned else ""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    problems = [ln for ln in lines if ln.startswith(("error:", "failed:"))]
    if not 1 <= len(problems) <= 8 or any(len(ln) > 400 for ln in problems):
        return "unclear-error", stderr.strip()[:300]
    if case.invalid is False and code == 2:
        return "rejected-valid", problems[0][:300]
    return "clear-error", problems[0][:160]


def fuzz(n: int, *, start: int = 0, seed: int = 0, timeout: float = 60.0, log=None):
    """Run inputs ``start`` .. ``start + n - 1``; returns their :class:`Outcome` list."""
    outcomes = []
    root = Path(tempfile.mkdtemp(prefix="scalelab-fuzz-"))
    cwd = os.getcwd()
    try:
        os.chdir(root)  # anything written by a relative default lands here
        for index in range(start, start + n):
            folder = root / f"in{index}"
            folder.mkdir()
            outcome = run_case(make_case(seed, index), index, folder, timeout)
            outcomes.append(outcome)
            shutil.rmtree(folder, ignore_errors=True)
            if log is not None:
                log(outcome)
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)
    return outcomes


def summary(outcomes: list[Outcome]) -> dict:
    counts = collections.Counter(o.verdict for o in outcomes)
    by_kind = collections.defaultdict(collections.Counter)
    for o in outcomes:
        by_kind[o.kind][o.verdict] += 1
    return {
        "inputs": len(outcomes),
        "counts": dict(sorted(counts.items())),
        "failures": sum(counts[v] for v in FAILURES),
        "by_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
        "python_warnings_shown": sum(o.python_warnings > 0 for o in outcomes),
        "cpu_seconds": round(sum(o.seconds for o in outcomes), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--show", type=int, default=5, help="examples shown per failure kind")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("COLUMNS", "200")
    wall = time.perf_counter()

    def progress(o: Outcome) -> None:
        if o.verdict in FAILURES or o.verdict == "rejected-valid":
            print(f"[{o.index}] {o.verdict} {o.kind} {o.mutation}: {o.detail}", file=sys.stderr)

    outcomes = fuzz(args.n, start=args.start, seed=args.seed, timeout=args.timeout, log=progress)
    result = summary(outcomes)
    result["wall_seconds"] = round(time.perf_counter() - wall, 1)
    result["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    result["command"] = " ".join(["python", "benchmarks/fuzz_bench.py", *sys.argv[1:]])
    if args.json:
        result["failed_inputs"] = [o.__dict__ for o in outcomes if o.verdict in FAILURES]
        print(json.dumps(result, indent=2))
        return
    print(f"{result['inputs']} inputs (seed {args.seed}, from {args.start}): {result['counts']}")
    print(f"failures (traceback, hang, warning-leak, silent, unclear-error): {result['failures']}")
    for kind, counts in result["by_kind"].items():
        print(f"  {kind:12s} {counts}")
    print(f"CPU {result['cpu_seconds']} s, wall {result['wall_seconds']} s")
    shown = collections.Counter()
    for o in outcomes:
        if o.verdict in FAILURES + ("rejected-valid",) and shown[o.verdict] < args.show:
            shown[o.verdict] += 1
            print(f"  [{o.index}] {o.verdict}: {o.kind} {o.mutation}: {o.detail}")


if __name__ == "__main__":
    main()
