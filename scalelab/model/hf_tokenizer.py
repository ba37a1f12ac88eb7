"""The tokenizer files of a Hugging Face export (:mod:`scalelab.model.export_hf`).

A scalelab tokenizer (:mod:`scalelab.data.tokenize`, passed in: the model layer does not import
the data layer) becomes ``tokenizer.json`` + ``tokenizer_config.json`` that
``transformers.AutoTokenizer`` loads and that encode text to the ids the run trained on.
"""

from __future__ import annotations

import json


def tokenizer_files(tokenizer, n_ctx: int) -> tuple[dict[str, str], str]:
    """The tokenizer files of the export ({name: text}) and a one-line description.

    ``tokenizer`` is a scalelab tokenizer (:mod:`scalelab.data.tokenize`): a HF ``tokenizers``
    one is written as is; the byte-level one (vocab 256) as an equivalent ``tokenizers`` JSON
    (see :func:`byte_tokenizer_json`)."""
    if tokenizer.kind == "bytes":
        text = byte_tokenizer_json(tokenizer.eot_id)
        eot = chr(tokenizer.eot_id)
        what = "bytes: tokenizer.json maps each UTF-8 byte to its value (vocab 256)"
    else:
        text = tokenizer.hf.to_str()
        eot = tokenizer.eot_token
        what = f"{tokenizer.kind}: the run's tokenizer.json (vocab {tokenizer.vocab_size})"
    conf = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": eot,
        "eos_token": eot,
        "model_max_length": n_ctx,
        "clean_up_tokenization_spaces": False,
    }
    return {"tokenizer.json": text, "tokenizer_config.json": json.dumps(conf, indent=2)}, what


def byte_tokenizer_json(eot_id: int) -> str:
    """A HF ``tokenizers`` definition of scalelab's byte tokenizer: every UTF-8 byte b is id b
    (byte-fallback tokens ``<0xNN>``, no merges), and the end-of-text byte is the special token
    ``"\\x03"`` with its own id (scalelab removes that byte from texts; here it stays the
    separator)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models  # noqa: PLC0415

    vocab = {f"<0x{b:02X}>": b for b in range(256)}
    del vocab[f"<0x{eot_id:02X}>"]
    vocab[chr(eot_id)] = eot_id
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True))
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(chr(eot_id), special=True, normalized=False)])
    return tok.to_str()
