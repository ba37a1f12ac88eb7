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
