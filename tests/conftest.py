import sys
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True)
def _denormals_restored():
    """Training calls ``torch.set_flush_denormal(True)`` (fast on CPU) and that is process-wide
    state: restore IEEE subnormals after each test, so a later test (Hypothesis' float strategies
    refuse to run without them) does not depend on which tests ran before it."""
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(False)
