"""Property-based tests (Hypothesis) of the run config and the ladder spec.

Documents are made from a valid tiny config by replacing keys of the real schema with values of
any type (huge, negative, infinite, NaN numbers, strings, lists, tables) and adding junk keys.
The property: the API (``config_from_dict`` + ``plan_run``, ``spec_from_dict`` + ``plan_ladder``)
gives a plan, or an :class:`InputError` each of whose lines names the source file; never another
exception; and it ends (a generous alarm is the bound, not a speed assertion). A few documents go
through the command line as TOML files too: exit status 0 or 2, every stderr line an ``error:``
naming the file, no traceback.

The default profile is modest (seconds); ``-m slow`` runs a larger one.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ladder_helpers import cli, ladder_dict
from train_helpers import TINY

from scalelab.cli import main
from scalelab.errors import InputError
from scalelab.ladder import plan_ladder, spec_from_dict
from scalelab.ladder.spec import LadderSpec
from scalelab.train.config import RunConfig, config_from_dict
from scalelab.train.plan import plan_run

SOURCE = "fuzz.toml"
BOUND_S = 60  # an alarm against hangs: far above the ~1 s any plan may take

FAST = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST_CLI = settings(FAST, max_examples=6)
SLOW = settings(FAST, max_examples=1500, derandomize=False)
SLOW_CLI = settings(FAST, max_examples=40, derandomize=False)


def schema_keys(model) -> list[tuple[str, ...]]:
    """(key,) for top-level settings and (section, key) for each section's keys."""
    keys = []
    for name, field in model.model_fields.items():
        if name == "base_dir":
            continue
        sub = field.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields"):
            keys += [(name, k) for k in sub.model_fields]
        keys.append((name,))
    return keys


RUN_KEYS = schema_keys(RunConfig)
LADDER_KEYS = schema_keys(LadderSpec) + [("grid", "shapes")]

EDGE_INTS = [0, 1, 2, 3, 16, 64, 256, 1000, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**70, 10**30]
EDGE_FLOATS = [0.0, 1e-300, 0.5, 1.0, 20.0, 1e6, 1e12, 1e16, 1e300, -1.0, -1e300]
scalars = st.one_of(
    st.sampled_from(EDGE_INTS),
    st.sampled_from(EDGE_INTS).map(lambda i: -i),
    st.integers(-(2**70), 2**70),
    st.sampled_from(EDGE_FLOATS),
    # no subnormals: the trainer sets torch.set_flush_denormal(True) for the whole process
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False),
    st.booleans(),
    st.sampled_from(["", "synthetic", "markov", "wsd", "cosine", "cpu", "cuda", "auto", "x y"]),
    st.text(alphabet="abc_-./ 0189é", max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(alphabet="abn_", min_size=1, max_size=6), inner, max_size=3),
    ),
    max_leaves=8,
)
plausible = st.sampled_from(
    [1, 2, 4, 8, 16, 32, 64, 100, 512, 1000, 4096, 10**5, 0.01, 0.1, 0.5, 0.9, 20.0, 3e4, 1e5, 1e6]
    + [[3e4, 1e5], [5, 20], [1e9], [10**6], [0, 1], True, False]
)
any_value = st.one_of(plausible, plausible, values)  # about half plausible: plans get exercised
junk_keys = st.text(alphabet="abcdefxyz_-09", min_size=1, max_size=10)


@st.composite
def documents(draw, base: dict, keys: list[tuple[str, ...]]) -> dict:
    """``base`` with some schema keys set to any value, some removed, a junk key added."""
    doc = json.loads(json.dumps(base))
    for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3)):
        table = doc
        if len(key) == 2:
            if not isinstance(doc.get(key[0]), dict):
                doc[key[0]] = {}
            table = doc[key[0]]
        if draw(st.integers(0, 9)) == 0:
            table.pop(key[-1], None)
        else:
            table[key[-1]] = draw(any_value)
    if draw(st.integers(0, 4)) == 0:
        section = draw(st.sampled_from([None, *[k[0] for k in keys if len(k) == 2]]))
        table = doc if section is None or not isinstance(doc.get(section), dict) else doc[section]
        table[draw(junk_keys)] = draw(values)
    return doc


def mutate(base: dict, keys: list[tuple[str, ...]]):
    return documents(base, keys)


@contextlib.contextmanager
def bounded(seconds: int = BOUND_S):
    """Fail (rather than hang) if the block runs longer than ``seconds``."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_lines(exc: InputError) -> None:
    assert exc.problems
    for line in exc.problems:
        assert line.startswith(SOURCE), line
        assert "\n" not in line and len(line) < 1000, line


def run_config_outcome(raw: dict) -> bool:
    """True if the config plans; an InputError is checked; anything else fails the test."""
    with bounded():
        try:
            plan_run(config_from_dict(raw, SOURCE), SOURCE)
        except InputError as exc:
            check_lines(exc)
            return False
    return True


def ladder_outcome(raw: dict) -> bool:
    with bounded():
        try:
            plan_ladder(spec_from_dict(raw, SOURCE), SOURCE)
        except InputError as exc:
            check_lines(exc)
            return False
    return True


@pytest.fixture(scope="module")
def outdirs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "file").write_text("x")
    return {"run": str(root / "run"), "ladder": str(root / "ladder"), "root": str(root)}


def run_base(outdirs) -> dict:
    return {**json.loads(json.dumps(TINY)), "out_dir": outdirs["run"]}


def ladder_base(outdirs) -> dict:
    return ladder_dict(out_dir=outdirs["ladder"])


# ---- the API: fast, many examples ---------------------------------------------------------------


@FAST
@given(data=st.data())
def test_run_config_plans_or_names_the_file(outdirs, data):
    run_config_outcome(data.draw(mutate(run_base(outdirs), RUN_KEYS)))


@FAST
@given(data=st.data())
def test_ladder_spec_plans_or_names_the_file(outdirs, data):
    ladder_outcome(data.draw(mutate(ladder_base(outdirs), LADDER_KEYS)))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_run_config_plans_or_names_the_file_slow(outdirs, data):
    run_config_outcome(data.draw(mutate(run_base(outdirs), RUN_KEYS)))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_ladder_spec_plans_or_names_the_file_slow(outdirs, data):
    ladder_outcome(data.draw(mutate(ladder_base(outdirs), LADDER_KEYS)))


# ---- the command line, from TOML files ---------------------------------------------------------


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return (
            "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        )
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def write_toml(path: Path, doc: dict) -> Path:
    path.write_text("\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items()) + "\n")
    return path


def run_cli(*args: str) -> tuple[int, list[str]]:
    """The CLI in this process (stdout and stderr captured): exit status and stderr lines."""
    out, err = io.StringIO(), io.StringIO()
    with bounded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


def check_cli(code: int, lines: list[str], path: Path, planned: bool) -> None:
    if planned:
        assert code == 0, lines
        return
    assert code == 2, lines
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors and all(str(path) in line for line in errors), lines


def cli_train_case(outdirs, data) -> None:
    raw = data.draw(mutate(run_base(outdirs), RUN_KEYS))
    path = write_toml(Path(outdirs["root"]) / SOURCE, raw)
    # a valid config would train: only invalid ones go through `scalelab train`
    if run_config_outcome(json.loads(json.dumps(raw))):
        return
    code, lines = run_cli("train", str(path), "--quiet")
    check_cli(code, lines, path, planned=False)
    assert not Path(outdirs["run"]).exists()


def cli_ladder_case(outdirs, data) -> None:
    raw = data.draw(mutate(ladder_base(outdirs), LADDER_KEYS))
    path = write_toml(Path(outdirs["root"]) / SOURCE, raw)
    planned = ladder_outcome(json.loads(json.dumps(raw)))
    code, lines = run_cli("ladder", "run", str(path), "--dry-run", "--json", "--flops-per-s", "1e9")
    check_cli(code, lines, path, planned)


@FAST_CLI
@given(data=st.data())
def test_train_cli_refuses_bad_configs(outdirs, data):
    cli_train_case(outdirs, data)


@FAST_CLI
@given(data=st.data())
def test_ladder_cli_dry_run(outdirs, data):
    cli_ladder_case(outdirs, data)


@pytest.mark.slow
@SLOW_CLI
@given(data=st.data())
def test_train_cli_refuses_bad_configs_slow(outdirs, data):
    cli_train_case(outdirs, data)


@pytest.mark.slow
@SLOW_CLI
@given(data=st.data())
def test_ladder_cli_dry_run_slow(outdirs, data):
    cli_ladder_case(outdirs, data)


def test_a_fuzzed_document_in_a_real_process(outdirs):
    """One bad spec through a real process: exit status 2, one line, no traceback."""
    doc = ladder_base(outdirs)
    doc["grid"] = {"sizes": [1e16, -(2**70)], "tokens_per_param": [float("inf")], "junk": 1}
    path = write_toml(Path(outdirs["root"]) / "real.toml", doc)
    r = cli("ladder", "run", str(path), "--dry-run", "--json", timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert all(line.startswith(f"error: {path}") for line in r.stderr.splitlines() if line)
