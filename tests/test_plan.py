"""Planning: budgets, device peaks, the converse, closed-form plans, inference-aware and
data-constrained plans, the catalog, and the CLI's one-line errors (exit 2)."""

import json

import numpy as np
import pytest

from scalelab.cli import main
from scalelab.errors import InputError
from scalelab.laws import Law, published
from scalelab.plan import budget, catalog, devices, planner
from scalelab.plan.constrained import effective_tokens
from scalelab.plan.inference import inference_optimal, tokens_for_loss


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


# -- devices and budgets -------------------------------------------------------------------------
def test_device_table_has_sources_and_dense_peaks():
    for name in ("A100", "H100", "H200", "B200"):
        d = devices.get(name)
        assert d.source and d.peak_flops > 1e14
    assert devices.get("a100").peak_flops == 312e12
    assert devices.get("H100").peak_flops == pytest.approx(989.4e12)
    assert devices.get("B200").peak_flops == 2.25e15
    with pytest.raises(InputError, match="unknown device"):
        devices.get("Z100")


def test_budget_three_ways_agree():
    by_time = budget.resolve(gpus=8, hours=100, device="A100", mfu=0.5)
    assert by_time.C == pytest.approx(8 * 100 * 3600 * 312e12 * 0.5)
    by_money = budget.resolve(money=1600, price=2.0, device="A100", mfu=0.5, gpus=8)
    assert by_money.C == pytest.approx(by_time.C) and by_money.wall_hours == pytest.approx(100)
    by_flops = budget.resolve(flops=by_time.C, device="A100", mfu=0.5, gpus=8, price=2.0)
    assert by_flops.gpu_hours == pytest.approx(800) and by_flops.cost == pytest.approx(1600)
    assert budget.resolve(gpus=1, days=1, device="H100").mfu == 0.4  # default MFU, noted
    assert budget.resolve(gpus=1, days=1, device="H100").notes


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(flops=-1e21), "flops: expected a positive number"),
        (dict(), "no budget"),
        (dict(gpus=8, hours=10), "needs --device"),
        (dict(hours=10, device="H100"), "needs --gpus"),
        (dict(gpus=8, hours=10, device="Z100"), "unknown device"),
        (dict(money=100, device="H100"), "needs --price"),
        (dict(flops=1e21, money=5, price=1, device="H100"), "give one budget"),
        (dict(gpus=8, days=1, device="H100", mfu=1.5), "above 100% is impossible"),
    ],
)
def test_budget_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        budget.resolve(**kwargs)


def test_converse_reproduces_hand_computed_flops_and_days():
    # Seed 000: 27B parameters on 14T tokens on 1,000 H100s at 40% MFU.
    c = budget.converse(27e9, 14e12, device="H100", mfu=0.4, gpus=1000, price=2.0, claimed_days=26)
    C = 6 * 27e9 * 14e12
    assert C == pytest.approx(2.268e24)
    assert c.C == pytest.approx(C)
    seconds = C / (1000 * 989.4e12 * 0.4)
    assert c.wall_days == pytest.approx(seconds / 86400) and c.wall_days == pytest.approx(
        66.33, abs=0.01
    )
    assert c.gpu_hours == pytest.approx(seconds * 1000 / 3600)
    assert c.cost == pytest.approx(2.0 * c.gpu_hours)
    # the seed's "26 days on 1,000 GPUs" would need more than the device's peak
    assert (
        c.required_mfu == pytest.approx(C / (1000 * 989.4e12 * 26 * 86400)) and c.required_mfu > 1.0
    )
    assert any("impossible claim" in f for f in c.flags)
    ok = budget.converse(27e9, 14e12, device="H100", mfu=0.4, gpus=1000, claimed_days=70)
    assert not any("impossible" in f for f in ok.flags)


# -- plans from a law ------------------------------------------------------------------------------
@pytest.mark.parametrize("C", [1e21, 5.76e23])
def test_chinchilla_plan_matches_closed_form_by_hand(C):
    E, A, B, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
    a, b = beta / (alpha + beta), alpha / (alpha + beta)
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    N = G * (C / 6) ** a
    D = (C / 6) ** b / G
    loss = E + A / N**alpha + B / D**beta
    p = planner.make_plan(published.get("chinchilla-2022"), budget.resolve(flops=C))
    r = p["recommended"]
    assert r["N"] == pytest.approx(N, rel=1e-9) and r["D"] == pytest.approx(D, rel=1e-9)
    assert r["tokens_per_param"] == pytest.approx(D / N, rel=1e-9) and r["loss"] == pytest.approx(
        loss, rel=1e-9
    )
    assert 6 * r["N"] * r["D"] == pytest.approx(C)


def test_plan_interval_from_a_fitted_law():
    law = published.get("chinchilla-2022")
    rng = np.random.default_rng(0)
    law.samples = law.theta[None, :] + 0.01 * rng.standard_normal((50, 5))
    r = planner.make_plan(law, budget.resolve(flops=1e22))["recommended"]
    lo, hi = r["loss_interval"]
    assert lo < r["loss"] < hi and r["level"] == 0.95


def test_inference_aware_plan_is_smaller_and_cheaper_over_its_life():
    law = published.get("besiroglu-2024")
    C = 1e23
    none = inference_optimal(law, 0.0, C=C)
    opt = law.optimal(C)
    assert none.N == pytest.approx(opt.N_opt, rel=1e-4) and none.D_train == pytest.approx(
        opt.D_opt, rel=1e-4
    )
    heavy = inference_optimal(law, 1e14, C=C)
    assert heavy.N < opt.N_opt and heavy.D_train > opt.D_opt
    assert float(law.predict(N=heavy.N, D=heavy.D_train)) == pytest.approx(opt.loss, rel=1e-9)
    assert heavy.total_flops < heavy.chinchilla_total_flops and 0 < heavy.saving < 1
    # the minimum: lifetime FLOPs rise on both sides
    for f in (0.9, 1.1):
        N = heavy.N * f
        D = tokens_for_loss(law, np.array([N]), heavy.target_loss)[0]
        assert 6 * N * D + 2 * N * 1e14 > heavy.total_flops


def test_data_constrained_plan():
    assert effective_tokens(5e9, 1e10) == 5e9
    U = 1e10
    assert effective_tokens(2 * U, U) == pytest.approx(U + U * 15.4 * (1 - np.exp(-1 / 15.4)))
    assert effective_tokens(1e30, U) == pytest.approx(U * (1 + 15.4))
    law = published.get("besiroglu-2024")
    p = planner.make_plan(law, budget.resolve(flops=1e23), unique_tokens=5e10)
    dc = p["data_constrained"]
    assert dc["epochs"] > 1 and dc["D_effective"] < dc["D"]
    assert (
        dc["loss"] > dc["unconstrained_loss"] and dc["N"] > dc["unconstrained_N"]
    )  # scarce data: bigger model
    plenty = planner.make_plan(law, budget.resolve(flops=1e23), unique_tokens=1e15)[
        "data_constrained"
    ]
    assert plenty["N"] == pytest.approx(plenty["unconstrained_N"], rel=1e-3)


# -- catalog -------------------------------------------------------------------------------------------
CITED = {  # name: (parameters used for compute, tokens) as the cited sources print them
    "BERT-base": (110e6, 128e9),
    "RoBERTa-large": (355e6, 2.1e12),
    "GPT-3": (175e9, 300e9),
    "Gopher": (280e9, 300e9),
    "Chinchilla": (70e9, 1.4e12),
    "PanGu-Σ": (1.085e12, 329e9),
    "Gemma 3 27B": (27e9, 14e12),
    "Qwen3 32B": (32.8e9, 36e12),
    "Kimi K2": (32e9, 15.5e12),
    "Llama 4 Behemoth": (288e9, 30e12),
    "DeepSeek-V3": (37e9, 14.8e12),
    "Llama 3 405B": (405e9, 15.6e12),
}


def test_catalog_tokens_per_param_match_cited_figures():
    for name, (n, d) in CITED.items():
        m = catalog.get(name)
        assert m.tokens_per_param == pytest.approx(d / n), name
        assert m.citations.get("params") and m.citations.get("tokens"), name
    assert catalog.get("Chinchilla").tokens_per_param == pytest.approx(20.0)
    assert catalog.get("Kimi K2").moe and catalog.get("Kimi K2").params == 1.04e12
    gpt3 = catalog.get("GPT-3")
    assert gpt3.flops == pytest.approx(
        gpt3.reported_flops, rel=0.01
    )  # 6ND vs Brown et al.'s 3.14e23
    seed_models = {
        "BERT-base",
        "BERT-large",
        "RoBERTa-base",
        "RoBERTa-large",
        "GPT-3",
        "Gopher",
        "Chinchilla",
        "PanGu-Σ",
        "Gemma 3 27B",
        "Qwen3 32B",
        "Kimi K2",
        "Llama 4 Behemoth",
        "DeepSeek-V3",
        "Llama 3 405B",
    }
    assert seed_models <= set(catalog.names())


def test_catalog_distance_from_frontier():
    law = published.get("besiroglu-2024")
    rows = {r["name"]: r["frontier"] for r in catalog.table(law)}
    assert rows["GPT-3"]["verdict"].startswith("under-trained")
    assert rows["Gemma 3 27B"]["verdict"].startswith("over-trained")
    assert (
        0.8 < rows["Chinchilla"]["ratio"] < 1.25
    )  # Chinchilla is (near) compute-optimal under this law
    f = rows["Qwen3 32B"]
    assert f["ratio"] == pytest.approx(
        catalog.get("Qwen3 32B").tokens_per_param / f["optimal_tokens_per_param"]
    )
    assert f["excess_loss"] > 0


# -- CLI -------------------------------------------------------------------------------------------------
def test_cli_plan_json(capsys):
    r = run_json(
        capsys,
        [
            "plan",
            "--law",
            "chinchilla-2022",
            "--gpus",
            "1000",
            "--days",
            "30",
            "--device",
            "H100",
            "--mfu",
            "0.4",
            "--price",
            "2",
            "--json",
        ],
    )
    C = 1000 * 30 * 86400 * 989.4e12 * 0.4
    assert r["budget"]["C"] == pytest.approx(C)
    rec = r["recommended"]
    assert rec["wall_days"] == pytest.approx(30) and rec["cost"] == pytest.approx(
        2 * 1000 * 30 * 24
    )
    assert rec["N"] == pytest.approx(published.get("chinchilla-2022").optimal(C).N_opt)
    r = run_json(
        capsys,
        [
            "plan",
            "--law",
            "chinchilla-2022",
            "--flops",
            "1e22",
            "--inference-tokens",
            "1e13",
            "--json",
        ],
    )
    assert (
        r["recommended"]["kind"].startswith("inference-aware")
        and r["inference_aware"]["saving"] > 0
    )
    r = run_json(
        capsys,
        ["plan", "--law", "chinchilla-2022", "--flops", "1e22", "--unique-tokens", "20B", "--json"],
    )
    assert r["data_constrained"]["unique_tokens"] == 2e10


def test_cli_converse_flags_impossible_mfu(capsys):
    assert (
        main(
            [
                "plan",
                "--N",
                "27B",
                "--D",
                "14T",
                "--gpus",
                "1000",
                "--device",
                "H100",
                "--mfu",
                "0.4",
                "--claim-days",
                "26",
                "--json",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert r["C"] == pytest.approx(2.268e24) and r["wall_days"] == pytest.approx(66.33, abs=0.01)
    assert r["required_mfu"] > 1 and any("impossible claim" in f for f in r["flags"])
    assert "impossible claim" in captured.err


def test_cli_devices_json(capsys):
    table = {d["name"]: d for d in run_json(capsys, ["devices", "--json"])}
    assert {"A100", "H100", "H200", "B200"} <= set(table) and all(
        d["source"] for d in table.values()
    )


def test_cli_catalog_json(capsys):
    r = run_json(capsys, ["catalog", "--law", "chinchilla-2022", "--json"])
    assert r["law"] == "chinchilla-2022" and len(r["models"]) >= 14
    assert all(m["citations"]["tokens"] for m in r["models"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["plan", "--law", "chinchilla-2022", "--flops", "-1e21"],
            "flops: expected a positive number",
        ),
        (["plan", "--law", "chinchilla-2022", "--gpus", "8", "--device", "H100"], "no budget"),
        (
            ["plan", "--law", "chinchilla-2022", "--gpus", "8", "--days", "3", "--device", "Z100"],
            "unknown device",
        ),
        (
            ["plan", "--law", "chinchilla-2022", "--gpus", "-8", "--days", "3", "--device", "H100"],
            "gpus: expected a positive",
        ),
        (["plan", "--law", "chinchilla-2022", "--flops", "abc"], "--flops: expected a number"),
        (["plan", "--law", "kaplan-2020-n", "--flops", "1e21"], "needs a law in N and D"),
        (["plan", "--N", "27B", "--gpus", "8", "--device", "H100"], "tokens: missing"),
        (["plan", "--flops", "1e21"], "--law"),
    ],
)
def test_cli_plan_errors_one_line_exit_2(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], captured.err
    assert captured.out == ""


def test_cli_plan_law_file_of_wrong_form(tmp_path, capsys):
    path = tmp_path / "law.json"
    published.get("kaplan-2020-c").save(path)
    assert main(["plan", "--law", str(path), "--flops", "1e21"]) == 2
    assert "needs a law in N and D" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"form": "no-such-form", "params": {}}))
    assert main(["plan", "--law", str(bad), "--flops", "1e21"]) == 2
    assert "unknown form" in capsys.readouterr().err
    law = Law("chinchilla", {"E": 1.8, "A": 400.0, "B": 400.0, "alpha": 0.3})  # a parameter missing
    bad.write_text(json.dumps({"form": law.form, "params": law.params}))
    assert main(["plan", "--law", str(bad), "--flops", "1e21"]) == 2
    assert "lacks parameter" in capsys.readouterr().err
