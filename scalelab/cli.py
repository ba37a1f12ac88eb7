"""The ``scalelab`` command line: thin typer commands over the Python API.

Every command that computes something can print JSON (``--json``). Bad input exits with status 2
and one line per problem; a numerical failure exits with status 3; nothing is half-written.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer
from rich.console import Console

from scalelab.errors import ScalelabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="scalelab: a scaling-law laboratory for language models.")
out = Console()
err = Console(stderr=True)


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (numbers as plain floats)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- data commands (issue 5) ---
data_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Corpora, tokenizers, token shards and held-out sets.")
app.add_typer(data_app, name="data")


def _data_source_from_flag(value: str, role: str, text_field: str, max_docs: Optional[int],
                           max_doc_bytes: Optional[int] = None) -> dict:
    from pathlib import Path

    from scalelab.errors import InputError

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
            if not arg.isdigit():
                raise InputError(f"--source {v!r} is not synthetic or synthetic:N_DOCS")
            src["n_docs"] = int(arg)
    elif base == "hf" and arg:
        src.update(kind="hf_hub", hf_name=arg, text_field=text_field)
    else:
        p = Path(v).expanduser()
        suffix = (p.suffixes[-2] if p.suffix.lower() == ".gz" and len(p.suffixes) > 1 else p.suffix).lower()
        if p.is_dir() and any((p / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
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


def _data_unique_names(sources: list[dict]) -> None:
    """Flag sources get names from their kind or file stem; make repeated names unique."""
    from pathlib import Path

    seen: dict[str, int] = {}
    for src in sources:
        base = src["kind"] if "path" not in src else (Path(src["path"]).name.split(".")[0] or src["kind"])
        if src["kind"] == "hf_hub":
            base = src["hf_name"].replace("/", "_")
        seen[base] = seen.get(base, 0) + 1
        src["name"] = base if seen[base] == 1 else f"{base}-{seen[base]}"


@data_app.command("prepare")
def data_prepare(
    spec: Optional[str] = typer.Argument(None, help="TOML data spec (or give --source flags)"),
    out_dir: Optional[str] = typer.Option(None, "--out", "-o", help="output directory"),
    source: Optional[list[str]] = typer.Option(None, "--source", "-s",
        help="training source: shakespeare, bible, wiki, synthetic[:N], a file/folder (text, .jsonl, .parquet, "
             "a saved HF dataset) or hf:NAME; repeatable"),
    eval_source: Optional[list[str]] = typer.Option(None, "--eval-source", help="out-of-distribution eval source (e.g. wiki)"),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", "-t", help="bytes, bpe, or a tokenizer.json path"),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", "-V", help="BPE vocabulary size"),
    text_field: str = typer.Option("text", "--text-field", help="JSON/Parquet/HF field holding the text"),
    max_docs: Optional[int] = typer.Option(None, "--max-docs", help="take only the first N documents of each source"),
    max_doc_bytes: Optional[int] = typer.Option(None, "--max-doc-bytes",
        help="text files: cut into documents at paragraph breaks every ~N bytes (default 65536)"),
    decode_errors: Optional[str] = typer.Option(None, "--decode-errors", help="strict (default) or replace"),
    seed: Optional[int] = typer.Option(None, "--seed", help="split seed"),
    validation: Optional[float] = typer.Option(None, "--validation", help="fraction of documents held out for validation"),
    test: Optional[float] = typer.Option(None, "--test", help="fraction of documents held out for test"),
    no_near_dedup: bool = typer.Option(False, "--no-near-dedup", help="exact dedup only (faster on huge corpora)"),
    name: Optional[str] = typer.Option(None, "--name", help="data set name"),
    as_json: bool = typer.Option(False, "--json", help="print the manifest as JSON"),
) -> None:
    """Build token shards (train/validation/test and eval sets) and print the manifest."""
    from pathlib import Path

    from scalelab.data.prepare import prepare
    from scalelab.data.spec import load_spec, spec_from_dict
    from scalelab.errors import InputError

    if spec and (source or eval_source):
        raise InputError("give either a SPEC file or --source/--eval-source flags, not both")
    if spec:
        data = load_spec(spec).model_dump()
    elif source:
        data = {"name": name or "data", "sources": [
            _data_source_from_flag(s, "train", text_field, max_docs, max_doc_bytes) for s in source] + [
            _data_source_from_flag(s, "eval", text_field, max_docs, max_doc_bytes) for s in (eval_source or [])]}
        _data_unique_names(data["sources"])
    else:
        raise InputError("nothing to prepare: give a SPEC file or at least one --source")
    if name:
        data["name"] = name
    if tokenizer is not None:
        if tokenizer in ("bytes", "bpe"):
            data.setdefault("tokenizer", {})["kind"] = tokenizer
        else:
            data.setdefault("tokenizer", {}).update(kind="file", path=str(Path(tokenizer).expanduser()))
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
    if no_near_dedup:
        data.setdefault("dedup", {})["near"] = False
    spec_obj = spec_from_dict(data, where=spec or "options")
    target = out_dir or spec_obj.out
    if not target:
        raise InputError("no output directory: give --out DIR (or `out` in the spec)")

    if err.is_terminal and not as_json:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description:>16}"), BarColumn(), DownloadColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            tasks: dict[str, Any] = {}

            def tick(stage: str, done: int, total: Optional[int]) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            manifest = prepare(spec_obj, target, progress=tick)
    else:
        manifest = prepare(spec_obj, target)
    if as_json:
        emit_json(manifest)
        return
    _print_data_summary(target, manifest)


def _print_data_summary(directory: str, m: dict) -> None:
    from rich.table import Table

    t = Table(title=f"{m['name']} → {directory}", show_lines=False)
    for col in ("split", "role", "docs", "tokens", "MB text"):
        t.add_column(col, justify="right" if col in ("docs", "tokens", "MB text") else "left")
    for s, v in m["splits"].items():
        t.add_row(s, v["role"], f"{v['docs']:,}", f"{v['tokens']:,}", f"{v['bytes'] / 1e6:.2f}")
    out.print(t)
    tk = m["tokenizer"]
    out.print(f"tokenizer: {tk['kind']} vocab {tk['vocab_size']} (sha256 {tk['hash'][:16]}), {m['dtype']}")
    out.print(f"dedup: {m['checklist']['dedup']}")
    for name, ev in m["dedup"]["eval"].items():
        out.print(f"eval set {name}: {ev['exact_duplicates'] + ev['near_duplicates']} duplicate(s) and "
                  f"{ev.get('overlaps_train_pool', 0)} overlap(s) with the training pool removed")
    out.print(f"split: {m['checklist']['split']}; data sha256 {m['data_hash'][:16]}")
    for line in m["checklist"]["sources"]:
        out.print(f"source: {line}", highlight=False)
    for w in m.get("warnings", []):
        err.print(f"warning: {w}", markup=False, highlight=False)


@data_app.command("info")
def data_info(
    directory: str = typer.Argument(..., help="a directory made by `scalelab data prepare`"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Sizes, token counts, splits and dedup statistics of a prepared data directory."""
    from scalelab.data.prepare import info

    summary = info(directory)
    if as_json:
        emit_json(summary)
        return
    from rich.table import Table

    t = Table(title=f"{summary['name']} ({summary['directory']})")
    for col in ("split", "role", "docs", "tokens", "file MB"):
        t.add_column(col, justify="left" if col in ("split", "role") else "right")
    for s, v in summary["splits"].items():
        t.add_row(s, v["role"], f"{v['docs']:,}", f"{v['tokens']:,}", f"{v['file_bytes'] / 1e6:.2f}")
    out.print(t)
    tk = summary["tokenizer"]
    out.print(f"tokenizer: {tk['kind']} vocab {tk['vocab_size']} sha256 {tk['hash'][:16]}")
    p = summary["dedup"]["pool"]
    out.print(f"dedup (training pool): {p['docs_in']:,} docs read, {p['exact_duplicates']:,} exact and "
              f"{p['near_duplicates']:,} near duplicates removed (~{p['tokens_removed_estimate']:,} tokens); "
              f"effective train tokens {summary['effective_train_tokens']:,}")
    for name, ev in summary["dedup"]["eval"].items():
        out.print(f"eval set {name}: {ev['docs_kept']:,} of {ev['docs_in']:,} docs kept "
                  f"({ev['duplicates']} duplicates, {ev['overlaps_train_pool']} overlapping the training pool)")
    for s in summary["sources"]:
        out.print(f"source {s['name']} ({s['role']}): {s['docs']:,} docs, {s['bytes'] / 1e6:.2f} MB — {s['licence']}",
                  highlight=False)
    out.print(f"on disk: {summary['disk_bytes'] / 1e6:.2f} MB; data sha256 {summary['data_hash'][:16]}")
    for w in summary["warnings"]:
        err.print(f"warning: {w}", markup=False, highlight=False)
# --- end data commands ---


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI and return its exit status (usable from tests and notebooks)."""
    try:
        app(args=argv, prog_name="scalelab", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except ScalelabError as exc:
        prefix = "error" if exc.exit_code == 2 else "failed"
        for line in exc.problems:
            err.print(f"{prefix}: {line}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
