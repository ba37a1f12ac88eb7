"""``scalelab export-hf``: the exported transformers model computes scalelab's logits (random and
trained weights, every supported architecture), the tokenizer travels with it, and a variant
transformers has no exact architecture for is refused with one line, nothing written."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from scalelab.cli import main
from scalelab.errors import InputError, NumericalError
from scalelab.model import export_hf
from scalelab.model.config import GPTConfig
from scalelab.model.export_hf import export_model, target
from scalelab.model.gpt import GPT
from scalelab.train.checkpoint import load_checkpoint, save_checkpoint
from scalelab.train.config import RunConfig
from scalelab.train.plan import config_identity

TOL = 1e-4  # fp32 tolerance of the equal-logits checks (max abs difference)


@pytest.fixture
def transformers():
    return pytest.importorskip(
        "transformers",
        reason="SKIPPED LOUDLY: transformers is not installed (pip install 'scalelab[hf]'); "
        "the equal-logits tests of export-hf need it",
    )


def _random_model(seed: int = 0, **shape) -> tuple[GPTConfig, GPT]:
    """A tiny GPT with random weights, norm weights included (not the init's ones)."""
    cfg = GPTConfig(vocab_size=48, n_ctx=24, n_layer=2, d_model=32, n_head=4, **shape)
    torch.manual_seed(seed)
    model = GPT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return cfg, model.eval()


def _max_diff(ours, hf_dir, transformers, *batches: torch.Tensor) -> float:
    theirs = transformers.AutoModelForCausalLM.from_pretrained(hf_dir)
    assert not theirs.training
    with torch.no_grad():
        return max(
            float((ours(tokens) - theirs(input_ids=tokens).logits).abs().max())
            for tokens in batches
        )


SHAPES = {
    "gpt2": dict(positions="learned", mlp="gelu"),
    "gpt_neox": dict(positions="rotary", mlp="gelu"),
    "stablelm": dict(positions="rotary", mlp="swiglu"),
    "dbrx": dict(positions="rotary", mlp="swiglu", n_expert=4, top_k=2),  # mixture of experts
}

CASES = [  # every architecture, tied and untied output embeddings, MoE with top-1 and top-2
    ("gpt2", {"tie_embeddings": True}),
    ("gpt2", {"tie_embeddings": False}),
    ("gpt_neox", {"tie_embeddings": True}),
    ("stablelm", {"tie_embeddings": False}),
    ("dbrx", {"tie_embeddings": True}),
    ("dbrx", {"tie_embeddings": False, "n_expert": 3, "top_k": 1}),
]


@pytest.mark.parametrize(("kind", "extra"), CASES)
def test_random_weights_give_equal_logits(kind, extra, tmp_path, transformers):
    cfg, model = _random_model(**{**SHAPES[kind], **extra})
    result = export_model(cfg, model.state_dict(), tmp_path / "hf")
    assert result.model_type == kind == target(cfg)
    assert {"config.json", "model.safetensors"} <= set(result.files)
    config = transformers.AutoConfig.from_pretrained(tmp_path / "hf")
    assert config.model_type == kind
    written = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert written["max_position_embeddings"] == cfg.n_ctx == result.context  # the context, stated
    assert config.max_position_embeddings == cfg.n_ctx
    tied = cfg.tie_embeddings and kind != "dbrx"  # DBRX cannot tie: it gets a copy
    assert config.tie_word_embeddings is tied
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, cfg.vocab_size, (3, cfg.n_ctx), generator=gen)
    assert _max_diff(model, tmp_path / "hf", transformers, tokens, tokens[:1, :5]) < TOL
    modes = {(tmp_path / "hf" / name).stat().st_mode & 0o777 for name in result.files}
    assert len(modes) == 1  # every file as a plain write makes it (transformers' 0600 fixed)


def test_the_probe_catches_a_wrong_mapping(tmp_path, monkeypatch, transformers):
    """Were a mapping wrong (here: GPT-NeoX's per-head q/k/v order forgotten), export fails
    before writing: the probe compares logits, not shapes."""
    cfg, model = _random_model(**SHAPES["gpt_neox"])

    def wrong(body, w, cfg, put, d, h):
        right(body, w, cfg, put, d, h)
        for blk in body.layers:
            put(blk.attention.query_key_value.weight, w["blocks.0.attn.qkv.weight"])

    right = export_hf._neox
    monkeypatch.setattr(export_hf, "_neox", wrong)
    with pytest.raises(NumericalError, match="logits differ"):
        export_model(cfg, model.state_dict(), tmp_path / "hf")
    assert not (tmp_path / "hf").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary folder left either


def _checkpoint(path, step: int = 0, **model) -> GPT:
    """A checkpoint file as the trainer writes it (config + model), without training."""
    shape = {"vocab_size": 48, "n_ctx": 16, "n_layer": 1, "d_model": 16, "n_head": 2, **model}
    cfg = RunConfig.model_validate({"run_id": "x", "model": shape, "train": {"tokens": 4096}})
    gpt = GPT(GPTConfig(**{k: v for k, v in shape.items() if k in GPTConfig.__dataclass_fields__}))
    state = {"config": config_identity(cfg), "model": gpt.state_dict(), "step": step}
    save_checkpoint(path, state)
    return gpt.eval()


@pytest.mark.parametrize(
    ("model", "why"),
    [
        ({"n_expert": 4, "top_k": 2}, "mixture-of-experts model with positions = 'learned'"),
        ({"n_expert": 2, "positions": "rotary"}, "its one MoE architecture with LayerNorm (DBRX)"),
        ({"positions": "learned", "mlp": "swiglu"}, "learned positions with a SwiGLU MLP"),
    ],
)
def test_unsupported_variant_is_one_line_and_exit_2(model, why, tmp_path, capsys):
    run = tmp_path / "run"
    _checkpoint(run / "checkpoint.pt", **model)
    existing = tmp_path / "old"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    for dest in (tmp_path / "new", existing):
        capsys.readouterr()
        assert main(["export-hf", str(run), "-o", str(dest)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and why in lines[0], lines
    assert not (tmp_path / "new").exists()
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old", "run"]


def test_weights_that_do_not_fit_their_config(tmp_path, capsys):
    _checkpoint(tmp_path / "ok.pt")
    state = load_checkpoint(tmp_path / "ok.pt")
    state["config"]["model"]["d_model"] = 32  # the weights are d_model = 16
    save_checkpoint(tmp_path / "bad.pt", state)
    assert main(["export-hf", str(tmp_path / "bad.pt"), "-o", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "do not fit the shape of its config" in err[0]
    assert not (tmp_path / "hf").exists()


def test_not_a_run_and_missing_transformers_are_input_errors(tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    assert main(["export-hf", str(tmp_path / "empty"), "-o", str(tmp_path / "hf")]) == 2
    assert "no checkpoint.pt" in capsys.readouterr().err
    _checkpoint(tmp_path / "run" / "checkpoint.pt")
    for dest in (tmp_path / "run", tmp_path):  # would replace the run it reads
        assert main(["export-hf", str(tmp_path / "run"), "-o", str(dest)]) == 2
        assert "would replace" in capsys.readouterr().err
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["export-hf", str(tmp_path / "junk.pt"), "-o", str(tmp_path / "hf")]) == 2
    assert "cannot be read as a scalelab checkpoint" in capsys.readouterr().err
    _checkpoint(tmp_path / "ok.pt")
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    with pytest.raises(InputError, match=r"scalelab\[hf\]"):
        from scalelab.train.export import export_run

        export_run(tmp_path / "ok.pt", tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


# ---- trained runs, through the CLI ------------------------------------------------------------


def _prepared(tmp_path, tokenizer: dict):
    from scalelab.data.prepare import prepare
    from scalelab.data.spec import spec_from_dict

    spec = {
        "name": "syn",
        "seed": 0,
        "sources": [{"kind": "synthetic", "n_docs": 40}],
        "tokenizer": tokenizer,
        "split": {"validation": 0.1, "test": 0.1},
    }
    out = tmp_path / "data"
    prepare(spec_from_dict(spec), out)
    return out


def _train(tmp_path, model: dict, data: dict, vocab: int):
    from scalelab.train.loop import train

    cfg = RunConfig.model_validate(
        {
            "run_id": "r",
            "seed": 0,
            "threads": 1,
            "device": "cpu",
            "precision": "fp32",
            "out_dir": str(tmp_path / "run"),
            "model": {"vocab_size": vocab, "n_ctx": 32, "n_layer": 2, "d_model": 32, "n_head": 2}
            | model,
            "data": data,
            "train": {"tokens": 256 * 40, "batch_tokens": 256, "lr": 3e-3, "warmup_frac": 0.1},
            "eval": {"points": 2, "tokens": 256},
        }
    )
    summary = train(cfg)
    assert summary["status"] == "done"
    return tmp_path / "run"


def _export_and_compare(run, tmp_path, capsys, transformers, tokens: torch.Tensor) -> dict:
    capsys.readouterr()
    assert main(["export-hf", str(run), "-o", str(tmp_path / "hf"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    state = load_checkpoint(run / "checkpoint.pt")
    cfg = GPTConfig(**json.loads((tmp_path / "hf" / "scalelab.json").read_text())["model"])
    ours = GPT(cfg)
    ours.load_state_dict(state["model"])
    ours.eval()
    assert _max_diff(ours, tmp_path / "hf", transformers, tokens) < TOL
    assert result["step"] == state["step"] == 40 and result["max_abs_diff"] < TOL
    return result


def test_trained_gpt2_on_synthetic_tokens(tmp_path, capsys, transformers):
    run = _train(tmp_path, {}, {"train": "synthetic", "synthetic_tokens": 20000}, vocab=64)
    tokens = torch.randint(0, 64, (4, 32), generator=torch.Generator().manual_seed(2))
    result = _export_and_compare(run, tmp_path, capsys, transformers, tokens)
    assert result["architecture"] == "GPT2LMHeadModel" and result["tokenizer"] is None
    assert any("synthetic" in note for note in result["notes"])


@pytest.mark.parametrize(
    ("model", "tokenizer", "arch"),
    [
        ({"positions": "rotary", "mlp": "swiglu"}, {"kind": "bytes"}, "StableLmForCausalLM"),
        ({"positions": "rotary"}, {"kind": "bpe", "vocab_size": 300}, "GPTNeoXForCausalLM"),
    ],
)
def test_trained_rotary_runs_with_their_tokenizer(
    model, tokenizer, arch, tmp_path, capsys, transformers
):
    from scalelab.data.loader import TokenData

    data = _prepared(tmp_path, tokenizer)
    ours_tok = TokenData.open(data).tokenizer()
    vocab = ours_tok.vocab_size
    split = {"train": str(data / "train.bin"), "eval": {"validation": str(data / "validation.bin")}}
    run = _train(tmp_path, model, split, vocab=vocab)
    held_out = np.fromfile(data / "validation.bin", dtype=np.uint16)[: 3 * 32].astype(np.int64)
    result = _export_and_compare(
        run, tmp_path, capsys, transformers, torch.from_numpy(held_out).view(3, 32)
    )
    assert result["architecture"] == arch and "tokenizer.json" in result["files"]
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    text = "The quick brown fox, 42 times: naïve café.\nA second line."
    assert hf_tok(text)["input_ids"] == ours_tok.encode(text).tolist()
    assert hf_tok.eos_token_id == ours_tok.eot_id
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["eos_token_id"] == ours_tok.eot_id and config["vocab_size"] == vocab
    if tokenizer["kind"] == "bpe":  # a data folder changed since: the model, and a note
        (data / "tokenizer.json").write_text("{}")
        assert main(["export-hf", str(run), "-o", str(tmp_path / "hf2"), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["tokenizer"] is None and "tokenizer.json" not in result["files"]
        assert any(n.startswith("no tokenizer written: ") for n in result["notes"])


def test_every_checkpoint_of_a_ladder(tmp_path, capsys, transformers):
    ladder = tmp_path / "ladder"
    models = {
        "a": _checkpoint(ladder / "runs" / "a" / "checkpoint.pt", step=7),
        "b": _checkpoint(ladder / "runs" / "b" / "checkpoint.pt", step=9, **SHAPES["stablelm"]),
    }
    (ladder / "runs" / "c").mkdir()  # a run without a checkpoint (keep_final = false)
    assert main(["export-hf", str(ladder), "--all", "-o", str(tmp_path / "hf"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["architecture"] for r in result["runs"]] == ["GPT2LMHeadModel", "StableLmForCausalLM"]
    assert [r["step"] for r in result["runs"]] == [7, 9] and result["skipped"] == ["c"]
    assert sorted(p.name for p in (tmp_path / "hf").iterdir()) == ["a", "b"]
    tokens = torch.randint(0, 48, (2, 16), generator=torch.Generator().manual_seed(3))
    for run_id, model in models.items():
        assert _max_diff(model, tmp_path / "hf" / run_id, transformers, tokens) < TOL


def test_a_ladder_with_an_unsupported_run_writes_nothing(tmp_path, capsys):
    ladder = tmp_path / "ladder"
    _checkpoint(ladder / "runs" / "dense" / "checkpoint.pt")
    _checkpoint(ladder / "runs" / "moe" / "checkpoint.pt", n_expert=2, top_k=1)
    assert main(["export-hf", str(ladder), "--all", "-o", str(tmp_path / "hf")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: run moe: cannot export a mixture")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ladder"]
    assert main(["export-hf", str(ladder / "runs"), "--all", "-o", str(tmp_path / "hf")]) == 2
    assert "not a ladder folder" in capsys.readouterr().err
    assert main(["export-hf", str(ladder), "-o", str(tmp_path / "hf")]) == 2  # without --all
    assert "add --all" in capsys.readouterr().err
