"""A ladder's data: its spec's ``[data]`` resolved into the token files every job reads.

``[data]`` is a prepared folder, a data spec (prepared into ``<out_dir>/data`` before training), or a
preset (``markov``: the engine's in-memory source; ``builtin`` and ``synthetic``: data specs). The
result is a :class:`~scalelab.ladder.jobs.DataPlan`: the run configs' ``[data]`` fields, the eval
sets ``[eval] sets`` names, and what to prepare first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from scalelab.data import spec as dspec
from scalelab.data.loader import TokenData
from scalelab.data.tokenize import token_dtype
from scalelab.errors import InputError
from scalelab.ladder.jobs import DataPlan
from scalelab.ladder.spec import LadderSpec


def data_plan(spec: LadderSpec, source: str) -> DataPlan:
    """Where the ladder's runs read their tokens; InputError naming ``[data]`` or ``[eval]``."""
    d = spec.data
    out = Path(spec.out_dir).expanduser().resolve()
    if d.preset == "markov":
        return DataPlan(
            train="synthetic",
            eval={},
            dtype="uint16",
            vocab_size=spec.model.vocab_size,
            synthetic_tokens=d.markov_tokens,
            train_tokens=d.markov_tokens,
        )
    if d.prepared is not None:
        folder = spec.resolve(d.prepared).resolve()
        if not (folder / "manifest.json").is_file():
            raise InputError(
                f"{source}: [data] prepared: {folder} is not a prepared data folder (no "
                "manifest.json); make one with `scalelab data prepare`"
            )
        td = TokenData.open(folder)
        roles = {s: v["role"] for s, v in td.manifest["splits"].items()}
        train_tokens = td.manifest["splits"]["train"]["tokens"]
        return _from_manifest(
            spec, source, folder, td.vocab_size, str(td.dtype), roles, train_tokens
        )
    # a data spec to prepare into <out>/data
    if d.spec is not None:
        ds = dspec.load_spec(spec.resolve(d.spec))
    elif d.preset == "builtin":
        ds = dspec.builtin_spec(vocab_size=d.vocab_size, tokenizer=d.tokenizer, max_docs=d.max_docs)
    else:
        ds = dspec.synthetic_spec(
            n_docs=d.synthetic_docs, vocab_size=d.vocab_size, tokenizer=d.tokenizer
        )
    if ds.tokenizer.kind == "file":
        raise InputError(
            f"{source}: [data] spec: tokenizer kind 'file' is not supported by the ladder yet; "
            "prepare the data first and give [data] prepared"
        )
    vocab = 256 if ds.tokenizer.kind == "bytes" else ds.tokenizer.vocab_size
    folder = out / "data"
    roles = {
        "train": "train",
        "validation": "heldout",
        "test": "heldout",
        **{s.name: "ood" for s in ds.sources if s.role == "eval"},
    }
    train_tokens = None
    if (folder / "manifest.json").is_file():
        try:
            train_tokens = TokenData.open(folder).manifest["splits"]["train"]["tokens"]
        except (InputError, KeyError, ValueError):
            train_tokens = None
    plan = _from_manifest(spec, source, folder, vocab, str(token_dtype(vocab)), roles, train_tokens)
    plan.prepare_dir = str(folder)
    plan.prepare_spec = ds.model_dump(mode="json")
    return plan


def _from_manifest(
    spec: LadderSpec,
    source: str,
    folder: Path,
    vocab: int,
    dtype: str,
    roles: dict[str, str],
    train_tokens: Optional[int],
) -> DataPlan:
    if "vocab_size" in spec.model.model_fields_set and spec.model.vocab_size != vocab:
        raise InputError(
            f"{source}: [model] vocab_size = {spec.model.vocab_size} contradicts the data's "
            f"vocabulary ({vocab}); leave it out"
        )
    available = {
        ("val" if s == "validation" else s): s for s, role in roles.items() if role != "train"
    }
    wanted = spec.eval.sets or [n for n, s in available.items() if roles[s] == "ood" or n == "val"]
    missing = [w for w in wanted if w not in available]
    if missing:
        raise InputError(
            f"{source}: [eval] sets: no eval set {missing[0]!r} in the data "
            f"(available: {', '.join(sorted(available))})"
        )
    if not wanted:
        raise InputError(f"{source}: [eval] sets: the data has no held-out split")
    return DataPlan(
        train=str(folder / "train.bin"),
        eval={w: str(folder / f"{available[w]}.bin") for w in wanted},
        dtype=dtype,
        vocab_size=vocab,
        train_tokens=train_tokens,
    )
