import os
import sys
from pathlib import Path

import pytest

# pytest-xdist's workers set COLUMNS=80, which the CLI's tables honour ("COLUMNS wins"); the tests
# print into a pipe as a user's script would, with no width of its own. Before any CLI import.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The published run data beside the checkout (../shared/data); tests that need it skip loudly without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"SKIPPED LOUDLY: {SHARED_DATA} not found (the shared data set sits beside the checkout in CI)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_docs(tmp_path_factory) -> Path:
    """The synthetic document language, 200 documents, bytes tokenizer, prepared once per session
    (task-set generation, batched task scoring, a ladder evaluating tasks): read it, never write."""
    from task_helpers import synthetic_corpus

    return synthetic_corpus(tmp_path_factory.mktemp("synthetic-docs"), docs=200)


@pytest.fixture(scope="session")
def tiny_ladder(tmp_path_factory):
    """The tiny ladder of ``ladder_helpers`` (2 sizes x 2 budgets, WSD: 2 jobs, 4 points), trained
    once per session by ``scalelab ladder run`` in a subprocess, as a user runs it: (spec file,
    ladder folder, the finished process). Tests read it (a rerun that finds nothing to do is a
    read); a test that would change it makes its own ladder."""
    from ladder_helpers import cli, ladder_dict, write_spec

    tmp = tmp_path_factory.mktemp("tiny-ladder")
    spec = write_spec(tmp / "l.toml", ladder_dict(out_dir=str(tmp / "lad")))
    return spec, tmp / "lad", cli("ladder", "run", str(spec), "--quiet")


@pytest.fixture(autouse=True)
def _denormals_restored():
    """Training calls ``torch.set_flush_denormal(True)`` (fast on CPU) and that is process-wide
    state: restore IEEE subnormals after each test, so a later test (Hypothesis' float strategies
    refuse to run without them) does not depend on which tests ran before it."""
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(False)
