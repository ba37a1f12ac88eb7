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
        form: str = typer.Option("chinchilla", "--form", help="Functional form (see `scalelab forms`), or auto: "
                                 "choose by out-of-sample error with the largest size held out."),
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
        checklist_out: Optional[str] = typer.Option(
            None, "--checklist", help="Write the fit's (Mis)Fitting checklist (Li et al. 2025) as JSON here."),
        example: Optional[str] = ExampleOpt, column: Optional[list[str]] = ColumnOpt,
        where: Optional[list[str]] = WhereOpt, as_json: bool = JsonOpt) -> None:
    """Fit a scaling law to a run table (Chinchilla approach 3 by default)."""
    from scalelab import laws

    table = _load_runs(runs, example, column, where)
    with err.status(f"fitting {form} to {len(table)} rows" + (f", {bootstrap} bootstrap resamples" if bootstrap else "")):
        law = laws.fit(table, form, loss=loss, delta=delta, bootstrap=bootstrap, seed=seed, level=level,
                       params=params, flops=flops, eval_set=eval_set, points=points, budget=budget)
    from scalelab.report import checklist

    items = checklist.build(law, table)
    if output:
        law.save(output)
    if checklist_out:
        from scalelab import atomic

        atomic.write_text(checklist_out, json.dumps(checklist.to_json(items), indent=2, default=str) + "\n")
    summary = law.summary()
    summary["checklist"] = checklist.to_json(items)
    summary["optimal"] = {k: law.derived[k] for k in ("a", "b", "N_opt", "D_opt", "tokens_per_param")
                          if k in law.derived} | ({"C": budget} if law.derived else {})
    if as_json:
        emit_json(summary)
    else:
        _print_law(law, budget)
        if "auto" in law.options:
            errors = law.options["auto"]["errors"]
            out.print(f"form chosen: {law.form}, by out-of-sample mean |error| with the largest size held out: " +
                      ", ".join(f"{k} {v['mean_abs_rel_error']:.2%}" if "mean_abs_rel_error" in v else f"{k} (n/a)"
                                for k, v in errors.items()), highlight=False)
        if output:
            out.print(f"law written to {output}")
    for note in law.data.get("notes", []):
        if note.startswith("left out"):  # e.g. diverged runs: the user must see what the fit did not use
            err.print(f"warning: {note}", markup=False, highlight=False)
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


# --- end fitting commands ----------------------------------------------------------------------
# --- data commands (issue 5) ---
data_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Corpora, tokenizers, token shards and held-out sets.")
app.add_typer(data_app, name="data")


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
    from scalelab.data.prepare import prepare
    from scalelab.data.spec import spec_from_options

    spec_obj = spec_from_options(spec, source or [], eval_source or [], name=name, tokenizer=tokenizer,
                                 vocab_size=vocab_size, text_field=text_field, max_docs=max_docs,
                                 max_doc_bytes=max_doc_bytes, decode_errors=decode_errors, seed=seed,
                                 validation=validation, test=test, near_dedup=not no_near_dedup)
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


# --- plan & backtest commands (issue 6) ---
def _num(value: Optional[str], name: str) -> Optional[float]:
    """A quantity given on the command line: plain or scientific notation, or with a suffix (27B, 14T, 1e21)."""
    if value is None:
        return None
    text = str(value).strip().replace(",", "").replace("_", "")
    scale = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}
    factor = 1.0
    if text and text[-1].lower() in scale and not text[-2:].lower().startswith("e"):
        factor, text = scale[text[-1].lower()], text[:-1]
    try:
        return float(text) * factor
    except ValueError:
        raise InputError(f"{name}: expected a number (e.g. 1e21, 27e9, 27B, 14T), got {value!r}") from None


def _print_kv(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)


def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _ratio(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _money(x: Optional[float]) -> str:
    return "" if x is None else f"{x:,.0f}"


@app.command()
def plan(law: Optional[str] = typer.Option(None, "--law", help="A law JSON file or a published law name (see `scalelab published`)."),
         flops: Optional[str] = typer.Option(None, "--flops", help="Budget in training FLOPs (e.g. 1e23)."),
         gpus: Optional[str] = typer.Option(None, "--gpus", help="Number of devices."),
         hours: Optional[str] = typer.Option(None, "--hours", help="Wall-clock hours (with --gpus)."),
         days: Optional[str] = typer.Option(None, "--days", help="Wall-clock days (with --gpus)."),
         money: Optional[str] = typer.Option(None, "--money", help="Budget in money (with --price)."),
         price: Optional[str] = typer.Option(None, "--price", help="Price per device-hour."),
         device: Optional[str] = typer.Option(None, "--device", help="A100, H100, H100-PCIe, H200, B200, GB200, MI300X, TPU-v4, TPU-v5p."),
         peak_flops: Optional[str] = typer.Option(None, "--peak-flops", help="Peak FLOP/s per device, for a device not in the table."),
         mfu: Optional[str] = typer.Option(None, "--mfu", help="Model FLOPs utilisation, a fraction (default 0.4)."),
         inference_tokens: Optional[str] = typer.Option(None, "--inference-tokens", help="Tokens the model will serve: minimise training + inference FLOPs (Sardana et al. 2024)."),
         unique_tokens: Optional[str] = typer.Option(None, "--unique-tokens", help="Unique training tokens available: plan with repeated data (Muennighoff et al. 2023)."),
         N: Optional[str] = typer.Option(None, "--N", help="Converse: parameters of a given model (active for MoE)."),
         D: Optional[str] = typer.Option(None, "--D", help="Converse: its training tokens."),
         claim_days: Optional[str] = typer.Option(None, "--claim-days", help="Converse: a claimed training time to check (needs --gpus)."),
         as_json: bool = JsonOpt) -> None:
    """From a budget to a model (N, D, loss, time, cost); or, with --N and --D, time and cost of a given model."""
    from scalelab.plan import budget as bud, planner

    q = {k: _num(v, "--" + k.replace("_", "-")) for k, v in dict(
        flops=flops, gpus=gpus, hours=hours, days=days, money=money, price=price, peak_flops=peak_flops, mfu=mfu,
        inference_tokens=inference_tokens, unique_tokens=unique_tokens, N=N, D=D, claim_days=claim_days).items()}
    if q["inference_tokens"] is not None and not q["inference_tokens"] >= 0:
        raise InputError(f"--inference-tokens: expected a non-negative number, got {inference_tokens}")
    if N is not None or D is not None or claim_days is not None:
        if any(q[k] is not None for k in ("flops", "hours", "days", "money", "inference_tokens", "unique_tokens")):
            raise InputError("the converse (--N, --D) takes no budget (--flops/--hours/--days/--money) and no "
                             "--inference-tokens/--unique-tokens")
        result = bud.converse(q["N"], q["D"], device=device, peak_flops=q["peak_flops"], mfu=q["mfu"], gpus=q["gpus"],
                              price=q["price"], claimed_days=q["claim_days"]).to_dict()
        if law:
            from scalelab.plan import catalog

            fitted = _resolve_law(law)
            model = catalog.Model("given", result["N"], result["D"], {})
            result["law"] = planner.describe_law(fitted, law)
            result["frontier"] = catalog.distance(model, fitted)
        if as_json:
            emit_json(result)
        else:
            rows = [("N (parameters)", f"{result['N']:.4g}"), ("D (tokens)", f"{result['D']:.4g}"),
                    ("tokens / parameter", f"{result['tokens_per_param']:.3g}"), ("C = 6ND (FLOPs)", f"{result['C']:.4g}"),
                    ("device", f"{result['device']['name']} ({result['device']['peak_flops']:.4g} FLOP/s bf16 dense)"),
                    ("MFU", f"{result['mfu']:.0%}"), ("device-hours", f"{result['gpu_hours']:,.0f}")]
            if result["wall_days"] is not None:
                rows.append((f"wall time on {result['gpus']:g} devices", f"{result['wall_days']:.1f} days"))
            if result["cost"] is not None:
                rows.append(("cost", _money(result["cost"])))
            if result["required_mfu"] is not None:
                rows.append((f"MFU needed for {result['claimed_days']:g} days", f"{result['required_mfu']:.0%}"))
            if "frontier" in result:
                f = result["frontier"]
                rows += [(f"under {law}", f"{f['verdict']} (optimum {f['optimal_tokens_per_param']:.3g} tokens/param)"),
                         ("predicted loss", f"{f['predicted_loss']:.4f} (optimum at this C: {f['optimal_loss']:.4f})")]
            _print_kv("time and cost of a given model", rows)
        for flag in result["flags"]:
            err.print(f"warning: {flag}", markup=False, highlight=False)
        return
    if not law:
        raise InputError("--law: give a law file or a published law name (e.g. chinchilla-2022) to plan with")
    fitted = _resolve_law(law)
    b = bud.resolve(flops=q["flops"], gpus=q["gpus"], hours=q["hours"], days=q["days"], device=device,
                    peak_flops=q["peak_flops"], mfu=q["mfu"], money=q["money"], price=q["price"])
    result = planner.make_plan(fitted, b, law, inference_tokens=q["inference_tokens"], unique_tokens=q["unique_tokens"])
    if as_json:
        emit_json(result)
    else:
        r = result["recommended"]
        rows = [("budget C (FLOPs)", f"{b.C:.4g} (given as {b.given_as})")]
        if b.device:
            rows.append(("device", f"{b.device['name']} ({b.device['peak_flops']:.4g} FLOP/s bf16 dense), MFU {b.mfu:.0%}"))
        rows += [("N (parameters)", f"{r['N']:.4g}"), ("D (tokens)", f"{r['D']:.4g}"),
                 ("tokens / parameter", f"{r['tokens_per_param']:.3g}"),
                 ("predicted loss", f"{r['loss']:.4f}" + (f"  {r['level']:.0%} interval {_interval(r['loss_interval'])}"
                                                          if r.get("loss_interval") else "  (no interval: law has no bootstrap samples)"))]
        if "gpu_hours" in r:
            rows.append(("device-hours", f"{r['gpu_hours']:,.0f}"))
        if "wall_days" in r:
            rows.append(("wall time", f"{r['wall_days']:.1f} days"))
        if "cost" in r:
            rows.append(("cost", _money(r["cost"])))
        _print_kv(f"{r['kind']} plan under {law}", rows)
        if "note" in r:
            out.print(r["note"], highlight=False)
    for note in b.notes:
        err.print(f"note: {note}", markup=False, highlight=False)


@app.command()
def catalog(law: str = typer.Option("besiroglu-2024", "--law", help="Law whose compute-optimal frontier to measure against."),
            model: Optional[list[str]] = typer.Option(None, "--model", help="Only these models (repeatable)."),
            as_json: bool = JsonOpt) -> None:
    """Well-known models (parameters, tokens, FLOPs, with citations) and their distance from compute-optimal."""
    from scalelab.plan import catalog as cat

    fitted = _resolve_law(law)
    rows = cat.table(fitted, model)
    if as_json:
        emit_json({"law": law, "models": rows})
        return
    from rich.table import Table

    t = Table(title=f"published models against the compute-optimal frontier of {law} (C = 6 N_active D)", title_justify="left")
    for col in ("model", "params", "active", "tokens", "D/N", "C", "opt D/N", "verdict"):
        t.add_column(col, justify="left" if col in ("model", "verdict") else "right", no_wrap=True)
    for r in rows:
        f = r["frontier"]
        t.add_row(r["name"], _si(r["params"]), _si(r["active_params"]) if r["active_params"] else "",
                  _si(r["tokens"]), _ratio(r["tokens_per_param"]), f"{r['flops_6ND']:.1e}".replace("e+", "e"),
                  _ratio(f["optimal_tokens_per_param"]), f["verdict"].replace("-trained", ""))
    out.print(t)
    out.print("sources: `scalelab catalog --json` lists the citation of every figure", highlight=False)


@app.command(name="devices")
def list_devices(as_json: bool = JsonOpt) -> None:
    """Accelerators known to `plan`: dense bf16 peak FLOP/s and the source of each figure."""
    from scalelab.plan import devices as dev

    table = [dev.get(n).to_dict() for n in dev.names()]
    if as_json:
        emit_json(table)
        return
    for d in table:
        out.print(f"[bold]{d['name']}[/bold]: {d['peak_flops'] / 1e12:,.1f} TFLOP/s bf16 dense, {d['description']} "
                  f"(source: {d['source']})", highlight=False)


@app.command()
def backtest(runs: Optional[str] = RunsArg,
             form: str = typer.Option("chinchilla", "--form", help="Functional form to backtest (see `scalelab forms`)."),
             split: str = typer.Option("compute", "--split", help="compute: hold out runs above a compute threshold; size: leave one size out, largest first."),
             max_flops: Optional[str] = typer.Option(None, "--max-flops", help="Compute threshold: fit runs with C at most this."),
             ratio: float = typer.Option(10.0, "--ratio", help="Without --max-flops: threshold = largest run's C / ratio."),
             folds: int = typer.Option(3, "--folds", help="Sizes to hold out with --split size."),
             bootstrap: int = typer.Option(100, "--bootstrap", help="Bootstrap resamples for prediction intervals (0: none)."),
             seed: int = typer.Option(0, "--seed"),
             level: float = typer.Option(0.95, "--level"),
             params: str = typer.Option("non-embedding", "--params"), flops: str = typer.Option("6ND", "--flops"),
             output: Optional[str] = typer.Option(None, "-o", "--output", help="Write the backtest as JSON here."),
             example: Optional[str] = ExampleOpt, column: Optional[list[str]] = ColumnOpt,
             where: Optional[list[str]] = WhereOpt, as_json: bool = JsonOpt) -> None:
    """Fit on small runs, predict the held-out large ones: relative error, interval coverage, compute ratio."""
    from scalelab import atomic
    from scalelab.laws.backtest import backtest as run_backtest

    table = _load_runs(runs, example, column, where)
    with err.status(f"backtesting {form} ({split} split)"):
        result = run_backtest(table, form, split=split, threshold=_num(max_flops, "--max-flops"), ratio=ratio,
                              folds=folds, bootstrap=bootstrap, seed=seed, level=level, params=params, flops=flops)
    d = result.to_dict()
    if output:
        atomic.write_text(output, json.dumps(d, indent=2, default=_json_default) + "\n")
    if as_json:
        emit_json(d)
    else:
        from rich.table import Table

        for fold in result.folds:
            t = Table(title=f"{form}: held out {fold.held_out}; fitted {fold.fit_runs} runs (C <= {fold.max_fit_flops:.3g}), "
                            f"in-sample mean |error| {fold.in_sample_mean_abs_rel_error:.2%}", title_justify="left")
            for col in ("N", "D", "C/Cfit", "loss", "pred", "error", f"{level:.0%} interval", "in"):
                t.add_column(col, justify="right")
            for p in fold.predictions:
                t.add_row(f"{p['N']:.3g}", f"{p['D']:.3g}", f"{p['compute_ratio']:.3g}", f"{p['loss']:.4f}",
                          f"{p['predicted']:.4f}", f"{p['rel_error']:+.2%}", _interval(p.get("interval")),
                          {True: "yes", False: "NO"}.get(p.get("covered"), ""))
            out.print(t)
        s = result.summary
        out.print(f"{s['n_predictions']} predictions: mean |error| {s['mean_abs_rel_error']:.2%}, max {s['max_abs_rel_error']:.2%}, "
                  f"bias {s['mean_rel_error']:+.2%}" + (f", coverage {s['coverage']:.0%} at {level:.0%}" if s.get("coverage") is not None else "")
                  + f"; up to {s['max_compute_ratio']:.3g}x the largest fitted compute", highlight=False)
    for fold in result.folds:
        for warning in fold.warnings:
            err.print(f"warning ({fold.held_out}): {warning}", markup=False, highlight=False)


@app.command()
def watch(run: str = typer.Argument(..., help="A run table with the run's learning curve (one row per evaluation)."),
          law: str = typer.Option(..., "--law", help="A law JSON file or a published law name."),
          run_id: Optional[str] = typer.Option(None, "--run", help="Which run, when the table has several."),
          tolerance: float = typer.Option(0.03, "--tolerance", help="Relative slack around the law's interval."),
          spike: float = typer.Option(0.05, "--spike", help="Relative rise between evaluations flagged as a spike."),
          skip: float = typer.Option(0.1, "--skip", help="Fraction of the run's tokens not judged (warm-up)."),
          patience: int = typer.Option(2, "--patience", help="Consecutive points outside the band that make a departure."),
          params: str = typer.Option("non-embedding", "--params"), flops: str = typer.Option("6ND", "--flops"),
          column: Optional[list[str]] = ColumnOpt, as_json: bool = JsonOpt) -> None:
    """Compare a run's learning curve with its law's prediction and flag departures (divergence, spikes, drift)."""
    from scalelab.plan.watch import read_curve, watch as run_watch

    fitted = _resolve_law(law)
    table, nonfinite = read_curve(run, _pairs(column, "--column"))
    result = run_watch(table, fitted, run_id=run_id, nonfinite=nonfinite, tolerance=tolerance, spike=spike, skip=skip,
                       patience=patience, params=params, flops=flops, law_name=law)
    if as_json:
        emit_json(result.to_dict())
    else:
        from rich.table import Table

        t = Table(title=f"run {result.run_id} against {law}: {result.verdict}", title_justify="left")
        for col in ("D", "loss", "predicted", "band", "error", "status"):
            t.add_column(col, justify="right")
        for p in result.points:
            t.add_row(f"{p['D']:.4g}", f"{p['loss']:.4f}", f"{p['predicted']:.4f}", _interval(p["band"]),
                      "" if p["rel_error"] is None else f"{p['rel_error']:+.2%}", p["status"])
        out.print(t)
    if result.verdict != "ok":
        f = result.first_departure
        err.print(f"warning: run {result.run_id} {result.verdict} at D={f['D']:.4g} (loss {f['loss']:.4g}, "
                  f"law {f['predicted']:.4g})", markup=False, highlight=False)
# --- end plan & backtest commands ---
# --- report commands (issue 7) ---
def _report_input(runs: Optional[str], example: Optional[str], column: Optional[list[str]],
                  where: Optional[list[str]], manifest: Optional[str]):
    """(table, manifest, description) from RUNS (a file or a ladder directory) or --example."""
    from pathlib import Path

    from scalelab.report import html as report_html

    found = None
    if runs is not None and example is None and Path(runs).is_dir():
        table, found, what = report_html.load_input(runs)
        conditions = _pairs(where, "--where")
        if conditions:
            table = table.where(**conditions)
    else:
        table = _load_runs(runs, example, column, where)
        found = report_html._manifest_for(table, None)
        what = f"example {example}" if example else f"run table {runs}"
    if manifest:
        from scalelab.data.prepare import read_manifest

        found = read_manifest(manifest)
    return table, found, what


@app.command()
def report(runs: Optional[str] = typer.Argument(None, help="Run table (.csv, .parquet, .jsonl) or a ladder directory.",
                                                show_default=False),
           output: str = typer.Option("report.html", "-o", "--output", help="The HTML file to write."),
           form: str = typer.Option("chinchilla", "--form", help="Functional form to fit (see `scalelab forms`)."),
           law: Optional[str] = typer.Option(None, "--law", help="Report this fitted law (JSON) instead of fitting."),
           budget: float = typer.Option(5.76e23, "--budget", help="Budget C (FLOPs) for the plan and sensitivity."),
           bootstrap: int = typer.Option(200, "--bootstrap", help="Run-level bootstrap resamples for intervals."),
           seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
           loss: str = typer.Option("huber", "--loss", help="Fitting loss: huber or mse."),
           delta: float = typer.Option(1e-3, "--delta", help="Huber delta."),
           params: str = typer.Option("non-embedding", "--params", help="Parameter convention: non-embedding, total, active."),
           flops: str = typer.Option("6ND", "--flops", help="FLOP convention: 6ND, 6ND+attention, table."),
           sensitivity_: bool = typer.Option(True, "--sensitivity/--no-sensitivity", help="Include the sensitivity analysis."),
           fast: bool = typer.Option(False, "--fast", help="Sensitivity refits from a reduced start grid (108 starts)."),
           manifest: Optional[str] = typer.Option(None, "--manifest", help="Data directory whose manifest.json feeds the checklist."),
           figures: Optional[str] = typer.Option(None, "--figures", help="Also write every figure as PNG and SVG here."),
           checklist_out: Optional[str] = typer.Option(None, "--checklist", help="Also write the checklist as JSON here (and .md beside)."),
           example: Optional[str] = ExampleOpt, column: Optional[list[str]] = ColumnOpt,
           where: Optional[list[str]] = WhereOpt, as_json: bool = JsonOpt) -> None:
    """One self-contained HTML report: laws, figures, plan, backtest, checklist, sensitivity."""
    import json as _json
    import shlex
    from pathlib import Path

    from scalelab import atomic
    from scalelab.report import checklist as cl
    from scalelab.report import html as report_html
    from scalelab.report.sensitivity import FAST_GRID

    table, found, what = _report_input(runs, example, column, where, manifest)
    fitted = _resolve_law(law) if law else None
    given = [(runs, None), ("--example", example), ("-o", output), ("--form", form if not law else None),
             ("--law", law), ("--budget", budget if budget != 5.76e23 else None),
             ("--bootstrap", bootstrap if bootstrap != 200 else None), ("--seed", seed or None),
             ("--loss", loss if loss != "huber" else None), ("--delta", delta if delta != 1e-3 else None),
             ("--params", params if params != "non-embedding" else None), ("--flops", flops if flops != "6ND" else None),
             ("--manifest", manifest)] + [("--column", c) for c in column or []] + [("--where", w) for w in where or []]
    command = "scalelab report " + " ".join(
        shlex.quote(str(flag)) if value is None else f"{flag} {shlex.quote(str(value))}"
        for flag, value in given if flag is not None and (value is not None or flag == runs)) + \
        ("" if sensitivity_ else " --no-sensitivity") + (" --fast" if fast else "")
    with err.status("building the report") as status:
        rep = report_html.build(table, form=form, law=fitted, budget=budget, bootstrap=bootstrap, seed=seed,
                                params=params, flops=flops, loss=loss, delta=delta, manifest=found,
                                sensitivity=sensitivity_, sensitivity_grid=FAST_GRID if fast else None,
                                command=command, progress=lambda m: status.update(m))
    try:
        rep.write(output, figures_dir=figures)
    finally:
        rep.close()
    if checklist_out:
        record = cl.to_json(rep.checklist)
        atomic.write_text(checklist_out, _json.dumps(record, indent=2, default=str) + "\n")
        atomic.write_text(Path(checklist_out).with_suffix(".md"), cl.to_markdown(rep.checklist))
    if as_json:
        emit_json({"output": output, "input": what, "sections": rep.sections, "figures": figures,
                   "checklist": checklist_out, "law": rep.law.summary()})
    else:
        for key, state in rep.sections.items():
            if state != "ok":
                err.print(f"note: {key}: {state}", markup=False, highlight=False)
        err.file.flush()
        out.print(f"report written to {output} ({what}; {sum(v == 'ok' for v in rep.sections.values())} of "
                  f"{len(rep.sections)} sections filled)", markup=False, highlight=False)
    for warning in rep.law.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)


@app.command()
def sensitivity(runs: Optional[str] = typer.Argument(None, help="Run table (.csv, .parquet, .jsonl) or a ladder directory.",
                                                     show_default=False),
                form: str = typer.Option("chinchilla", "--form", help="Baseline functional form (a law in N and D)."),
                budget: float = typer.Option(5.76e23, "--budget", help="Budget C (FLOPs) at which tokens/parameter is compared."),
                loss: str = typer.Option("huber", "--loss", help="Baseline fitting loss: huber or mse."),
                delta: float = typer.Option(1e-3, "--delta", help="Baseline Huber delta."),
                params: str = typer.Option("non-embedding", "--params", help="Baseline parameter convention."),
                flops: str = typer.Option("6ND", "--flops", help="Baseline FLOP convention."),
                fast: bool = typer.Option(False, "--fast", help="Refit from a reduced start grid (108 starts)."),
                example: Optional[str] = ExampleOpt, column: Optional[list[str]] = ColumnOpt,
                where: Optional[list[str]] = WhereOpt, as_json: bool = JsonOpt) -> None:
    """Refit under alternative choices (form, loss, init, range, conventions); show how the answer moves."""
    from scalelab.report import sensitivity as sens

    table, _, _ = _report_input(runs, example, column, where, None)
    with err.status("refitting") as status:
        result = sens.analyse(table, form, budget=budget, params=params, flops=flops, loss=loss, delta=delta,
                              grid=sens.FAST_GRID if fast else None, progress=lambda n: status.update(f"refitting: {n}"))
    if as_json:
        emit_json(result.to_dict())
        return
    from rich import box
    from rich.table import Table

    t = Table(title=f"sensitivity of {form} on {table.source}; tokens/param and N_opt at C = {budget:.3g} "
                    "(red: highest, blue: lowest in each column)",
              title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    cols = ("alpha", "beta", "a", "b", "N_opt", "tokens_per_param")
    t.add_column("variant (by kind of choice)", overflow="fold", min_width=22)
    for c in cols:
        t.add_column({"tokens_per_param": "tok/param"}.get(c, c), justify="right")
    spread = result.spread
    skipped = []
    group = None
    for r in result.rows:
        if r["group"] != group and group is not None:
            t.add_section()
        group = r["group"]
        label = r["name"]
        if r["status"] != "ok":
            skipped.append(f"{label}: {r['status']}: {r.get('reason') or ''}")
            t.add_row(f"[dim]{label}[/dim]", *(["[dim]n/a[/dim]"] * len(cols)))
            continue
        cells = []
        for c in cols:
            value = r.get(c)
            text = "-" if value is None else f"{value:.3g}"
            s = spread.get(c, {})
            if value is not None and r["name"] == s.get("max_variant"):
                text = f"[bold red]{text}[/bold red]"
            elif value is not None and r["name"] == s.get("min_variant"):
                text = f"[bold blue]{text}[/bold blue]"
            cells.append(text)
        t.add_row(label, *cells)
        if r.get("note"):
            skipped.append(f"{label}: {r['note']}")
    out.print(t)
    for line in skipped:
        out.print(f"  [dim]{line}[/dim]", highlight=False)
    out.print("[bold]spread[/bold]: " + sens.headline(result), highlight=False)
    by_group = spread.get("tokens_per_param_by_group", {})
    if by_group:
        out.print("tokens/param by kind of choice (max/min with the baseline): " + ", ".join(
            f"{g} {v['ratio']:.2g}x" for g, v in sorted(by_group.items(), key=lambda kv: -kv[1]["ratio"])), highlight=False)


# --- end report commands ---
# --- training commands (issue 4) ---
@app.command("train")
def train_cmd(
    config: str = typer.Argument(..., help="run config (TOML), see examples/train_tiny.toml"),
    resume: bool = typer.Option(False, "--resume", help="continue the run from its last checkpoint"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="output folder (default: out_dir in the config)"),
    json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress lines on stderr"),
    nproc: int = typer.Option(1, "--nproc", help="train on K processes, data-parallel (torchrun, DDP: gloo on "
                              "CPU, nccl with one GPU each)"),
) -> None:
    """Train one model (or resume it) and write its run-table rows, log, summary and checkpoint.

    Under torchrun (``torchrun --nproc_per_node K -m scalelab.cli train CONFIG``) every process runs
    this command; only rank 0 prints and writes.
    """
    import os

    from scalelab.errors import NumericalError
    from scalelab.train.config import load_config
    from scalelab.train.loop import train

    if nproc < 1:
        raise InputError(f"--nproc: expected a number of processes >= 1, got {nproc}")
    lead = os.environ.get("RANK", "0") == "0"  # rank 0 of a torchrun, or a single process
    cfg = load_config(config)
    say = None if quiet or json_out or not lead else (lambda msg: err.print(msg, markup=False, highlight=False))
    try:
        if nproc > 1:
            from scalelab.train.launch import launch

            summary = launch(cfg, nproc, resume=resume, out_dir=out_dir, source=config, log=say)
        else:
            summary = train(cfg, resume=resume, out_dir=out_dir, source=config, log=say)
    except ScalelabError as exc:
        if not lead:  # the same error on every rank: rank 0 reports it
            raise typer.Exit(exc.exit_code)
        raise
    if not lead:
        raise typer.Exit(3 if summary["status"] == "diverged" else
                         128 + int(summary["signal"] or 2) if summary["status"] == "interrupted" else 0)
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
    steps: int = typer.Option(10, "--steps", min=1, help="timed training steps per model (after 2 untimed)"),
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
    basis = ("from a few timed training steps of each shape on this machine" if plan.tokens_per_s else
             f"at {plan.flops_per_s / 1e9:.3g} GFLOP/s ({plan.flops_per_s_source})")
    out.print(f"total: {plan.compute:.3g} training FLOPs (full count incl. attention and head), estimated "
              f"{_fmt_seconds(total)} {basis}", markup=False, highlight=False)
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

    plan = _timed(load_plan(spec, out_dir, flops_per_s), flops_per_s)
    if json_out:
        emit_json(plan.to_dict())
    else:
        _ladder_plan_table(plan)


def _timed(plan, flops_per_s):
    """Time a few steps of each shape for the estimates, unless a throughput was given or measured."""
    if flops_per_s is None and plan.flops_per_s_source != "measured":
        from scalelab.ladder.estimate import calibrate

        with err.status("timing a few training steps of each shape for the estimates"):
            calibrate(plan)
    return plan


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
        plan = _timed(plan, flops_per_s)
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
            try:
                run_pool(path, workers, lease_s=lease_s, quiet=show or quiet or json_out)
            except Interrupted as exc:
                interrupted = str(exc)
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
        splan = _timed(splan, None)
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
    if not report["complete"]:
        pending = [r["run_id"] for s in report["sizes"] for r in s["runs"] if r["loss"] is None]
        err.print(f"note: {len(pending)} sweep run(s) not finished (e.g. running in another process: "
                  f"{pending[0]}); run the command again for the full table", markup=False, highlight=False)

@app.command()
def demo(
    output: Optional[str] = typer.Option(None, "-o", "--output", help="folder for the demo's ladder, laws and report "
                                         "(default: out/demo; with --spec, the spec's out_dir)"),
    spec: Optional[str] = typer.Option(None, "--spec", help="another ladder spec instead of the embedded demo ladder"),
    published: bool = typer.Option(False, "--published", help="instead, the fitting-only demo on the bundled "
                                    "published runs (a few seconds, no training)"),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0, help="run-level bootstrap refits of chinchilla"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
    json_out: bool = JsonOpt,
) -> None:
    """The embedded default: train a ladder on the built-in corpus, fit, backtest, plan, write the report."""
    if published:
        from scalelab.demo import run_demo

        run_demo(output or "out/demo-published", out)
        return
    from scalelab.ladder.demo import DEMO_OUT, default_workers, run_ladder_demo
    from scalelab.ladder.runner import Interrupted, LiveProgress

    show = not quiet and not json_out and err.is_terminal
    say = (lambda m: None) if quiet or json_out else (lambda m: err.print(m, markup=False, highlight=False))
    log = (lambda m: None) if show else say  # with live bars, per-step lines would only scroll past them
    bars = (lambda path: LiveProgress(path, console=err)) if show else None
    if not quiet and not json_out:
        what = "the ladder of " + spec if spec else ("a ladder of 5 small GPTs × 3 token budgets on the built-in "
                                                    "corpus (Shakespeare + World English Bible, Wikipedia held out)")
        took = "" if spec else "; about 5 minutes on 2 cores"
        say(f"scalelab demo: {what}, then fits, a backtest, the compute-optimal frontier and the report "
            f"({default_workers()} worker process(es){took})")
    try:
        s = run_ladder_demo(spec, output or (DEMO_OUT if spec is None else None), log=log,
                            bootstrap=bootstrap, progress=bars, quiet=quiet or json_out)
    except Interrupted as exc:
        err.print(f"interrupted: {exc}", markup=False, highlight=False)
        raise typer.Exit(130)
    if json_out:
        emit_json(s)
        return
    c = s["fits"].get("chinchilla", {})
    if "params" in c:
        ident = c["identifiable"]
        out.print("chinchilla: " + ", ".join(f"{k} = {v:.4g}" for k, v in c["params"].items()) +
                  ("; identifiable (no parameter on a bound, finite intervals)"
                   if ident["no_parameter_on_bound"] and ident["finite_intervals"] else "; NOT identifiable"),
                  markup=False, highlight=False)
        for f in c.get("frontier", []):
            if "N_opt" in f:
                out.print(f"  C = {f['C']:.3g}: N_opt = {f['N_opt']:.3g}, D_opt = {f['D_opt']:.3g} "
                          f"({f['tokens_per_param']:.3g} tokens/param), loss {f['loss']:.3f}", markup=False, highlight=False)
    elif "error" in c:
        err.print(f"chinchilla fit failed: {c['error']}", markup=False, highlight=False)
    bt = s["backtest"]
    if "max_abs_rel_error" in bt:
        out.print(f"backtest: N = {bt['held_out_N']:,} predicted from {len(bt['fit_on_sizes'])} smaller sizes, "
                  f"max |error| {bt['max_abs_rel_error']:.2%} over {len(bt['points'])} point(s)", markup=False,
                  highlight=False)
    for v in s["trend_violations"]:
        err.print(f"warning: {v}", markup=False, highlight=False)
    out.print(f"{s['counts']['done']} runs, {s['rows']} rows, {s['wall_s']:.0f} s; summary in "
              f"{s['ladder']}/demo_summary.json", markup=False, highlight=False)
    if s.get("report"):
        out.print(f"report: {s['report']}", markup=False, highlight=False)


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
