"""Data commands: scalelab data prepare | info."""

from __future__ import annotations

from typing import Any, Optional

import typer

from scalelab.cli.common import (
    Flag,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.usage import PlainGroup, PlainUsage
from scalelab.errors import InputError
from scalelab.schema import SEED_LIMIT

data_app = typer.Typer(
    cls=PlainGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Corpora, tokenizers, token shards and held-out sets.",
)
app.add_typer(data_app, name="data")


@data_app.command("prepare", cls=PlainUsage)
def data_prepare(
    spec: Optional[str] = typer.Argument(
        None, metavar="SPEC", help="TOML data spec (or give --source flags)"
    ),
    out_dir: Optional[str] = typer.Option(
        None, "--out", "-o", metavar="DIR", help="output directory"
    ),
    source: Optional[list[str]] = typer.Option(
        None,
        "--source",
        "-s",
        metavar="SOURCE",
        help="training source: shakespeare, bible, wiki, synthetic[:N], a file/folder (text, "
        ".jsonl, .parquet, a saved HF dataset) or hf:NAME; repeatable",
    ),
    eval_source: Optional[list[str]] = typer.Option(
        None,
        "--eval-source",
        metavar="SOURCE",
        help="out-of-distribution eval source (e.g. wiki); repeatable",
    ),
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", "-t", metavar="KIND", help="bytes, bpe, or a tokenizer.json path"
    ),
    vocab_size: Optional[int] = typer.Option(
        None,
        "--vocab-size",
        "-V",
        min=257,
        max=1 << 20,
        metavar="V",
        help="BPE vocabulary size (257 to 1048576)",
    ),
    text_field: str = typer.Option(
        "text", "--text-field", metavar="FIELD", help="JSON/Parquet/HF field holding the text"
    ),
    max_docs: Optional[int] = typer.Option(
        None,
        "--max-docs",
        min=1,
        metavar="N",
        help="take only the first N documents of each source",
    ),
    max_doc_bytes: Optional[int] = typer.Option(
        None,
        "--max-doc-bytes",
        min=1024,
        metavar="N",
        help="text files: cut into documents at paragraph breaks every ~N bytes (default 65536)",
    ),
    decode_errors: Optional[str] = typer.Option(
        None, "--decode-errors", metavar="MODE", help="strict (default) or replace"
    ),
    seed: Optional[int] = typer.Option(
        None,
        "--seed",
        min=0,
        max=SEED_LIMIT - 1,
        metavar="SEED",
        help="split seed, 0 <= SEED < 2**63",
    ),
    validation: Optional[float] = typer.Option(
        None,
        "--validation",
        metavar="FRACTION",
        help="fraction of documents held out for validation (0 <= FRACTION < 1)",
    ),
    test: Optional[float] = typer.Option(
        None,
        "--test",
        metavar="FRACTION",
        help="fraction of documents held out for test (0 <= FRACTION < 1)",
    ),
    no_near_dedup: bool = Flag("--no-near-dedup", help="exact dedup only (faster on huge corpora)"),
    name: Optional[str] = typer.Option(None, "--name", metavar="NAME", help="data set name"),
    as_json: bool = Flag("--json", help="print the manifest as JSON"),
) -> None:
    """Build token shards (train/validation/test and eval sets) and print the manifest."""
    for option, value in (("--validation", validation), ("--test", test)):
        if value is not None and not 0 <= value < 1:  # also refuses nan
            raise InputError(f"{option}: expected a fraction 0 <= x < 1, got {value:g}")
    from scalelab.data.spec import spec_from_options

    spec_obj = spec_from_options(
        spec,
        source or [],
        eval_source or [],
        name=name,
        tokenizer=tokenizer,
        vocab_size=vocab_size,
        text_field=text_field,
        max_docs=max_docs,
        max_doc_bytes=max_doc_bytes,
        decode_errors=decode_errors,
        seed=seed,
        validation=validation,
        test=test,
        near_dedup=not no_near_dedup,
    )
    from scalelab.data.spec import cut_short

    if spec and cut_short(spec):
        err.print(f"warning: {cut_short(spec)}", markup=False, highlight=False, soft_wrap=True)
    target = out_dir or spec_obj.out
    if not target:
        raise InputError("no output directory: give --out DIR (or `out` in the spec)")

    manifest = _prepare_with_progress(spec_obj, target, show=err.is_terminal and not as_json)
    if as_json:
        emit_json(manifest)
        return
    _print_data_summary(target, manifest)


def _prepare_with_progress(spec_obj, target: str, show: bool) -> dict:
    """:func:`~scalelab.data.prepare.prepare`, with a progress bar per stage when ``show``."""
    from scalelab.data.prepare import prepare

    if not show:
        return prepare(spec_obj, target)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:>16}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: Optional[int]) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return prepare(spec_obj, target, progress=tick)


def _print_data_summary(directory: str, m: dict) -> None:
    from rich.table import Table

    t = Table(title=f"{m['name']} → {directory}", show_lines=False)
    for col in ("split", "role", "docs", "tokens", "MB text"):
        t.add_column(col, justify="right" if col in ("docs", "tokens", "MB text") else "left")
    for s, v in m["splits"].items():
        t.add_row(s, v["role"], f"{v['docs']:,}", f"{v['tokens']:,}", f"{v['bytes'] / 1e6:.2f}")
    out.print(t)
    tk = m["tokenizer"]
    out.print(
        f"tokenizer: {tk['kind']} vocab {tk['vocab_size']} (sha256 {tk['hash'][:16]}), {m['dtype']}"
    )
    out.print(f"dedup: {m['checklist']['dedup']}")
    for name, ev in m["dedup"]["eval"].items():
        out.print(
            f"eval set {name}: {ev['exact_duplicates'] + ev['near_duplicates']} duplicate(s) and "
            f"{ev.get('overlaps_train_pool', 0)} overlap(s) with the training pool removed"
        )
    out.print(f"split: {m['checklist']['split']}; data sha256 {m['data_hash'][:16]}")
    for line in m["checklist"]["sources"]:
        out.print(f"source: {line}", highlight=False)
    for w in m.get("warnings", []):
        err.print(f"warning: {w}", markup=False, highlight=False)


@data_app.command("info", cls=PlainUsage)
def data_info(
    directory: str = typer.Argument(
        ..., metavar="DIR", help="a directory made by `scalelab data prepare`"
    ),
    as_json: bool = Flag("--json", help="print JSON"),
) -> None:
    """Sizes, token counts, splits and dedup statistics of a prepared data directory."""
    from scalelab.data.manifest import info

    summary = info(directory)
    if as_json:
        emit_json(summary)
        return
    from rich.table import Table

    t = Table(title=f"{summary['name']} ({summary['directory']})")
    for col in ("split", "role", "docs", "tokens", "file MB"):
        t.add_column(col, justify="left" if col in ("split", "role") else "right")
    for s, v in summary["splits"].items():
        t.add_row(
            s, v["role"], f"{v['docs']:,}", f"{v['tokens']:,}", f"{v['file_bytes'] / 1e6:.2f}"
        )
    out.print(t)
    tk = summary["tokenizer"]
    out.print(f"tokenizer: {tk['kind']} vocab {tk['vocab_size']} sha256 {tk['hash'][:16]}")
    p = summary["dedup"]["pool"]
    out.print(
        f"dedup (training pool): {p['docs_in']:,} docs read, {p['exact_duplicates']:,} exact and "
        f"{p['near_duplicates']:,} near duplicates removed "
        f"(~{p['tokens_removed_estimate']:,} tokens); "
        f"effective train tokens {summary['effective_train_tokens']:,}"
    )
    for name, ev in summary["dedup"]["eval"].items():
        out.print(
            f"eval set {name}: {ev['docs_kept']:,} of {ev['docs_in']:,} docs kept "
            f"({ev['duplicates']} duplicates, "
            f"{ev['overlaps_train_pool']} overlapping the training pool)"
        )
    for s in summary["sources"]:
        out.print(
            f"source {s['name']} ({s['role']}): {s['docs']:,} docs, "
            f"{s['bytes'] / 1e6:.2f} MB — {s['licence']}",
            highlight=False,
        )
    out.print(
        f"on disk: {summary['disk_bytes'] / 1e6:.2f} MB; data sha256 {summary['data_hash'][:16]}"
    )
    for w in summary["warnings"]:
        err.print(f"warning: {w}", markup=False, highlight=False)
