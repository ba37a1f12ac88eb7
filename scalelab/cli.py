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

from scalelab.errors import InputError, ScalelabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="scalelab: a scaling-law laboratory for language models.")
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)


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


# --- fitting commands (issue 3) ---------------------------------------------------------------
RunsArg = typer.Argument(None, help="Run table (.csv, .parquet, .jsonl). Or use --example.", show_default=False)
ExampleOpt = typer.Option(None, "--example", help="A built-in example table instead of RUNS (see `scalelab examples`).")
ColumnOpt = typer.Option(None, "--column", help="Map a schema column to a column of the file: N=params (repeatable).")
WhereOpt = typer.Option(None, "--where", help="Keep rows whose column equals a value: dataset=c4 (repeatable).")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object instead of tables.")


def _pairs(items: Optional[list[str]], option: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{option}: expected NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _load_runs(runs: Optional[str], example: Optional[str], column: Optional[list[str]], where: Optional[list[str]]):
    from scalelab import examples
    from scalelab.runs import read_table

    if (runs is None) == (example is None):
        raise InputError("give a run table (RUNS) or --example NAME, not both or neither")
    columns, conditions = _pairs(column, "--column"), _pairs(where, "--where")
    table = examples.load(example) if example else read_table(runs, columns)
    if conditions:
        table = table.where(**conditions)
    for note in table.notes:
        err.print(f"note: {note}", highlight=False, markup=False)
    return table


def _resolve_law(spec: str):
    from pathlib import Path

    from scalelab.laws import Law, published

    if Path(spec).exists() or spec.endswith(".json"):
        return Law.load(spec)
    return published.get(spec)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _interval(ci: Optional[list]) -> str:
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""


@app.command()
def fit(runs: Optional[str] = RunsArg,
        form: str = typer.Option("chinchilla", "--form", help="Functional form (see `scalelab forms`)."),
        bootstrap: int = typer.Option(0, "--bootstrap", help="Run-level bootstrap resamples for intervals."),
        seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
        loss: str = typer.Option("huber", "--loss", help="Fitting loss on log residuals: huber or mse."),
        delta: float = typer.Option(1e-3, "--delta", help="Huber delta."),
        params: str = typer.Option("non-embedding", "--params", help="Parameter convention: non-embedding, total, active."),
        flops: str = typer.Option("6ND", "--flops", help="FLOP convention: 6ND, 6ND+attention, table."),
        eval_set: Optional[str] = typer.Option(None, "--eval-set", help="Evaluation set to fit (default: val)."),
        points: Optional[str] = typer.Option(None, "--points", help="final (each run's last point) or all."),
        budget: float = typer.Option(5.76e23, "--budget", help="Budget C (FLOPs) for derived quantities."),
        level: float = typer.Option(0.95, "--level", help="Confidence level of intervals."),
        output: Optional[str] = typer.Option(None, "-o", "--output", help="Write the law as JSON here."),
        example: Optional[str] = ExampleOpt, column: Optional[list[str]] = ColumnOpt,
        where: Optional[list[str]] = WhereOpt, as_json: bool = JsonOpt) -> None:
    """Fit a scaling law to a run table (Chinchilla approach 3 by default)."""
    from scalelab import laws

    table = _load_runs(runs, example, column, where)
    with err.status(f"fitting {form} to {len(table)} rows" + (f", {bootstrap} bootstrap resamples" if bootstrap else "")):
        law = laws.fit(table, form, loss=loss, delta=delta, bootstrap=bootstrap, seed=seed, level=level,
                       params=params, flops=flops, eval_set=eval_set, points=points, budget=budget)
    if output:
        law.save(output)
    summary = law.summary()
    summary["optimal"] = {k: law.derived[k] for k in ("a", "b", "N_opt", "D_opt", "tokens_per_param")
                          if k in law.derived} | ({"C": budget} if law.derived else {})
    if as_json:
        emit_json(summary)
    else:
        _print_law(law, budget)
        if output:
            out.print(f"law written to {output}")
    for warning in law.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)


def _print_law(law, budget: float) -> None:
    from rich.table import Table

    t = Table(title=f"{law.form}: {law.provenance.get('formula', '')}", title_justify="left")
    t.add_column("parameter")
    t.add_column("estimate", justify="right")
    t.add_column(f"{law.level:.0%} interval" if law.ci else "", justify="right")
    for name, value in law.params.items():
        t.add_row(name, _fmt(value), _interval(law.ci.get(name)))
    for name, value in law.derived.items():
        label = f"{name} @ C={budget:.3g}" if name in ("N_opt", "D_opt", "tokens_per_param", "loss_at_budget") else name
        t.add_row(label, _fmt(value), _interval(law.ci.get(name)))
    out.print(t)
    if law.objective is not None:
        s = law.starts
        out.print(f"objective {law.objective:.6g} on {law.n_points} points from {law.n_runs} runs; "
                  f"{s.get('converged_to_best')} of {s.get('n')} starts reached the best (rtol {s.get('rtol')}); "
                  f"conventions: {law.conventions.get('params')} N, {law.conventions.get('flops')}")


@app.command()
def optimal(law: str = typer.Option(..., "--law", help="A law JSON file or a published law name."),
            flops: list[float] = typer.Option(..., "--flops", help="Budget C in FLOPs (repeatable)."),
            as_json: bool = JsonOpt) -> None:
    """Compute-optimal N, D, tokens/parameter and loss for a budget."""
    fitted = _resolve_law(law)
    allocations = [fitted.optimal(c).to_dict() for c in flops]
    if as_json:
        emit_json(allocations[0] if len(allocations) == 1 else allocations)
        return
    from rich.table import Table

    t = Table(title=f"compute-optimal allocation under {law} (C = 6ND)", title_justify="left")
    for col in ("C (FLOPs)", "N_opt", "D_opt", "tokens/param", "loss"):
        t.add_column(col, justify="right")
    for a in allocations:
        ci = a["ci"]
        t.add_row(f"{a['C']:.3g}", f"{a['N_opt']:.4g} {_interval(ci.get('N_opt'))}",
                  f"{a['D_opt']:.4g} {_interval(ci.get('D_opt'))}",
                  f"{a['tokens_per_param']:.3g} {_interval(ci.get('tokens_per_param'))}",
                  f"{a['loss']:.4g} {_interval(ci.get('loss'))}")
    out.print(t)


@app.command()
def predict(law: str = typer.Option(..., "--law", help="A law JSON file or a published law name."),
            N: Optional[float] = typer.Option(None, "--N", help="Parameters."),
            D: Optional[float] = typer.Option(None, "--D", help="Training tokens."),
            C: Optional[float] = typer.Option(None, "--C", help="Training FLOPs."),
            S: Optional[float] = typer.Option(None, "--S", help="Optimiser steps."),
            as_json: bool = JsonOpt) -> None:
    """Predicted loss (nats/token) and its bootstrap interval at a point."""
    fitted = _resolve_law(law)
    variables = {k: v for k, v in {"N": N, "D": D, "C": C, "S": S}.items() if v is not None}
    loss = float(fitted.predict(**variables))
    interval = None
    if fitted.samples is not None and len(fitted.samples):
        interval = fitted.interval(**variables)
    result = {"law": law, "form": fitted.form, **variables, "loss": loss, "interval": interval,
              "level": fitted.level if interval else None}
    if as_json:
        emit_json(result)
    else:
        where = ", ".join(f"{k}={v:.4g}" for k, v in variables.items())
        out.print(f"loss at {where}: {loss:.4f} nats/token" +
                  (f"  {fitted.level:.0%} interval {_interval(interval)}" if interval else "  (no interval: law has no bootstrap samples)"))


@app.command()
def isoflop(runs: Optional[str] = RunsArg,
            approach: int = typer.Option(2, "--approach", help="1: minimum-loss envelope; 2: IsoFLOP parabolas."),
            bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for intervals."),
            seed: int = typer.Option(0, "--seed"),
            rtol: float = typer.Option(1e-6, "--rtol", help="Rows whose C agree within this relative tolerance share a budget."),
            params: str = typer.Option("non-embedding", "--params"), flops: str = typer.Option("6ND", "--flops"),
            example: Optional[str] = ExampleOpt, column: Optional[list[str]] = ColumnOpt,
            where: Optional[list[str]] = WhereOpt, as_json: bool = JsonOpt) -> None:
    """IsoFLOP analysis (Chinchilla approaches 1 and 2): N_opt ~ C^a, D_opt ~ C^b."""
    from scalelab.laws import Conventions, isoflop as iso

    table = _load_runs(runs, example, column, where)
    conv = Conventions(params, flops)
    if approach == 2:
        result = iso.isoflop_profiles(table, rtol=rtol, bootstrap=bootstrap, seed=seed, conventions=conv)
    elif approach == 1:
        result = iso.envelope(table, rtol=rtol, bootstrap=bootstrap, seed=seed, conventions=conv)
    else:
        raise InputError(f"--approach: expected 1 or 2, got {approach}")
    if as_json:
        emit_json(result.to_dict())
    else:
        from rich.table import Table

        t = Table(title=f"approach {approach}: N_opt = {result.k_N:.3g} C^{result.a:.3f}, D_opt = {result.k_D:.3g} C^{result.b:.3f}",
                  title_justify="left")
        for col in ("C (FLOPs)", "N_opt", "D_opt", "loss", "points"):
            t.add_column(col, justify="right")
        for b in result.budgets:
            t.add_row(f"{b['C']:.3g}", f"{b['N_opt']:.4g}", f"{b['D_opt']:.4g}", f"{b['loss']:.4g}", str(b.get("n_points", 1)))
        out.print(t)
        if result.ci:
            out.print(f"a = {result.a:.3f} {_interval(result.ci['a'])}, b = {result.b:.3f} {_interval(result.ci['b'])} "
                      f"({result.level:.0%}, {bootstrap} bootstrap resamples)")
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)


@app.command()
def forms(as_json: bool = JsonOpt) -> None:
    """List the functional forms a fit can use."""
    from scalelab.laws import forms as registry

    described = [registry.get(n).describe() for n in registry.names()]
    if as_json:
        emit_json(described)
        return
    for d in described:
        out.print(f"[bold]{d['name']}[/bold]: {d['formula']}  ({', '.join(d['variables'])})", highlight=False)


@app.command()
def published(as_json: bool = JsonOpt) -> None:
    """List the published laws usable as --law NAME, with their sources."""
    from scalelab.laws import published as pub

    laws_ = {n: pub.get(n) for n in pub.names()}
    if as_json:
        emit_json({n: {"form": l.form, "params": l.params, "provenance": l.provenance, "conventions": l.conventions}
                   for n, l in laws_.items()})
        return
    for n, l in laws_.items():
        out.print(f"[bold]{n}[/bold] ({l.form}): {l.provenance['citation']}, {l.provenance['source']}", highlight=False)


@app.command(name="examples")
def list_examples() -> None:
    """List the built-in example run tables (use with --example NAME)."""
    from scalelab import examples as ex

    for name in ex.names():
        e = ex.EXAMPLES[name]
        out.print(f"[bold]{name}[/bold]: {e.description} ({e.citation})", highlight=False)


@app.command()
def demo(output: str = typer.Option("out/demo", "-o", "--output", help="Folder for the demo's outputs.")) -> None:
    """The embedded default: fit, IsoFLOP and plan on the bundled published runs."""
    from scalelab.demo import run_demo

    run_demo(output, out)


# --- end fitting commands ----------------------------------------------------------------------
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
# --- training commands (issue 4) ---
@app.command("train")
def train_cmd(
    config: str = typer.Argument(..., help="run config (TOML), see examples/train_tiny.toml"),
    resume: bool = typer.Option(False, "--resume", help="continue the run from its last checkpoint"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="output folder (default: out_dir in the config)"),
    json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress lines on stderr"),
) -> None:
    """Train one model (or resume it) and write its run-table rows, log, summary and checkpoint."""
    from scalelab.errors import NumericalError
    from scalelab.train.config import load_config
    from scalelab.train.loop import train

    cfg = load_config(config)
    say = None if quiet or json_out else (lambda msg: err.print(msg, markup=False, highlight=False))
    summary = train(cfg, resume=resume, out_dir=out_dir, source=config, log=say)
    if json_out:
        emit_json(summary)
    else:
        losses = ", ".join(f"{k} {v:.4f}" for k, v in summary["final_loss"].items() if v is not None)
        out.print(f"{summary['run_id']}: {summary['status']} at step {summary['step']}/{summary['total_steps']}, "
                  f"N={summary['N']:,} D={summary['D']:,} C={summary['C']:.3g}; loss {losses or '-'}",
                  markup=False, highlight=False, soft_wrap=True)
    if summary["status"] == "diverged":
        raise NumericalError(f"{summary['run_id']}: diverged at step {summary['step']} (records written with "
                             "status 'diverged')")
    if summary["status"] == "interrupted":
        err.print(f"interrupted at step {summary['step']}; checkpoint saved; continue with --resume",
                  markup=False, highlight=False)
        raise typer.Exit(128 + int(summary["signal"] or 2))


@app.command("bench")
def bench_cmd(
    device: str = typer.Option("cpu", "--device", help="cpu or cuda"),
    sizes: str = typer.Option("0.1M,1M,5M", "--sizes", help="non-embedding N of the models, comma-separated"),
    steps: int = typer.Option(20, "--steps", min=1, help="timed training steps per model"),
    precision: str = typer.Option("auto", "--precision", help="auto, bf16 or fp32"),
    batch_tokens: int = typer.Option(16384, "--batch-tokens", min=256, help="tokens per step (multiple of 256)"),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the models"),
    json_out: bool = typer.Option(False, "--json", help="print the results as JSON"),
) -> None:
    """Training throughput: tokens/s, achieved FLOP/s and MFU against the device's peak."""
    from scalelab.train.bench import parse_size, run_bench

    from scalelab.errors import InputError

    if device not in ("cpu", "cuda"):
        raise InputError(f"--device: expected cpu or cuda, got {device!r}")
    if precision not in ("auto", "bf16", "fp32"):
        raise InputError(f"--precision: expected auto, bf16 or fp32, got {precision!r}")
    if batch_tokens % 256:
        raise InputError(f"--batch-tokens: {batch_tokens} is not a multiple of the bench context (256)")
    result = run_bench(device=device, sizes=[parse_size(s) for s in sizes.split(",")], steps=steps,
                       precision=precision, batch_tokens=batch_tokens, compile=compile_model)
    if json_out:
        emit_json(result)
        return
    out.print(f"{result['device_name']}: peak {result['peak_flops'] / 1e12:.3g} TFLOP/s ({result['peak_source']})",
              markup=False, highlight=False)
    for r in result["models"]:
        out.print(f"N={r['N']:>10,} L={r['n_layer']} d={r['d_model']} {r['precision']}: "
                  f"{r['tokens_per_s']:>9,.0f} tok/s  {r['flops_per_s'] / 1e9:8.1f} GFLOP/s  MFU {r['mfu']:.1%}",
                  markup=False, highlight=False)
# --- end training commands ---
# --- ladder commands (issue 8) ---
ladder_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Ladders of training runs: plan a grid, run it (resumably), keep every result.")
app.add_typer(ladder_app, name="ladder")


def _ladder_plan_table(plan) -> None:
    from rich.table import Table

    t = Table(title=f"ladder {plan.spec.name}: {len(plan.jobs)} training job(s), {len(plan.points)} (N, D) point(s)")
    for col in ("run", "N", "shape L/d/h", "batch", "lr", "steps", "D (points)", "C = 6ND", "FLOPs", "est. time"):
        t.add_column(col, justify="left" if col in ("run", "D (points)") else "right")
    for j in plan.jobs:
        pts = ", ".join(f"{p.D:.3g}" for p in j.points)
        t.add_row(j.run_id, f"{j.N:,}", f"{j.n_layer}/{j.d_model}/{j.n_head}", f"{j.batch_tokens:,}", f"{j.lr:.3g}",
                  f"{j.steps:,}", pts, f"{j.C:.3g}", f"{j.compute:.3g}", _fmt_seconds(plan.estimate_s(j)))
    _ladder_print_table(t)
    total = sum(plan.estimate_s(j) for j in plan.jobs)
    out.print(f"total: {plan.compute:.3g} training FLOPs (full count incl. attention and head), estimated "
              f"{_fmt_seconds(total)} at {plan.flops_per_s / 1e9:.3g} GFLOP/s ({plan.flops_per_s_source})",
              markup=False, highlight=False)
    for n in plan.notes:
        out.print(f"note: {n}", markup=False, highlight=False)
    for w in plan.warnings:
        err.print(f"warning: {w}", markup=False, highlight=False)


def _ladder_print_table(t) -> None:
    """Tables are wide: when stdout is not a terminal, don't squeeze them into 80 columns."""
    if out.is_terminal:
        out.print(t)
        return
    old = out.width
    out.width = max(old, 160)
    try:
        out.print(t)
    finally:
        out.width = old


def _fmt_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


@ladder_app.command("plan")
def ladder_plan(spec: str = typer.Argument(..., help="ladder spec (TOML), see examples/ladder_tiny.toml"),
                out_dir: Optional[str] = typer.Option(None, "--out", help="ladder folder (default: out_dir in the spec)"),
                flops_per_s: Optional[float] = typer.Option(None, "--flops-per-s", help="throughput for the estimates"),
                json_out: bool = JsonOpt) -> None:
    """Print the planned runs (N, D, C, steps, estimated time) without training; same as `run --dry-run`."""
    from scalelab.ladder.runner import load_plan

    plan = load_plan(spec, out_dir, flops_per_s)
    if json_out:
        emit_json(plan.to_dict())
    else:
        _ladder_plan_table(plan)


@ladder_app.command("run")
def ladder_run(
    spec: str = typer.Argument(..., help="ladder spec (TOML)"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="ladder folder (default: out_dir in the spec)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the planned runs and estimates; train nothing"),
    executor: str = typer.Option("sequential", "--executor", help="sequential, pool or ray"),
    workers: int = typer.Option(1, "--workers", min=1, help="parallel workers (pool/ray); K > 1 implies pool"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local instance)"),
    cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help="Ray: CPUs reserved per run"),
    gpus_per_run: float = typer.Option(0.0, "--gpus-per-run", help="Ray: GPUs reserved per run"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="put failed runs back in the queue first"),
    lease_s: float = typer.Option(120.0, "--lease", help="seconds without a heartbeat before a claim is dead"),
    flops_per_s: Optional[float] = typer.Option(None, "--flops-per-s", help="throughput for the estimates"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
    json_out: bool = JsonOpt,
) -> None:
    """Run the ladder's pending runs: skip finished ones, resume interrupted ones from their checkpoints."""
    from scalelab.ladder.runner import (Interrupted, LiveProgress, init_ladder, ladder_state, load_plan,
                                        prepare_data, run_pool, run_ray, work)

    if executor not in ("sequential", "pool", "ray"):
        raise InputError(f"--executor: expected sequential, pool or ray, got {executor!r}")
    if executor == "sequential" and workers > 1:
        executor = "pool"
    plan = load_plan(spec, out_dir, flops_per_s)
    if dry_run:
        if json_out:
            emit_json(plan.to_dict())
        else:
            _ladder_plan_table(plan)
        return
    for w in plan.warnings:
        err.print(f"warning: {w}", markup=False, highlight=False)
    say = (lambda m: None) if quiet or json_out else (lambda m: err.print(m, markup=False, highlight=False))
    prepare_data(plan, say)
    reg = init_ladder(plan, spec, lease_s)
    if retry_failed:
        n = reg.requeue(("failed",))
        say(f"{n} failed run(s) queued again")
    path = reg.path
    counts = reg.counts()
    say(f"ladder {plan.spec.name}: {path} — {counts['done']} done, {counts['queued']} queued, "
        f"{counts['running']} running, {counts['diverged']} diverged, {counts['failed']} failed")
    show = not quiet and not json_out and err.is_terminal
    progress = LiveProgress(path, console=err) if show else None
    interrupted = None
    try:
        if progress:
            progress.__enter__()
        if executor == "sequential":
            try:
                work(path, lease_s=lease_s, log=(lambda m: None) if show else say)
            except Interrupted as exc:
                interrupted = str(exc)
        elif executor == "pool":
            run_pool(path, workers, lease_s=lease_s, quiet=show or quiet or json_out)
        else:
            run_ray(path, workers, address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                    lease_s=lease_s)
    finally:
        if progress:
            progress.__exit__(None, None, None)
    st = ladder_state(reg)
    reg.close()
    if json_out:
        emit_json({"registry": str(path), "counts": st["counts"], "flops_done": st["flops_done"],
                   "flops_total": st["flops_total"], "interrupted": interrupted})
    else:
        c = st["counts"]
        out.print(f"ladder {plan.spec.name}: {c['done']} done, {c['diverged']} diverged, {c['failed']} failed, "
                  f"{c['queued']} queued, {c['running']} running elsewhere; registry {path}; "
                  f"export with `scalelab ladder export {path.parent} -o runs.csv`",
                  markup=False, highlight=False, soft_wrap=True)
    if interrupted:
        err.print(f"interrupted: {interrupted}", markup=False, highlight=False)
        raise typer.Exit(130)


@ladder_app.command("status")
def ladder_status(ladder: str = typer.Argument(..., help="ladder folder, its ladder.db, or the spec"),
                  json_out: bool = JsonOpt) -> None:
    """The table of runs and their states (safe while another process runs the ladder)."""
    from rich.table import Table

    from scalelab.ladder.registry import Registry
    from scalelab.ladder.runner import ladder_state, status_rows

    with Registry.open(ladder) as reg:
        rows = status_rows(reg)
        st = ladder_state(reg)
    if json_out:
        emit_json({"counts": st["counts"], "flops_done": st["flops_done"], "flops_total": st["flops_total"],
                   "runs": rows})
        return
    t = Table(title=f"{st['finished']}/{st['jobs']} runs finished, FLOPs {st['flops_done']:.3g}/{st['flops_total']:.3g}")
    for col in ("run", "status", "N", "D", "step", "val loss", "tok/s", "wall", "tries", "worker"):
        t.add_column(col, justify="left" if col in ("run", "status", "worker") else "right")
    for r in rows:
        t.add_row(r["run_id"], r["status"], f"{r['N']:,}", f"{r['D']:.3g}", f"{r['step'] or 0}/{r['steps']}",
                  f"{r['val_loss']:.4f}" if r["val_loss"] is not None else "-",
                  f"{r['tokens_per_s']:,.0f}" if r["tokens_per_s"] else "-",
                  _fmt_seconds(r["wall_s"]) if r["wall_s"] else "-", str(r["attempts"]), r["worker"] or "")
    _ladder_print_table(t)
    for r in rows:
        if r["error"]:
            err.print(f"{r['run_id']}: {r['error']}", markup=False, highlight=False)


@ladder_app.command("export")
def ladder_export(ladder: str = typer.Argument(..., help="ladder folder, its ladder.db, or the spec"),
                  output: str = typer.Option(..., "-o", "--output", help="run table to write (.csv, .parquet, .jsonl)"),
                  json_out: bool = JsonOpt) -> None:
    """Write the run table (every eval point of every finished run; diverged runs carry status 'diverged')."""
    from scalelab.ladder.registry import Registry

    with Registry.open(ladder) as reg:
        n = reg.export(output)
        diverged = reg.counts()["diverged"]
    if json_out:
        emit_json({"output": output, "rows": n, "diverged_runs": diverged})
        return
    out.print(f"wrote {n} rows to {output}", markup=False, highlight=False)
    if diverged:
        err.print(f"warning: {diverged} diverged run(s) included with status 'diverged'; `scalelab fit` leaves "
                  "them out by default", markup=False, highlight=False)

@ladder_app.command("sweep-lr")
def ladder_sweep_lr(
    spec: str = typer.Argument(..., help="ladder spec (TOML)"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="ladder folder (the sweep goes in its sweep-lr/)"),
    sizes: int = typer.Option(2, "--sizes", min=1, help="how many of the smallest sizes to sweep"),
    scales: str = typer.Option("0.25,0.5,1,2,4", "--scales", help="multipliers of the rule's learning rate"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the sweep's runs; train nothing"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress lines"),
    json_out: bool = JsonOpt,
) -> None:
    """Check the learning-rate rule: train the smallest sizes at several multipliers of its lr."""
    import math

    from scalelab.ladder.runner import Interrupted, init_ladder, load_plan, prepare_data, work
    from scalelab.ladder.sweep import sweep_plan, sweep_report

    try:
        mult = [float(x) for x in scales.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--scales: expected comma-separated numbers, got {scales!r}") from None
    splan = sweep_plan(load_plan(spec, out_dir), sizes, mult)
    if dry_run:
        if json_out:
            emit_json(splan.to_dict())
        else:
            _ladder_plan_table(splan)
        return
    say = (lambda m: None) if quiet or json_out else (lambda m: err.print(m, markup=False, highlight=False))
    prepare_data(splan, say)
    reg = init_ladder(splan, spec)
    try:
        work(reg.path, log=say)
    except Interrupted as exc:
        err.print(f"interrupted: {exc}", markup=False, highlight=False)
        raise typer.Exit(130)
    report = sweep_report(reg, splan)
    reg.close()
    if json_out:
        emit_json(report)
        return
    from rich.table import Table

    t = Table(title=f"lr sweep: final {report['eval_set']} loss per multiplier of the rule")
    all_scales = sorted({r["scale"] for s in report["sizes"] for r in s["runs"]})
    t.add_column("N", justify="right")
    for sc in all_scales:
        t.add_column(f"×{sc:g}", justify="right")
    t.add_column("best", justify="right")
    for s in report["sizes"]:
        by = {r["scale"]: r for r in s["runs"]}
        cells = []
        for sc in all_scales:
            r = by.get(sc)
            loss = r["loss"] if r else None
            cells.append("-" if loss is None else ("diverged" if not math.isfinite(loss) else f"{loss:.4f}"))
        best = "-" if s["best_scale"] is None else f"×{s['best_scale']:g} (lr {s['best_lr']:.3g})" + (" at edge" if s["at_edge"] else "")
        t.add_row(f"{s['N']:,}", *cells, best)
    _ladder_print_table(t)
    if report["suggested_lr_scale"] is not None:
        out.print(f"suggested [hparams] lr_scale ≈ {report['suggested_lr_scale']:.3g} (geometric mean of the best "
                  "multipliers)", markup=False, highlight=False)
    if any(s["at_edge"] for s in report["sizes"]):
        err.print("warning: a best multiplier is at the edge of the sweep; widen --scales", markup=False, highlight=False)

@ladder_app.command("demo")
def ladder_demo(
    spec: Optional[str] = typer.Option(None, "--spec", help="ladder spec (default: the embedded demo ladder)"),
    out_dir: Optional[str] = typer.Option(None, "-o", "--out", help="ladder folder (default: out_dir of the spec)"),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0, help="run-level bootstrap refits of chinchilla"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress lines"),
    json_out: bool = JsonOpt,
) -> None:
    """Train a ladder, then fit chinchilla and Kaplan, backtest the largest size and plan (candidate `scalelab demo`)."""
    from scalelab.ladder.demo import run_ladder_demo

    say = (lambda m: None) if quiet or json_out else (lambda m: err.print(m, markup=False, highlight=False))
    s = run_ladder_demo(spec, out_dir, log=say, bootstrap=bootstrap)
    if json_out:
        emit_json(s)
        return
    c = s["fits"].get("chinchilla", {})
    if "params" in c:
        out.print("chinchilla: " + ", ".join(f"{k} = {v:.4g}" for k, v in c["params"].items()) +
                  f"; identifiable: {c['identifiable']['no_parameter_on_bound'] and bool(c['identifiable']['finite_intervals'])}",
                  markup=False, highlight=False)
    bt = s["backtest"]
    if "max_abs_rel_error" in bt:
        out.print(f"backtest: N = {bt['held_out_N']:,} predicted from {len(bt['fit_on_sizes'])} smaller sizes, "
                  f"max |error| {bt['max_abs_rel_error']:.2%} over {len(bt['points'])} point(s)", markup=False,
                  highlight=False)
    for v in s["trend_violations"]:
        err.print(f"warning: {v}", markup=False, highlight=False)
    out.print(f"{s['counts']['done']} runs, {s['rows']} rows, {s['wall_s']:.0f} s; summary in "
              f"{s['ladder']}/demo_summary.json", markup=False, highlight=False)
# --- end ladder commands ---


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
