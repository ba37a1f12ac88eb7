"""Export a scalelab GPT as a Hugging Face ``transformers`` model (config + safetensors).

Only exact mappings are written: the exported model computes the same logits as scalelab's (checked
on a probe sequence before anything is written). scalelab's blocks are pre-norm, with LayerNorm
(weight only, eps 1e-5), a fused q/k/v projection, no biases and an optionally tied output
embedding; each variant goes to the ``transformers`` architecture with the same computation, biases
written as zeros:

=================  =========  ====================  ============================================
positions          MLP        architecture          notes
=================  =========  ====================  ============================================
learned            GELU       GPT-2                 ``gelu_pytorch_tanh``; Conv1D weights
                                                    transposed
rotary             GELU       GPT-NeoX              sequential residual, full-width rotary,
                                                    q/k/v interleaved per head
rotary             SwiGLU     StableLM              sequential residual, full-width rotary,
                                                    LayerNorm (Llama's RMSNorm would differ)
rotary             SwiGLU     DBRX                  mixture of experts (n_expert >= 2); a tied
                   experts                          output layer is written as a copy
learned            SwiGLU     refused               no ``transformers`` architecture has it
other MoE                     refused               the other MoE models use RMSNorm
=================  =========  ====================  ============================================

Llama itself is never a target: it normalises with RMSNorm, scalelab with LayerNorm (which also
subtracts the mean), so a Llama export would compute different logits.

``transformers`` (and ``safetensors``, which it uses) are the optional extra ``hf``, imported only
here, inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scalelab.atomic import _as_created, atomic_dir, check_folder
from scalelab.errors import InputError, NumericalError
from scalelab.model.config import GPTConfig
from scalelab.model.hf_tokenizer import tokenizer_files

#: Largest |exported − scalelab| logit difference accepted by the probe (fp32 arithmetic in a
#: different order; relative to the logits' scale beyond 1).
PROBE_TOLERANCE = 1e-4
PROBE_TOKENS = 16
PROVENANCE = "scalelab.json"  # the scalelab shape, source checkpoint and probe of an export
LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default, which scalelab's GPT uses


@dataclass
class ExportResult:
    """What :func:`export_model` wrote, as plain data."""

    out_dir: str
    architecture: str  # the transformers class, e.g. "GPT2LMHeadModel"
    model_type: str  # "gpt2", "gpt_neox" or "stablelm"
    files: list[str]
    n_params: int  # of the exported model (its zero biases included)
    max_abs_diff: float  # the probe's largest logit difference
    tokenizer: str | None = None  # what was written for the tokenizer (None: none)
    source: str | None = None
    step: int | None = None
    notes: list[str] = field(default_factory=list)
    context: int | None = None  # the most tokens the model takes (its n_ctx): a longer input fails

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ExportResult:
        return cls(**d)


def target(cfg: GPTConfig) -> str:
    """The ``transformers`` model type a shape exports to; InputError (one line) when none computes
    the same function."""
    if cfg.n_expert >= 2:
        if cfg.positions == "rotary" and cfg.mlp == "swiglu":
            return "dbrx"
        raise InputError(
            f"cannot export a mixture-of-experts model with positions = {cfg.positions!r} and "
            f"mlp = {cfg.mlp!r} to transformers: its one MoE architecture with LayerNorm (DBRX) "
            f"has rotary positions and SwiGLU experts, the others normalise with RMSNorm"
        )
    if cfg.positions == "learned" and cfg.mlp == "gelu":
        return "gpt2"
    if cfg.positions == "rotary" and cfg.mlp == "gelu":
        return "gpt_neox"
    if cfg.positions == "rotary" and cfg.mlp == "swiglu":
        return "stablelm"
    raise InputError(
        f"cannot export positions = {cfg.positions!r} with mlp = {cfg.mlp!r} to transformers: no "
        f"architecture there combines learned positions with a SwiGLU MLP (GPT-2 has GELU, "
        f"Llama-style models have rotary positions)"
    )


def hf_config(cfg: GPTConfig, eot_id: int | None = None) -> dict[str, Any]:
    """The ``config.json`` fields of the exported model (without transformers' own bookkeeping)."""
    kind = target(cfg)
    special = {"bos_token_id": eot_id, "eos_token_id": eot_id, "pad_token_id": None}
    if kind == "gpt2":
        return {
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "vocab_size": cfg.vocab_size,
            "n_positions": cfg.n_ctx,
            "n_embd": cfg.d_model,
            "n_layer": cfg.n_layer,
            "n_head": cfg.n_head,
            "n_inner": cfg.ff,
            "activation_function": "gelu_pytorch_tanh",
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "layer_norm_epsilon": LAYER_NORM_EPS,
            "initializer_range": cfg.init_std,
            "scale_attn_weights": True,
            "scale_attn_by_inverse_layer_idx": False,
            "reorder_and_upcast_attn": False,
            "tie_word_embeddings": cfg.tie_embeddings,
            **special,
        }
    if kind == "dbrx":
        return {
            "model_type": "dbrx",
            "architectures": ["DbrxForCausalLM"],
            "vocab_size": cfg.vocab_size,
            "d_model": cfg.d_model,
            "n_heads": cfg.n_head,
            "n_layers": cfg.n_layer,
            "max_seq_len": cfg.n_ctx,
            "resid_pdrop": 0.0,
            "emb_pdrop": 0.0,
            "initializer_range": cfg.init_std,
            "tie_word_embeddings": False,  # DBRX cannot tie: a tied output layer is copied
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
            "attn_config": {
                "kv_n_heads": cfg.n_head,
                # no clipping; transformers 5 fails on None (clamp without bounds), and a bound
                # beyond any finite fp32 activation clips nothing
                "clip_qkv": 3.0e38,
                "attn_pdrop": 0.0,
                "rope_theta": 10000.0,
            },
            "ffn_config": {
                "ffn_hidden_size": cfg.ff,
                "moe_num_experts": cfg.n_expert,
                "moe_top_k": cfg.top_k,
                # softmax over all experts, top k, weights renormalised to sum 1 (L1): the same
                # weights as scalelab's softmax over the k chosen logits
                "moe_normalize_expert_weights": 1.0,
                "moe_jitter_eps": None,
                "ffn_act_fn": {"name": "silu"},
            },
            **special,
        }
    common = {
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "intermediate_size": cfg.ff,
        "max_position_embeddings": cfg.n_ctx,
        "layer_norm_eps": LAYER_NORM_EPS,
        "initializer_range": cfg.init_std,
        "use_parallel_residual": False,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "tie_word_embeddings": cfg.tie_embeddings,
        # both spellings: transformers 5 reads rope_parameters, 4.x rope_theta / rotary_*
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 1.0,
        },
        "rope_theta": 10000.0,
        **special,
    }
    if kind == "gpt_neox":
        return {
            "model_type": "gpt_neox",
            "architectures": ["GPTNeoXForCausalLM"],
            "hidden_act": "gelu_pytorch_tanh",
            "attention_bias": False,
            "rotary_pct": 1.0,
            "rotary_emb_base": 10000,
            "classifier_dropout": 0.0,
            **common,
        }
    return {
        "model_type": "stablelm",
        "architectures": ["StableLmForCausalLM"],
        "hidden_act": "silu",
        "num_key_value_heads": cfg.n_head,
        "use_qkv_bias": False,
        "qk_layernorm": False,
        "partial_rotary_factor": 1.0,
        **common,
    }


def _lazy_transformers():
    try:
        import transformers  # noqa: PLC0415
    except ImportError:
        raise InputError(
            "export to Hugging Face needs the optional extra 'hf' (transformers and safetensors): "
            "pip install 'scalelab[hf]'"
        ) from None
    return transformers


def state_context(config_json: Path, n_ctx: int) -> None:
    """Write the context under the name every ``transformers`` config reads it by,
    ``max_position_embeddings`` (GPT-2 and DBRX map it onto their ``n_positions`` and
    ``max_seq_len``, which their config.json holds): the most tokens one input may have."""
    config = json.loads(config_json.read_text(encoding="utf-8"))
    config.setdefault("max_position_embeddings", n_ctx)
    config_json.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def build_hf_model(cfg: GPTConfig, state: dict, eot_id: int | None = None):
    """A ``transformers`` model (eval mode, fp32) holding the weights of scalelab's ``state``
    (a GPT state dict)."""
    import torch  # noqa: PLC0415

    transformers = _lazy_transformers()
    fields = hf_config(cfg, eot_id)
    kind = fields.pop("model_type")
    fields.pop("architectures")
    config = transformers.AutoConfig.for_model(kind, **fields)
    model = transformers.AutoModelForCausalLM.from_config(config).float()
    w = {k: v.detach().to("cpu", torch.float32) for k, v in state.items()}
    set_by_us: set[int] = set()

    def put(param, value) -> None:
        if tuple(param.shape) != tuple(value.shape):
            raise InputError(
                f"checkpoint tensor of shape {tuple(value.shape)} does not fit the exported "
                f"{kind} parameter of shape {tuple(param.shape)}; the checkpoint and its config "
                f"disagree"
            )
        param.copy_(value)
        set_by_us.add(id(param))

    d, h = cfg.d_model, cfg.n_head
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".bias"):  # scalelab has no biases: the exported ones are zeros
                put(param, torch.zeros_like(param))
        if kind == "gpt2":
            _gpt2(model.transformer, w, cfg, put)
            body_out = model.transformer.ln_f
        elif kind == "gpt_neox":
            _neox(model.gpt_neox, w, cfg, put, d, h)
            body_out = model.gpt_neox.final_layer_norm
        elif kind == "dbrx":
            _dbrx(model.transformer, w, cfg, put)
            body_out = model.transformer.norm_f
        else:
            _stablelm(model.model, w, cfg, put)
            body_out = model.model.norm
        put(body_out.weight, w["norm_f.weight"])
        if not cfg.tie_embeddings or kind == "dbrx":
            put(model.get_output_embeddings().weight, w["lm_head.weight"])
    missed = [n for n, p in model.named_parameters() if id(p) not in set_by_us]
    if missed:  # a transformers release laid the model out differently than expected
        raise NumericalError(
            f"export to {kind}: {len(missed)} parameters of the transformers model were not set "
            f"(e.g. {missed[0]}); this transformers version is not supported"
        )
    return model.eval()


def _gpt2(body, w: dict, cfg: GPTConfig, put) -> None:
    put(body.wte.weight, w["wte.weight"])
    put(body.wpe.weight, w["wpe.weight"])
    for i, blk in enumerate(body.h):
        p = f"blocks.{i}."
        put(blk.ln_1.weight, w[p + "norm1.weight"])
        put(blk.ln_2.weight, w[p + "norm2.weight"])
        # GPT-2's Conv1D stores (in, out): the transpose of a Linear weight
        put(blk.attn.c_attn.weight, w[p + "attn.qkv.weight"].t())
        put(blk.attn.c_proj.weight, w[p + "attn.proj.weight"].t())
        put(blk.mlp.c_fc.weight, w[p + "mlp.fc.weight"].t())
        put(blk.mlp.c_proj.weight, w[p + "mlp.proj.weight"].t())


def _neox(body, w: dict, cfg: GPTConfig, put, d: int, h: int) -> None:
    put(body.embed_in.weight, w["wte.weight"])
    for i, blk in enumerate(body.layers):
        p = f"blocks.{i}."
        put(blk.input_layernorm.weight, w[p + "norm1.weight"])
        put(blk.post_attention_layernorm.weight, w[p + "norm2.weight"])
        # scalelab: rows [q of all heads | k | v]; GPT-NeoX: per head [q_h | k_h | v_h]
        qkv = w[p + "attn.qkv.weight"].view(3, h, d // h, d).transpose(0, 1).reshape(3 * d, d)
        put(blk.attention.query_key_value.weight, qkv)
        put(blk.attention.dense.weight, w[p + "attn.proj.weight"])
        put(blk.mlp.dense_h_to_4h.weight, w[p + "mlp.fc.weight"])
        put(blk.mlp.dense_4h_to_h.weight, w[p + "mlp.proj.weight"])


def _stablelm(body, w: dict, cfg: GPTConfig, put) -> None:
    put(body.embed_tokens.weight, w["wte.weight"])
    for i, blk in enumerate(body.layers):
        p = f"blocks.{i}."
        put(blk.input_layernorm.weight, w[p + "norm1.weight"])
        put(blk.post_attention_layernorm.weight, w[p + "norm2.weight"])
        q, k, v = w[p + "attn.qkv.weight"].chunk(3, dim=0)
        put(blk.self_attn.q_proj.weight, q)
        put(blk.self_attn.k_proj.weight, k)
        put(blk.self_attn.v_proj.weight, v)
        put(blk.self_attn.o_proj.weight, w[p + "attn.proj.weight"])
        # scalelab's SwiGLU: proj(silu(gate(x)) * fc(x)); StableLM's: down(silu(gate(x)) * up(x))
        put(blk.mlp.gate_proj.weight, w[p + "mlp.gate.weight"])
        put(blk.mlp.up_proj.weight, w[p + "mlp.fc.weight"])
        put(blk.mlp.down_proj.weight, w[p + "mlp.proj.weight"])


def _dbrx(body, w: dict, cfg: GPTConfig, put) -> None:
    import torch  # noqa: PLC0415

    put(body.wte.weight, w["wte.weight"])
    for i, blk in enumerate(body.blocks):
        p = f"blocks.{i}."
        put(blk.norm_attn_norm.norm_1.weight, w[p + "norm1.weight"])
        put(blk.norm_attn_norm.norm_2.weight, w[p + "norm2.weight"])
        put(blk.norm_attn_norm.attn.Wqkv.weight, w[p + "attn.qkv.weight"])  # [q | k | v] too
        put(blk.norm_attn_norm.attn.out_proj.weight, w[p + "attn.proj.weight"])
        put(blk.ffn.router.layer.weight, w[p + "mlp.router.weight"])
        experts = range(cfg.n_expert)
        # experts stacked along the rows; w2 is applied as x @ w2, so it holds proj transposed
        stack = {
            name: torch.cat([w[f"{p}mlp.experts.{e}.{ours}.weight"] for e in experts])
            for name, ours in (("w1", "gate"), ("v1", "fc"))
        }
        stack["w2"] = torch.cat([w[f"{p}mlp.experts.{e}.proj.weight"].t() for e in experts])
        for name, value in stack.items():
            put(getattr(blk.ffn.experts.mlp, name), value)


def scalelab_model(cfg: GPTConfig, state: dict):
    """scalelab's GPT of shape ``cfg`` holding ``state`` (fp32, eval mode); a state dict that does
    not fit the shape is an InputError line."""
    import torch  # noqa: PLC0415

    from scalelab.model.gpt import GPT  # noqa: PLC0415

    ours = GPT(cfg)
    try:
        ours.load_state_dict({k: v.to("cpu", torch.float32) for k, v in state.items()})
    except (RuntimeError, AttributeError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise InputError(
            f"the checkpoint's weights do not fit the shape of its config ({first})"
        ) from None
    return ours.eval()


def probe_diff(ours, hf_model, n_tokens: int = PROBE_TOKENS) -> tuple[float, float]:
    """The largest |logit difference| between scalelab's model ``ours`` and ``hf_model`` on a
    fixed pseudo-random sequence (fp32), and the largest |logit| (the scale of the tolerance)."""
    import torch  # noqa: PLC0415

    cfg = ours.cfg
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, cfg.vocab_size, (1, min(n_tokens, cfg.n_ctx)), generator=gen)
    with torch.no_grad():
        a = ours(idx)
        b = hf_model(input_ids=idx).logits
    return float((a - b).abs().max()), float(a.abs().max())


@contextlib.contextmanager
def _quiet():
    """transformers' progress bars off (a CLI prints its own summary), as they were after."""
    from transformers.utils import logging as hf_logging  # noqa: PLC0415

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def export_model(
    cfg: GPTConfig,
    state: dict,
    out_dir: str | Path,
    *,
    tokenizer=None,
    source: str | None = None,
    step: int | None = None,
) -> ExportResult:
    """Write ``state`` (a scalelab GPT state dict of shape ``cfg``) to ``out_dir`` as a
    ``transformers`` model: config.json, generation_config.json, model.safetensors, and the
    tokenizer files when ``tokenizer`` is given, and ``scalelab.json`` (the scalelab shape, the
    source, the probe's difference). The folder appears complete or not at all; an
    existing one is replaced only once the new one is complete."""
    target(cfg)  # refuse an unsupported variant before any work
    out = check_folder(out_dir, "export folder")
    eot_id = getattr(tokenizer, "eot_id", None)
    ours = scalelab_model(cfg, state)  # checks that the weights fit the shape
    model = build_hf_model(cfg, state, eot_id)
    diff, size = probe_diff(ours, model)
    scale = max(1.0, size)
    if not diff < PROBE_TOLERANCE * scale:
        raise NumericalError(
            f"export to {model.config.model_type}: the exported model's logits differ from "
            f"scalelab's by {diff:.3g} (tolerance {PROBE_TOLERANCE * scale:.3g}); nothing written"
        )
    tok_text, tok_what = ({}, None) if tokenizer is None else tokenizer_files(tokenizer, cfg.n_ctx)
    provenance = {
        "scalelab_export": 1,
        "model": cfg.to_dict(),
        "source": source,
        "step": step,
        "max_abs_diff": diff,
        "tokenizer": tok_what,
        "context": cfg.n_ctx,
    }
    with atomic_dir(out) as tmp, _quiet():
        model.save_pretrained(tmp)
        state_context(tmp / "config.json", cfg.n_ctx)
        for name, text in {**tok_text, PROVENANCE: json.dumps(provenance, indent=2)}.items():
            (tmp / name).write_text(text + "\n", encoding="utf-8")
        for path in tmp.iterdir():  # transformers may write 0600 files; give them the usual mode
            _as_created(path, 0o666)
        files = sorted(p.name for p in tmp.iterdir())
    return ExportResult(
        out_dir=str(out),
        architecture=type(model).__name__,
        model_type=model.config.model_type,
        files=files,
        n_params=sum(p.numel() for p in model.parameters()),
        max_abs_diff=diff,
        tokenizer=tok_what,
        source=source,
        step=step,
        context=cfg.n_ctx,
    )
