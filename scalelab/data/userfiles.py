"""User corpora: plain-text files or folders, JSON-lines and Parquet with a text field, and Hugging
Face ``datasets`` datasets (saved with ``save_to_disk``, or streamed from the hub when online).

Each reader streams :class:`~scalelab.data.documents.Document` objects in a deterministic order;
a file that cannot be read is one :class:`~scalelab.errors.InputError` line naming it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scalelab.data.documents import (
    Document,
    SourceStats,
    _clean,
    _Decoder,
    _file_record,
    sha256_file,
)
from scalelab.data.spec import SourceSpec
from scalelab.errors import InputError

_DEFAULT_GLOB = {"text": "**/*.txt", "jsonl": "**/*.jsonl", "parquet": "**/*.parquet"}


def _user_files(spec: SourceSpec) -> tuple[Path, list[Path]]:
    root = Path(spec.path).expanduser()
    if not root.exists():
        raise InputError(f"{root}: no such file or folder (source {spec.name!r})")
    if root.is_file():
        if root.stat().st_size == 0:
            raise InputError(f"{root}: file is empty (source {spec.name!r})")
        return root.parent, [root]
    pattern = spec.glob or _DEFAULT_GLOB[spec.kind]
    files = sorted(p for p in root.glob(pattern) if p.is_file())
    if spec.kind == "text" and spec.glob is None and not files:
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"{root}: folder has no files matching {pattern!r} (source {spec.name!r})")
    return root, files


def iter_text(spec: SourceSpec, stats: SourceStats, errors: str) -> Iterator[Document]:
    root, files = _user_files(spec)
    limit = spec.max_doc_bytes
    for path in files:
        rel = str(path.relative_to(root)) if root != path.parent or len(files) > 1 else path.name
        size = path.stat().st_size
        stats.files.append({"path": rel, "bytes": size, "sha256": sha256_file(path)})
        if size == 0:
            stats.empty_files += 1
            continue
        dec = _Decoder(str(path), errors, stats)
        buf, part = "", 0
        with _open_binary(path) as fh:
            while True:
                block = fh.read(1 << 20)
                buf += dec.decode(block, final=not block)
                while len(buf) > limit:  # cut a long file into documents at a paragraph break
                    cut = buf.rfind("\n\n", 0, limit)
                    if cut < limit // 4:
                        cut = buf.rfind("\n", 0, limit)
                    if cut < limit // 4:
                        cut = limit
                    yield Document(spec.name, f"{rel}#{part}", _clean(buf[:cut]))
                    buf, part = buf[cut:], part + 1
                if not block:
                    break
        yield Document(spec.name, rel if part == 0 else f"{rel}#{part}", _clean(buf))


def _open_binary(path: Path):
    """Open a file for reading bytes; ``.gz`` files are decompressed on the fly (offsets in errors
    then count decompressed bytes)."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _field_text(value: Any, where: str, field_name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    raise InputError(f"{where}: field {field_name!r} is {type(value).__name__}, expected a string")


def iter_jsonl(spec: SourceSpec, stats: SourceStats, errors: str) -> Iterator[Document]:
    root, files = _user_files(spec)
    for path in files:
        rel = str(path.relative_to(root))
        stats.files.append({"path": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path)})
        dec = _Decoder(str(path), errors, stats)
        with _open_binary(path) as fh:
            head = fh.peek(64)[:64].lstrip() if hasattr(fh, "peek") else b""
            if head.startswith(b"["):  # a JSON array of records (read whole, not streamed)
                records = _json_array(path, dec.decode(fh.read(), final=True))
            else:
                records = _json_lines(path, fh, dec)
            for where, num, rec in records:
                if not isinstance(rec, dict):
                    raise InputError(
                        f"{where}: expected a JSON object with a {spec.text_field!r} field"
                    )
                if spec.text_field not in rec:
                    fields = ", ".join(sorted(rec)[:8]) or "none"
                    raise InputError(
                        f"{where}: record has no field {spec.text_field!r} "
                        f"(fields: {fields}); choose one with text_field / --text-field"
                    )
                text = _field_text(rec[spec.text_field], where, spec.text_field)
                if text is not None:
                    yield Document(spec.name, f"{rel}:{num}", _clean(text))


def _json_lines(path: Path, fh, dec: _Decoder) -> Iterator[tuple[str, int, Any]]:
    for lineno, raw in enumerate(fh, start=1):
        line = dec.decode(raw)
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None


def _json_array(path: Path, text: str) -> Iterator[tuple[str, int, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    for i, rec in enumerate(data):
        yield f"{path} record {i}", i, rec


def iter_parquet(spec: SourceSpec, stats: SourceStats, errors: str) -> Iterator[Document]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow: pip install 'scalelab[parquet]'") from None
    root, files = _user_files(spec)
    for path in files:
        rel = str(path.relative_to(root))
        stats.files.append({"path": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path)})
        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
        names = pf.schema_arrow.names
        if spec.text_field not in names:
            raise InputError(
                f"{path}: no column {spec.text_field!r} (columns: {', '.join(names[:8])}); "
                f"choose one with text_field / --text-field"
            )
        row = 0
        for batch in pf.iter_batches(batch_size=1024, columns=[spec.text_field]):
            for value in batch.column(0).to_pylist():
                row += 1
                if isinstance(value, bytes):
                    value = _Decoder(f"{path} row {row}", errors, stats).decode(value, final=True)
                text = _field_text(value, f"{path} row {row}", spec.text_field)
                if text is not None:
                    yield Document(spec.name, f"{rel}:{row}", _clean(text))


def _import_datasets():
    try:
        import datasets  # noqa: F401  (optional, heavy)
    except ImportError:
        raise InputError(
            "reading a Hugging Face dataset needs the optional package `datasets`: "
            "pip install datasets"
        ) from None
    return datasets


def _iter_hf(ds: Any, spec: SourceSpec, where: str) -> Iterator[Document]:
    columns = list(getattr(ds, "column_names", None) or [])
    if columns and spec.text_field not in columns:
        raise InputError(
            f"{where}: no column {spec.text_field!r} (columns: {', '.join(columns[:8])}); "
            f"choose one with text_field / --text-field"
        )
    for i, rec in enumerate(ds):
        if spec.text_field not in rec:
            raise InputError(f"{where} record {i}: no field {spec.text_field!r}")
        text = _field_text(rec[spec.text_field], f"{where} record {i}", spec.text_field)
        if text is not None:
            yield Document(spec.name, str(i), _clean(text))


def iter_hf_disk(spec: SourceSpec, stats: SourceStats, errors: str) -> Iterator[Document]:
    path = Path(spec.path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such folder (source {spec.name!r})")
    datasets = _import_datasets()
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise InputError(f"{path}: not a dataset saved with save_to_disk ({exc})") from None
    if isinstance(ds, datasets.DatasetDict):
        if spec.hf_split not in ds:
            raise InputError(f"{path}: no split {spec.hf_split!r} (splits: {', '.join(ds)})")
        ds = ds[spec.hf_split]
    for f in sorted(path.rglob("*.arrow")):
        stats.files.append(_file_record(f, path))
    stats.files.append({"path": str(path), "fingerprint": getattr(ds, "_fingerprint", "")})
    yield from _iter_hf(ds, spec, str(path))


def iter_hf_hub(spec: SourceSpec, stats: SourceStats, errors: str) -> Iterator[Document]:
    datasets = _import_datasets()
    try:
        ds = datasets.load_dataset(
            spec.hf_name, spec.hf_config, split=spec.hf_split, streaming=True
        )
    except Exception as exc:
        raise InputError(f"hf dataset {spec.hf_name!r}: could not be loaded ({exc})") from None
    stats.files.append({"path": f"hf://{spec.hf_name}/{spec.hf_config or ''}/{spec.hf_split}"})
    yield from _iter_hf(ds, spec, f"hf dataset {spec.hf_name}")
