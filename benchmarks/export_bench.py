"""export-hf benchmark (not a test): `python benchmarks/export_bench.py [--sizes 0.1M,1M,5M]`.

For each supported architecture (GPT-2: learned + GELU; GPT-NeoX: rotary + GELU; StableLM:
rotary + SwiGLU) and each size (~N non-embedding parameters by the shape rule, vocab 4096, context
256, random weights): the wall time of ``export_model`` (mapping, probe, writing; after a warm-up
export, which imports transformers' model code), the size of model.safetensors, and the largest
logit difference between the reloaded transformers model and scalelab's on a full batch of
4 × 256 tokens (fp32). Prints one line per (architecture, size) and writes
``out/export_bench.json``. On a shared machine the times are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab.model.config import GPTConfig  # noqa: E402
from scalelab.model.export_hf import export_model  # noqa: E402
from scalelab.model.gpt import GPT  # noqa: E402
from scalelab.model.shapes import shape_for  # noqa: E402
from scalelab.units import quantity  # noqa: E402

ARCHS = {
    "gpt2": dict(positions="learned", mlp="gelu"),
    "gpt_neox": dict(positions="rotary", mlp="gelu"),
    "stablelm": dict(positions="rotary", mlp="swiglu"),
}


def one(kind: str, n: float, root: Path) -> dict:
    from transformers import AutoModelForCausalLM

    cfg = shape_for(n, GPTConfig(vocab_size=4096, n_ctx=256, **ARCHS[kind]))
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    t0 = time.perf_counter()
    result = export_model(cfg, model.state_dict(), root / f"{kind}-{n:g}")
    took = time.perf_counter() - t0
    hf = AutoModelForCausalLM.from_pretrained(result.out_dir)
    tokens = torch.randint(
        0, cfg.vocab_size, (4, cfg.n_ctx), generator=torch.Generator().manual_seed(1)
    )
    with torch.no_grad():
        diff = float((hf(input_ids=tokens).logits - model(tokens)).abs().max())
    size = (Path(result.out_dir) / "model.safetensors").stat().st_size
    return {
        "architecture": result.architecture,
        "N_target": n,
        "shape": f"{cfg.n_layer}x{cfg.d_model}, {cfg.n_head} heads",
        "n_params": result.n_params,
        "export_s": round(took, 3),
        "safetensors_MB": round(size / 1e6, 2),
        "max_abs_logit_diff_4x256": diff,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="0.1M,1M,5M")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one("gpt2", 1e5, Path(tmp))  # warm-up: the first export imports transformers' model code
        for kind in ARCHS:
            for n in (quantity(s, "--sizes") for s in args.sizes.split(",")):
                row = one(kind, n, Path(tmp))
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = Path("out") / "export_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {"transformers": transformers.__version__, "torch": torch.__version__, "rows": rows}
    out.write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
