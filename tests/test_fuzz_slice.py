"""A seeded slice of the input-boundary fuzz (``benchmarks/fuzz_bench.py``): malformed run tables,
law files, TOML specs, lm-evaluation-harness results and option values through the command line
give no traceback, no hang, no leaked Python warning and no silent acceptance. The benchmark runs
1,000 inputs; this slice runs 50 of them (a few seconds)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz_bench.py"


def _bench():
    spec = importlib.util.spec_from_file_location("fuzz_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_bench", module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules["fuzz_bench"])
    module = sys.modules["fuzz_bench"]
    return module


def test_a_seeded_slice_of_the_fuzz_finds_nothing():
    bench = _bench()
    outcomes = bench.fuzz(50, start=0, seed=0, timeout=60.0)
    found = [o for o in outcomes if o.verdict in bench.FAILURES]
    assert not found, [(o.index, o.verdict, o.mutation, o.detail) for o in found]
    counts = bench.summary(outcomes)["counts"]
    assert counts.get("clear-error", 0) >= 25  # most inputs are malformed by construction
    assert counts.get("ok", 0) >= 3  # and the valid controls pass


def test_the_classifier_can_fail():
    """A silent acceptance, a traceback and a leaked warning are each caught."""
    bench = _bench()
    case = bench.Case("table", "bad", ["fit"], {}, invalid=True)
    assert bench.classify(case, 0, "{}", "", None, [])[0] == "silent"
    assert bench.classify(case, None, "", "", "Traceback ...\nKeyError: 'x'", [])[0] == "traceback"
    leak = "x.py:3: RuntimeWarning: overflow\n  y = np.exp(x)"
    assert bench.classify(case, 2, "", leak, None, [])[0] == "warning-leak"
    assert bench.classify(case, 2, "", "error: runs.csv: bad\n", None, [])[0] == "clear-error"
