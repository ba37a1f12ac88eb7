"""The (Mis)Fitting checklist: filled from what is recorded, unknown items shown as unknown."""

import json

import numpy as np
import pytest

from scalelab.laws import Law, fit, published, synthetic
from scalelab.report import checklist
from scalelab.runs import RunTable

TRUTH = Law("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37})
GRID = {"e": [0.5], "a": [6.0], "b": [8.0], "alpha": [0.4], "beta": [0.4]}


@pytest.fixture(scope="module")
def bare():
    table = synthetic.simulate(
        TRUTH, N=np.geomspace(2e7, 2e9, 4), D=np.geomspace(4e8, 4e11, 4), noise=0.002
    )
    return table, fit(table, grid=GRID)


def by_key(items):
    return {i["item"]: i for i in items}


def test_bare_csv_marks_unknowns(bare):
    table, law = bare
    items = by_key(checklist.build(law, table))
    for key in (
        "data_name",
        "data_size",
        "dedup",
        "tokenizer",
        "shapes",
        "optimizer",
        "schedule",
        "batch",
        "seed",
        "code_version",
        "data_sources",
    ):
        assert items[key]["status"] == "unknown" and items[key]["value"] == "unknown", key
        assert items[key]["source"].startswith("not recorded")
    for key in (
        "form",
        "fit_loss",
        "fit_optimizer",
        "init_grid",
        "fit_range",
        "param_convention",
        "flop_convention",
    ):
        assert items[key]["status"] == "known", key
    assert "Huber, delta = 0.001" in items["fit_loss"]["value"]
    assert items["init_grid"]["value"].startswith("1 starts")
    assert items["loss_definition"]["status"] == "assumed"  # a convention, said to be one
    assert "non-embedding" in items["param_convention"]["value"]
    md = checklist.to_markdown(list(items.values()))
    assert md.count("**unknown**") == sum(i["status"] == "unknown" for i in items.values())
    record = checklist.to_json(list(items.values()))
    assert record["counts"]["unknown"] >= 11 and json.dumps(record)


def test_columns_and_manifest_fill_items(bare):
    table, _ = bare
    frame = table.data.copy()
    frame["optimizer"], frame["schedule"], frame["tokens_per_step"] = "AdamW", "cosine", 262144
    frame["n_layer"], frame["d_model"], frame["n_head"], frame["n_ctx"] = 8, 512, 8, 1024
    frame["seed"], frame["code_version"], frame["loss_unit"], frame["lr"] = (
        0,
        "abc123",
        "nats/token",
        3e-3,
    )
    table = RunTable.from_frame(frame, "ladder.csv")
    law = fit(table, grid=GRID)
    manifest = {
        "name": "shakespeare-bytes",
        "data_hash": "f00d",
        "checklist": {
            "data": "shakespeare-bytes",
            "sources": ["shakespeare (train): MIT"],
            "train_tokens_after_dedup": 123456,
            "dedup": "exact + MinHash 0.8",
            "tokenizer": "bytes, vocab 256",
        },
    }
    items = by_key(checklist.build(law, table, manifest))
    assert (
        items["data_name"]["value"] == "shakespeare-bytes"
        and items["data_name"]["source"] == "data manifest"
    )
    assert items["data_size"]["value"] == "123,456"
    assert (
        items["dedup"]["value"].startswith("exact")
        and items["tokenizer"]["value"] == "bytes, vocab 256"
    )
    assert items["optimizer"]["value"] == "AdamW" and items["schedule"]["value"] == "cosine"
    assert items["batch"]["value"] == "262144"
    assert "d_model: 512" in items["shapes"]["value"] and "n_ctx: 1024" in items["shapes"]["value"]
    assert items["loss_definition"]["status"] == "known"
    assert not [i for i in items.values() if i["status"] == "unknown"]


def test_published_law_has_no_fit_record():
    items = by_key(checklist.build(published.get("chinchilla-2022")))
    assert items["fit_loss"]["status"] == "unknown" and items["init_grid"]["status"] == "unknown"
    assert items["fit_range"]["status"] == "unknown"
    assert items["param_convention"]["status"] == "known"  # Hoffmann et al. count all parameters
