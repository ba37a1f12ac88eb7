"""A law saves to JSON and loads back identical, intervals included."""

import json

import numpy as np
import pytest

from scalelab.errors import InputError
from scalelab.laws import Law, fit, synthetic


def test_save_load_round_trip(tmp_path):
    truth = Law("chinchilla-tied", {"E": 1.9, "A": 500.0, "B": 1500.0, "alpha": 0.33})
    table = synthetic.simulate(
        truth, N=np.geomspace(2e7, 2e9, 5), D=np.geomspace(4e8, 4e11, 5), noise=0.005
    )
    law = fit(table, "chinchilla-tied", bootstrap=50)
    path = law.save(tmp_path / "law.json")
    back = Law.load(path)
    assert back.params == law.params and back.ci == law.ci and back.options == law.options
    np.testing.assert_array_equal(back.samples, law.samples)
    assert back.interval(N=1e9, D=1e10) == law.interval(N=1e9, D=1e10)
    assert back.optimal(1e22).to_dict() == law.optimal(1e22).to_dict()
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind


def test_bad_law_files(tmp_path):
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        Law.load(tmp_path / "junk.json")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="not a scalelab law"):
        Law.load(tmp_path / "other.json")
    (tmp_path / "wrong.json").write_text(json.dumps({"form": "chinchilla", "params": {"E": 1.0}}))
    with pytest.raises(InputError, match="lacks parameter"):
        Law.load(tmp_path / "wrong.json")
    with pytest.raises(InputError, match="no such law file"):
        Law.load(tmp_path / "missing.json")


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from scalelab import atomic

    mask = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        with atomic.atomic_dir(tmp_path / "d") as d:
            (d / "f").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644  # not mkstemp's 0600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
