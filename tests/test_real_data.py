"""Fits on real published runs (../shared/data) give sensible laws."""

import numpy as np
import pandas as pd
import pytest

from scalelab import examples
from scalelab.laws import fit, isoflop, published
from scalelab.runs import RunTable


@pytest.fixture
def chinchilla_runs(shared_data):
    """Epoch AI's reconstruction of Chinchilla's Fig. 4, prepared as its README describes."""
    frame = pd.read_csv(shared_data / "chinchilla_epoch" / "svg_extracted_data.csv")
    frame = frame[frame["loss"] < np.sort(frame["loss"])[-5]]  # drop the 5 highest losses
    return RunTable.from_frame(
        frame, "chinchilla_epoch", columns={"N": "Model Size", "C": "Training FLOP"}
    )


def test_chinchilla_fit_is_sensible(chinchilla_runs):
    law = fit(chinchilla_runs, "chinchilla", bootstrap=200)
    assert len(chinchilla_runs) == 240
    p = law.params
    assert 0.2 < p["alpha"] < 0.5 and 0.2 < p["beta"] < 0.5
    assert 1.5 < p["E"] < 2.2
    assert 10 < law.optimal(5.76e23).tokens_per_param < 40
    # Besiroglu et al.'s replication of the same fit lies inside our intervals
    for name, value in published.get("besiroglu-2024").params.items():
        lo, hi = law.ci[name]
        assert lo <= value <= hi, (name, value, lo, hi)
    assert law.starts["converged_to_best"] > 100 and not law.warnings


@pytest.mark.parametrize("config", sorted(examples.load("porian2024").data["config"].unique()))
def test_porian_isoflop_exponents(config):
    table = examples.load("porian2024").where(config=config)
    result = isoflop.isoflop_profiles(table, bootstrap=0)
    assert 0.45 < result.a < 0.9, (config, result.a)
