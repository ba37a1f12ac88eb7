"""The data spec: what ``scalelab data prepare`` builds, read from TOML (or assembled from flags).

Example (``examples/data_shakespeare.toml``)::

    name = "shakespeare-bible-bpe2k"
    seed = 0

    [[sources]]                 # training pool: split by document into train/validation/test
    kind = "shakespeare"

    [[sources]]
    kind = "bible"

    [[sources]]                 # out-of-distribution evaluation set: never split, never trained on
    kind = "wiki"
    role = "eval"

    [tokenizer]
    kind = "bpe"
    vocab_size = 2048

Unknown keys are errors (``extra="forbid"``), so a typo never silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from scalelab import tomlfile
from scalelab.errors import InputError
from scalelab.schema import Schema, Seed, validate

MAX_SYNTHETIC_DOCS = 1_000_000
"""The most documents a synthetic source generates (more would take hours)."""

FILE_KINDS = ("text", "jsonl", "parquet", "hf_disk")
SourceKind = Literal[
    "shakespeare", "bible", "wiki", "synthetic", "text", "jsonl", "parquet", "hf_disk", "hf_hub"
]


class SourceSpec(Schema):
    """One corpus. ``role="train"`` sources form the pool that is deduplicated and split by
    document; ``role="eval"`` sources become whole out-of-distribution evaluation sets (named
    ``name``)."""

    kind: SourceKind
    name: Optional[str] = None  # defaults to the kind (or the file stem)
    role: Literal["train", "eval"] = "train"
    path: Optional[str] = None  # text/jsonl/parquet/hf_disk: a file or a folder
    glob: Optional[str] = (
        None  # folders: which files (default by kind: **/*.txt, **/*.jsonl, **/*.parquet)
    )
    text_field: str = "text"  # jsonl/parquet/hf datasets: the column holding the text
    hf_name: Optional[str] = None  # hf_hub: dataset name (needs network and `datasets`)
    hf_config: Optional[str] = None
    hf_split: str = "train"  # hf_disk (a DatasetDict) / hf_hub: which split to read
    max_docs: Optional[int] = Field(default=None, ge=1)  # take only the first documents
    max_bytes: Optional[int] = Field(default=None, ge=1)  # ... or stop after this many UTF-8 bytes
    # synthetic only
    n_docs: int = Field(default=2000, ge=1, le=MAX_SYNTHETIC_DOCS)
    seed: Optional[Seed] = None
    language_seed: Seed = 0  # which synthetic language (lexicon); seed picks documents
    # text files: a file longer than this is cut into several documents at paragraph breaks (so a
    # single long file such as a novel still yields documents to split train/validation/test by)
    max_doc_bytes: int = Field(default=64 << 10, ge=1024)

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        if self.kind in FILE_KINDS and not self.path:
            raise ValueError(f"source kind {self.kind!r} needs a path")
        if self.kind == "hf_hub" and not self.hf_name:
            raise ValueError("source kind 'hf_hub' needs hf_name")
        if self.name is None:
            if self.kind in FILE_KINDS:
                self.name = Path(self.path or self.kind).name.split(".")[0] or self.kind
            elif self.kind == "hf_hub":
                self.name = (self.hf_name or "hf").replace("/", "_")
            else:
                self.name = self.kind
        return self


class SplitSpec(Schema):
    """Document-level split of the training pool (fractions of documents, seeded and recorded)."""

    validation: float = Field(default=0.05, ge=0.0, lt=1.0)
    test: float = Field(default=0.05, ge=0.0, lt=1.0)
    seed: Optional[Seed] = None  # defaults to the spec's seed

    @model_validator(mode="after")
    def _check(self) -> SplitSpec:
        if self.validation + self.test >= 1.0:
            raise ValueError("split fractions validation + test must be below 1")
        return self


class DedupSpec(Schema):
    exact: bool = True  # drop documents whose normalised text is identical
    near: bool = True  # drop near-duplicates: MinHash LSH over word shingles
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)  # estimated Jaccard similarity
    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle: int = Field(default=5, ge=1, le=32)  # words per shingle
    check_eval: bool = True  # drop eval-set documents that near-duplicate the pool


class TokenizerSpec(Schema):
    kind: Literal["bytes", "bpe", "file"] = "bpe"
    vocab_size: int = Field(default=2048, ge=257, le=1 << 20)  # bpe only (bytes is always 256)
    min_frequency: int = Field(default=2, ge=1)
    train_bytes: int = Field(
        default=64 << 20, ge=1
    )  # train BPE on at most this many bytes of train docs
    path: Optional[str] = None  # kind="file": a tokenizer.json (HF tokenizers format)
    eot_token: str = "<|endoftext|>"  # bpe/file: the document separator token

    @model_validator(mode="after")
    def _check(self) -> TokenizerSpec:
        if self.kind == "file" and not self.path:
            raise ValueError("tokenizer kind 'file' needs a path")
        return self


class DataSpec(Schema):
    name: str = "data"
    out: Optional[str] = None  # output directory (the CLI's --out wins)
    seed: Seed = 0
    sources: list[SourceSpec] = Field(min_length=1)
    split: SplitSpec = SplitSpec()
    dedup: DedupSpec = DedupSpec()
    tokenizer: TokenizerSpec = TokenizerSpec()
    decode_errors: Literal["strict", "replace"] = (
        "strict"  # undecodable bytes: fail, or replace and count
    )
    encode_batch_docs: int = Field(default=256, ge=1)  # documents per tokenizer call ...
    encode_batch_bytes: int = Field(
        default=16 << 20, ge=1
    )  # ... or this many bytes (bounds memory)

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        if not any(s.role == "train" for s in self.sources):
            raise ValueError("at least one source must have role 'train'")
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"source names must be unique (give each a name): {', '.join(dup)}")
        reserved = {"train", "validation", "test"}
        bad = [s.name for s in self.sources if s.role == "eval" and s.name in reserved]
        if bad:
            raise ValueError(f"an eval source cannot be named {bad[0]!r} (reserved for splits)")
        if self.split.seed is None:
            self.split.seed = self.seed
        return self

    def resolved(self) -> dict:
        return self.model_dump(mode="json")


def spec_from_dict(data: dict, where: str = "spec") -> DataSpec:
    return validate(DataSpec, data, where)


def load_spec(path: str | Path) -> DataSpec:
    """Read a data spec from TOML; every problem is an :class:`InputError` naming the file and
    key."""
    p = Path(path)
    raw = tomlfile.read(p, "spec file")
    _no_empty_tables(raw, p)
    spec = spec_from_dict(raw, where=str(p))
    # Relative paths in a spec file are relative to the spec file.
    for s in spec.sources:
        if s.path and not Path(s.path).expanduser().is_absolute():
            s.path = str((p.parent / s.path).resolve())
    if spec.tokenizer.path and not Path(spec.tokenizer.path).is_absolute():
        spec.tokenizer.path = str((p.parent / spec.tokenizer.path).resolve())
    if spec.out and not Path(spec.out).is_absolute():
        spec.out = str((p.parent / spec.out).resolve())
    return spec


def _no_empty_tables(raw: dict, path: Path) -> None:
    """A table written with no keys (``[tokenizer]`` as the file's last line) says nothing and
    falls back to every default: most often a file cut short, so it is an error, not a default."""
    for key, value in raw.items():
        tables = value if isinstance(value, list) else [value]
        for i, table in enumerate(tables):
            if isinstance(table, dict) and not table:
                name = f"[[{key}]] number {i + 1}" if isinstance(value, list) else f"[{key}]"
                raise InputError(
                    f"{path}: {name} has no keys (is the file cut short?); give its keys or "
                    "remove the table to take the defaults"
                )


def cut_short(path: str | Path) -> Optional[str]:
    """A warning when a spec file may have been cut short: text files end with a newline, and a
    file that ends mid-line may have lost the settings after the cut (they take their defaults).
    ``None`` for a file that ends with a newline."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if data and not data.endswith(b"\n"):
        return (
            f"{path}: the file does not end with a newline; if it was cut short, the settings "
            "after the cut take their defaults (check the manifest below)"
        )
    return None


def builtin_spec(
    vocab_size: int = 2048, tokenizer: str = "bpe", seed: int = 0, max_docs: int | None = None
) -> DataSpec:
    """Shakespeare + World English Bible (train/validation/test) and Wikipedia (OOD eval)."""
    extra = {"max_docs": max_docs} if max_docs else {}
    return spec_from_dict(
        {
            "name": f"shakespeare-bible-{tokenizer}{vocab_size if tokenizer == 'bpe' else ''}",
            "seed": seed,
            "sources": [
                {"kind": "shakespeare", **extra},
                {"kind": "bible", **extra},
                {"kind": "wiki", "role": "eval", **extra},
            ],
            "tokenizer": {"kind": tokenizer, "vocab_size": vocab_size},
        },
        where="builtin_spec",
    )


def synthetic_spec(
    n_docs: int = 2000, vocab_size: int = 512, tokenizer: str = "bpe", seed: int = 0
) -> DataSpec:
    """The synthetic language only: seconds to prepare, for tests and smoke runs."""
    return spec_from_dict(
        {
            "name": f"synthetic-{n_docs}",
            "seed": seed,
            "sources": [{"kind": "synthetic", "n_docs": n_docs}],
            "tokenizer": {"kind": tokenizer, "vocab_size": vocab_size},
        },
        where="synthetic_spec",
    )


def source_from_flag(
    value: str,
    role: str,
    text_field: str,
    max_docs: Optional[int],
    max_doc_bytes: Optional[int] = None,
) -> dict:
    """A source entry from a command-line value: a built-in corpus, ``synthetic[:N]``, ``hf:NAME``,
    or a path whose kind (text, JSON-lines, Parquet, saved HF dataset) is inferred from it."""
    v = value.strip()
    src: dict[str, Any] = {"role": role}
    if max_docs is not None:
        src["max_docs"] = max_docs
    base, _, arg = v.partition(":")
    if base in ("shakespeare", "bible", "wiki"):
        src["kind"] = base
    elif base == "synthetic":
        src["kind"] = "synthetic"
        if arg:
            if not arg.isdigit() or not 1 <= int(arg) <= MAX_SYNTHETIC_DOCS:
                raise InputError(
                    f"--source {v[:60]!r} is not synthetic or synthetic:N_DOCS "
                    f"(1 <= N_DOCS <= {MAX_SYNTHETIC_DOCS:,})"
                )
            src["n_docs"] = int(arg)
    elif base == "hf" and arg:
        src.update(kind="hf_hub", hf_name=arg, text_field=text_field)
    else:
        p = Path(v).expanduser()
        suffix = (
            p.suffixes[-2] if p.suffix.lower() == ".gz" and len(p.suffixes) > 1 else p.suffix
        ).lower()
        if p.is_dir() and any(
            (p / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")
        ):
            kind = "hf_disk"
        elif suffix in (".jsonl", ".ndjson", ".json"):
            kind = "jsonl"
        elif suffix == ".parquet":
            kind = "parquet"
        elif p.is_dir() and not any(p.rglob("*.txt")) and any(p.rglob("*.parquet")):
            kind = "parquet"
        elif p.is_dir() and not any(p.rglob("*.txt")) and any(p.rglob("*.jsonl")):
            kind = "jsonl"
        else:
            kind = "text"
        src.update(kind=kind, path=str(p), text_field=text_field)
        if kind == "text" and max_doc_bytes is not None:
            src["max_doc_bytes"] = max_doc_bytes
    return src


def name_sources(sources: list[dict]) -> None:
    """Flag sources get names from their kind or file stem; make repeated names unique."""
    seen: dict[str, int] = {}
    for src in sources:
        base = (
            src["kind"]
            if "path" not in src
            else (Path(src["path"]).name.split(".")[0] or src["kind"])
        )
        if src["kind"] == "hf_hub":
            base = src["hf_name"].replace("/", "_")
        seen[base] = seen.get(base, 0) + 1
        src["name"] = base if seen[base] == 1 else f"{base}-{seen[base]}"


def spec_from_options(
    spec: Optional[str],
    sources: list[str],
    eval_sources: list[str],
    *,
    name: Optional[str] = None,
    tokenizer: Optional[str] = None,
    vocab_size: Optional[int] = None,
    text_field: str = "text",
    max_docs: Optional[int] = None,
    max_doc_bytes: Optional[int] = None,
    decode_errors: Optional[str] = None,
    seed: Optional[int] = None,
    validation: Optional[float] = None,
    test: Optional[float] = None,
    near_dedup: bool = True,
) -> DataSpec:
    """A spec from a TOML file or from source flags, with command-line overrides applied."""
    if spec and (sources or eval_sources):
        raise InputError("give either a SPEC file or --source/--eval-source flags, not both")
    if spec:
        data = load_spec(spec).model_dump()
    elif sources:
        data = {
            "name": name or "data",
            "sources": [
                source_from_flag(s, "train", text_field, max_docs, max_doc_bytes) for s in sources
            ]
            + [
                source_from_flag(s, "eval", text_field, max_docs, max_doc_bytes)
                for s in eval_sources
            ],
        }
        name_sources(data["sources"])
    else:
        raise InputError("nothing to prepare: give a SPEC file or at least one --source")
    if name:
        data["name"] = name
    if tokenizer is not None:
        if tokenizer in ("bytes", "bpe"):
            data.setdefault("tokenizer", {})["kind"] = tokenizer
        else:
            data.setdefault("tokenizer", {}).update(
                kind="file", path=str(Path(tokenizer).expanduser())
            )
    if vocab_size is not None:
        data.setdefault("tokenizer", {})["vocab_size"] = vocab_size
    if decode_errors is not None:
        data["decode_errors"] = decode_errors
    if seed is not None:
        data["seed"] = seed
        data.setdefault("split", {})["seed"] = seed
    for key, val in (("validation", validation), ("test", test)):
        if val is not None:
            data.setdefault("split", {})[key] = val
    if not near_dedup:
        data.setdefault("dedup", {})["near"] = False
    return spec_from_dict(data, where=spec or "options")
