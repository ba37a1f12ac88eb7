"""Throughput measurement plumbing: peak tables, MFU arithmetic, a tiny timed run, the CLI."""

import json

import pytest

torch = pytest.importorskip("torch")

from scalelab.cli import main  # noqa: E402
from scalelab.model import GPTConfig, full_training_flops_per_token  # noqa: E402
from scalelab.train import peak as peak_mod  # noqa: E402
from scalelab.train.bench import CUDA_BF16_PEAKS, bench_model, cuda_peak, run_bench  # noqa: E402
from scalelab.train.peak import Peak, measure_peak, mfu, peak_for  # noqa: E402
from scalelab.units import quantity  # noqa: E402


def test_cuda_peaks_by_name():
    assert cuda_peak("NVIDIA H100 80GB HBM3")[0] == 989e12  # SXM
    assert cuda_peak("NVIDIA H100 PCIe")[0] == 756e12
    assert cuda_peak("NVIDIA H200")[0] == 989e12
    assert cuda_peak("NVIDIA A100-SXM4-80GB")[0] == 312e12
    assert cuda_peak("NVIDIA GH200 480GB")[0] == 989e12
    # never understate an H100's peak (MFU must never exceed 100%): every H100 name maps to >= its datasheet
    assert min(p for k, p in CUDA_BF16_PEAKS if "H100" in k) >= 756e12


def test_parse_size():
    def parse_size(text):
        return quantity(text, "--sizes")

    assert parse_size("0.1M") == 1e5 and parse_size("5M") == 5e6 and parse_size("2e6") == 2e6
    assert parse_size("1.5k") == 1500


def test_bench_model_tiny():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = GPTConfig(vocab_size=64, n_ctx=32, n_layer=1, d_model=32, n_head=2)
        r = bench_model(cfg, precision="fp32", batch_tokens=256, steps=2, warmup=1)
    finally:
        torch.set_num_threads(before)
    assert r["tokens_per_s"] > 0 and r["batch_tokens"] == 256
    assert r["flops_per_s"] == pytest.approx(r["tokens_per_s"] * full_training_flops_per_token(cfg))


def test_bench_cli(capsys, monkeypatch):
    monkeypatch.setattr(peak_mod, "PEAK_SIZES", (128, 256))  # fast; the real sizes are larger
    assert (
        main(
            [
                "bench",
                "--sizes",
                "0.03M",
                "--steps",
                "1",
                "--precision",
                "fp32",
                "--batch-tokens",
                "1024",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    (model,) = result["models"]
    assert result["peak_source"].startswith("measured") and result["peak_flops"] > 1e9
    assert 0 < model["mfu"] == pytest.approx(model["flops_per_s"] / result["peak_flops"])
    # the peak is fp32's (the run's precision), measured before and after: 2 x 2 sizes x 3 repeats
    assert result["peak"]["precision"] == "fp32" and len(result["peak"]["samples"]) == 12
    lo, hi = result["peak"]["spread"]
    assert lo <= hi == result["peak_flops"]
    assert main(["bench", "--sizes", "lots"]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert main(["bench", "--sizes", "10"]) == 2  # no shape that small
    assert "no shape within 5%" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_bench_cuda_without_gpu(capsys):
    assert main(["bench", "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def _fake_peaks(values: dict):
    """A measure_peak_fn returning ``values[precision]`` FLOP/s, recording what was asked."""
    asked = []

    def measure(device, precision, name):
        asked.append(precision)
        samples = [{"n": 64, "flops": values[precision], "flops_cpu_time": values[precision]}]
        return Peak(precision, values[precision], "fake", values[precision], None, 64, samples)

    return measure, asked


TINY = dict(sizes=[3e4], steps=1, batch_tokens=1024)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_mfu_is_against_the_peak_of_the_runs_precision(precision):
    if precision == "bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("no bf16 on this CPU")
    # peaks 1e12 (fp32) and 8e12 (bf16): the MFU must use the run's own
    measure, asked = _fake_peaks({"fp32": 1e12, "bf16": 8e12, "fp16": 2e12})
    result = run_bench(precision=precision, measure_peak_fn=measure, **TINY)
    (r,) = result["models"]
    expected = {"fp32": 1e12, "bf16": 8e12}[precision]
    assert set(asked) == {precision} and len(asked) == 2  # before and after the models
    assert result["peak_flops"] == expected and result["precision"] == precision
    assert r["mfu"] == pytest.approx(r["flops_per_s"] / expected)
    assert r["mfu_note"] is None and r["mfu"] < 1


def test_a_peak_below_the_achieved_rate_is_flagged_not_silent(capsys):
    from scalelab.cli.train import bench_lines

    measure, _ = _fake_peaks({"fp32": 1e6})  # far below any real training rate
    result = run_bench(precision="fp32", measure_peak_fn=measure, **TINY)
    (r,) = result["models"]
    assert r["mfu"] > 1 and "not a real utilisation" in r["mfu_note"]
    assert "understated" in r["mfu_cpu_time_note"]
    text = "\n".join(bench_lines(result))
    assert "(!)" in text and "above 100%" in text and "fp32 peak" in text


def test_cuda_runs_use_the_datasheet_peak_of_their_precision():
    p = peak_for("cuda", "bf16", "NVIDIA H100 PCIe")  # a table lookup: no GPU needed
    assert p.flops == 756e12 and "datasheet" in p.source and p.samples == []
    assert p.describe() == "bf16 756 TFLOP/s (datasheet dense bf16 peak for H100 PCIe)"
    assert peak_for("cuda", "fp16", "NVIDIA A100-SXM4-80GB").flops == 312e12
    with pytest.raises(ValueError, match="precision"):
        peak_for("cpu", "fp8")


def test_mfu_arithmetic_and_note():
    p = Peak("bf16", 100e9, "measured", spread=(60e9, 100e9), best_size=1024)
    assert mfu(30e9, p) == {"mfu": pytest.approx(0.3), "mfu_note": None}
    high = mfu(150e9, p)
    assert high["mfu"] == pytest.approx(1.5)
    assert "60-100 GFLOP/s" in high["mfu_note"] and "bf16 peak" in high["mfu_note"]


def test_measured_peak_is_best_of_sizes_and_repeats():
    p = measure_peak("cpu", "fp32", sizes=(32, 64), repeats=2, seconds=0.01)
    assert len(p.samples) == 4 and {s["n"] for s in p.samples} == {32, 64}
    assert p.flops == max(s["flops"] for s in p.samples) > 0
    assert p.spread[0] <= p.spread[1] == p.flops
    merged = p.merge(Peak("fp32", 1.0, "x", samples=[{"n": 8, "flops": 1e18}]))
    assert merged.flops == 1e18 and merged.best_size == 8 and len(merged.samples) == 5


def _tiny_run_config():
    from scalelab.train.config import config_from_dict

    return config_from_dict(
        {
            "run_id": "probe",
            "out_dir": "unused",
            "device": "cpu",
            "threads": 1,
            "model": {"vocab_size": 64, "n_ctx": 16, "n_layer": 1, "d_model": 32, "n_head": 1},
            "data": {"train": "synthetic", "synthetic_tokens": 20000},
            "train": {"tokens": 4096, "batch_tokens": 256},
        },
        "test",
    )


@pytest.mark.parametrize(
    ("fp32", "bf16", "chosen"),
    [(100.0, 105.0, "fp32"), (100.0, 150.0, "bf16"), (100.0, 50.0, "fp32")],
)
def test_fastest_precision_needs_a_clear_win_for_bf16(monkeypatch, fp32, bf16, chosen):
    from scalelab.train import bench

    fake = {"fp32": fp32, "bf16": bf16}
    monkeypatch.setattr(bench, "bf16_supported", lambda device: True)
    monkeypatch.setattr(
        bench,
        "bench_model",
        lambda cfg, precision, **kw: {
            "tokens_per_s": 1.0,
            "tokens_per_s_cpu_time": fake[precision],
        },
    )
    c = bench.fastest_precision(_tiny_run_config())
    assert c["precision"] == chosen and c["rates"] == fake
    assert c["line"].startswith(f"precision: {chosen} (measured") and "bf16" in c["line"]


@pytest.mark.slow  # times 2 x 10 real steps (about 2 s idle; much more on a loaded machine)
def test_demo_precision_is_measured_once_and_kept(tmp_path):
    from types import SimpleNamespace

    from scalelab.pipelines.demo_ladder import demo_precision

    plan = SimpleNamespace(
        out_dir=tmp_path / "demo", jobs=[SimpleNamespace(N=1, run_config=_tiny_run_config())]
    )
    first = demo_precision(plan)  # really timed: fp32, and bf16 where supported
    assert first["precision"] in first["rates"] and first["rates"]["fp32"] > 0
    if first["precision"] == "bf16":
        assert first["rates"]["bf16"] > 1.1 * first["rates"]["fp32"]
    kept = json.loads((tmp_path / "demo" / "precision.json").read_text())
    assert kept["precision"] == first["precision"]
    again = demo_precision(plan)
    assert again["precision"] == first["precision"] and "kept from" in again["line"]
