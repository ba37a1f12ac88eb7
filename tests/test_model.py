"""The model and its counting: analytic counts = real numel(), hand-computed shapes, FLOPs, shapes rule."""

import math

import pytest

torch = pytest.importorskip("torch")

from scalelab.model import (
    GPT,
    GPTConfig,
    count_params,
    counts_from_model,
    forward_flops_per_token,  # noqa: E402
    full_training_flops_per_token,
    kaplan_approx,
    shape_family,
    shape_for,
    training_flops,
    training_flops_per_token,
)

CONFIGS = [
    GPTConfig(),
    GPTConfig(
        vocab_size=100,
        n_ctx=32,
        n_layer=3,
        d_model=48,
        n_head=3,
        mlp="swiglu",
        positions="rotary",
        tie_embeddings=False,
    ),
    GPTConfig(vocab_size=64, n_ctx=16, n_layer=2, d_model=32, n_head=2, n_expert=4, top_k=1),
    GPTConfig(
        vocab_size=64,
        n_ctx=16,
        n_layer=2,
        d_model=32,
        n_head=4,
        d_ff=80,
        mlp="swiglu",
        n_expert=3,
        top_k=2,
        tie_embeddings=False,
    ),
]


@pytest.mark.parametrize(
    "cfg", CONFIGS, ids=lambda c: f"{c.mlp}-{c.positions}-tied{c.tie_embeddings}-E{c.n_expert}"
)
def test_analytic_counts_equal_numel(cfg):
    model = GPT(cfg)
    real = counts_from_model(model)
    assert count_params(cfg) == real
    assert real.total == sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def test_hand_computed_shape_gpt2_small():
    # GPT-2 small geometry (no biases, weight-only LayerNorm): L=12, d=768, ctx=1024, V=50257, tied.
    cfg = GPTConfig(vocab_size=50257, n_ctx=1024, n_layer=12, d_model=768, n_head=12)
    c = count_params(cfg)
    per_layer = 4 * 768 * 768 + 2 * 768 * 3072 + 2 * 768  # attention + MLP + two norms
    assert per_layer == 7_079_424
    assert c.non_embedding == 12 * per_layer + 768 == 84_953_856
    assert c.embedding == 50257 * 768 + 1024 * 768 == 39_383_808
    assert c.head == 0
    assert c.total == 124_337_664
    assert (
        kaplan_approx(12, 768) == 12 * 12 * 768**2 == 84_934_656
    )  # Kaplan's 12·L·d² ignores the norms
    assert forward_flops_per_token(cfg) == 2 * 84_953_856 + 2 * 12 * 1024 * 768
    assert training_flops_per_token(cfg) == 3 * forward_flops_per_token(cfg)
    assert full_training_flops_per_token(cfg) == training_flops_per_token(cfg) + 6 * 50257 * 768
    assert training_flops(c.non_embedding, 1e9) == 6 * 84_953_856 * 1e9


def test_hand_computed_shape_moe_swiglu_untied():
    # L=2, d=64, ctx 32, V 1000, SwiGLU d_ff=128, 8 experts top-2, rotary, untied head.
    cfg = GPTConfig(
        vocab_size=1000,
        n_ctx=32,
        n_layer=2,
        d_model=64,
        n_head=4,
        d_ff=128,
        mlp="swiglu",
        positions="rotary",
        tie_embeddings=False,
        n_expert=8,
        top_k=2,
    )
    c = count_params(cfg)
    expert = 3 * 64 * 128  # 24,576
    attn_norms = 4 * 64 * 64 + 2 * 64  # 16,512
    router = 64 * 8
    assert c.non_embedding == 2 * (attn_norms + 8 * expert + router) + 64 == 427_328
    assert c.active_non_embedding == 2 * (attn_norms + 2 * expert + router) + 64 == 132_416
    assert c.embedding == 64_000 and c.head == 64_000
    assert c.total == 427_328 + 128_000
    assert (
        forward_flops_per_token(cfg) == 2 * 132_416 + 2 * 2 * 32 * 64
    )  # MoE FLOPs use active params
    assert counts_from_model(GPT(cfg)) == c


def test_forward_is_causal_and_loss_near_log_vocab():
    torch.manual_seed(0)
    for positions in ("learned", "rotary"):
        cfg = GPTConfig(
            vocab_size=50, n_ctx=16, n_layer=2, d_model=32, n_head=4, positions=positions
        )
        model = GPT(cfg).eval()
        x = torch.randint(0, 50, (2, 16))
        y = x.clone()
        y[:, 10:] = (y[:, 10:] + 1) % 50
        with torch.no_grad():
            a, b = model(x), model(y)
            _, loss = model(x, torch.randint(0, 50, (2, 16)))
        assert a.shape == (2, 16, 50)
        assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)
        assert not torch.allclose(a[:, 10:], b[:, 10:])
        assert abs(loss.item() - math.log(50)) < 0.3  # small init: near-uniform predictions


def test_init_scales_residual_projections():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=64, n_ctx=16, n_layer=8, d_model=256, n_head=4)
    model = GPT(cfg)
    assert abs(model.blocks[0].attn.qkv.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].mlp.proj.weight.std().item() - 0.02 / 4) < 0.0005  # 0.02/sqrt(2*8)
    assert torch.all(model.blocks[0].norm1.weight == 1)
    assert GPT(GPTConfig(tie_embeddings=True)).lm_head.weight is not None


def test_moe_routes_and_backprops():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=32, n_ctx=8, n_layer=1, d_model=32, n_head=2, n_expert=4, top_k=2)
    model = GPT(cfg)
    x = torch.randint(0, 32, (4, 8))
    _, loss = model(x, x)
    (loss + 0.01 * model.aux_loss()).backward()
    grads = [e.fc.weight.grad for e in model.blocks[0].mlp.experts]
    assert sum(g is not None and g.abs().sum() > 0 for g in grads) >= 2
    assert model.blocks[0].mlp.router.weight.grad.abs().sum() > 0
    assert (
        model.aux_loss().item() >= 1.0 - 1e-6
    )  # n_expert·Σ f·p >= 1 (equality at perfect balance)


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(d_model=66, n_head=4)
    with pytest.raises(ValueError, match="top_k"):
        GPTConfig(n_expert=2, top_k=3)


@pytest.mark.parametrize("target", [1e5, 3e5, 1e6, 5e6, 2e7, 1.24e8])
def test_shape_rule_lands_within_five_percent(target):
    cfg = shape_for(target, GPTConfig(vocab_size=4096, n_ctx=256))
    n = count_params(cfg).non_embedding
    assert abs(n / target - 1) <= 0.05
    assert cfg.d_model % cfg.n_head == 0 and cfg.n_layer >= 2
    assert 16 <= cfg.d_model / cfg.n_layer <= 256  # a sensible aspect ratio


def test_shape_rule_swiglu_and_aspect():
    deep = shape_for(5e6, GPTConfig(mlp="swiglu"), aspect=32)
    wide = shape_for(5e6, GPTConfig(mlp="swiglu"), aspect=128)
    assert deep.n_layer > wide.n_layer
    for cfg in (deep, wide):
        assert abs(count_params(cfg).non_embedding / 5e6 - 1) <= 0.05


def test_fixed_n_family():
    family = shape_family(5e6, n_layers=(2, 4, 8, 16))
    assert [c.n_layer for c in family] == [2, 4, 8, 16]
    widths = [c.d_model for c in family]
    assert widths == sorted(widths, reverse=True)
    for cfg in family:
        assert abs(count_params(cfg).non_embedding / 5e6 - 1) <= 0.05


def test_config_counting_and_shapes_do_not_import_torch():
    """Parameter arithmetic and shape rules work without torch (fitting and planning stay light)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import scalelab.model, scalelab.model.config, scalelab.model.counting, scalelab.model.shapes\n"
        "from scalelab.model import count_params, shape_for, GPTConfig\n"
        "shape_for(1e5, GPTConfig()); count_params(GPTConfig())\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
