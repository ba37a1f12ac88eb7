"""Throughput measurement plumbing: peak tables, MFU arithmetic, a tiny timed run, the CLI."""

import json

import pytest

torch = pytest.importorskip("torch")

from scalelab.cli import main  # noqa: E402
from scalelab.model import GPTConfig, full_training_flops_per_token  # noqa: E402
from scalelab.train.bench import CUDA_BF16_PEAKS, bench_model, cuda_peak  # noqa: E402
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


def test_bench_cli(capsys):
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
    assert main(["bench", "--sizes", "lots"]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert main(["bench", "--sizes", "10"]) == 2  # no shape that small
    assert "no shape within 5%" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_bench_cuda_without_gpu(capsys):
    assert main(["bench", "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
