"""One self-contained HTML report of a scaling-law study.

:func:`build` fits (or takes) a law, draws every figure, fills the checklist, runs the sensitivity
analysis, and returns a :class:`Report`; :meth:`Report.write` writes one HTML file atomically.
Figures are embedded as ``data:`` URIs (SVG), styles are inline, there is no script to run and no
network access is needed to open the file.

Sections (their HTML ids): ``summary``, ``law``, ``figures``, ``isoflop``, ``frontier``, ``plan``,
``backtest``, ``catalog``, ``checklist``, ``sensitivity``, ``notes``, ``reproduce``. A section whose
inputs are missing (no IsoFLOP profiles in the runs, no backtest module installed) says so and why.
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from scalelab import atomic
from scalelab.errors import InputError, NumericalError, ScalelabError
from scalelab.laws.fit import CHINCHILLA_BUDGET, as_table
from scalelab.report import checklist as checklist_mod
from scalelab.report import figures as F
from scalelab.report import sensitivity as sens

SECTIONS = (("summary", "Summary"), ("law", "Fitted law"), ("figures", "Fit figures"), ("isoflop", "IsoFLOP profiles"),
            ("frontier", "Compute-optimal frontier"), ("plan", "Plan for the budget"), ("backtest", "Backtest"),
            ("catalog", "Published models"), ("checklist", "Checklist"), ("sensitivity", "Sensitivity"),
            ("notes", "Notes and warnings"), ("reproduce", "Reproduce"))
PLAN_LAWS = ("chinchilla-2022", "besiroglu-2024", "kaplan-2020-nd")
NOT_AVAILABLE = "not available"


@dataclass
class Report:
    """A built report: the HTML, what each section holds, and the objects behind it."""

    html: str
    sections: dict[str, str]                 # id -> "ok" or "not available: why"
    law: Any = None
    checklist: list = field(default_factory=list)
    sensitivity: Any = None
    figures: dict = field(default_factory=dict)  # name -> matplotlib Figure (closed after writing)

    def write(self, path, figures_dir=None) -> Path:
        """Write the HTML atomically (and each figure as PNG and SVG under ``figures_dir``)."""
        path = Path(path)
        if figures_dir is not None:
            for name, fig in self.figures.items():
                F.save(fig, Path(figures_dir) / name)
        atomic.write_text(path, self.html)
        return path

    def close(self) -> None:
        for fig in self.figures.values():
            F.close(fig)
        self.figures.clear()


# -- formatting ------------------------------------------------------------------------------------
def esc(x: Any) -> str:
    return _html.escape(str(x), quote=True)


def num(x: Any, digits: int = 4) -> str:
    if x is None:
        return "—"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return f"{int(x):,}"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if not np.isfinite(v):
        return "—"
    return f"{v:.{digits}g}"


def interval(ci: Optional[Sequence[float]], digits: int = 4) -> str:
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]" if ci else ""


def table_html(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "",
               row_classes: Optional[Sequence[str]] = None) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{rc}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def figure_html(fig, caption: str, name: str) -> str:
    return (f'<figure id="fig-{esc(name)}"><img alt="{esc(caption)}" src="{F.data_uri(fig, "svg")}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def unavailable(why: str) -> str:
    return f'<p class="na"><strong>{NOT_AVAILABLE}</strong>: {esc(why)}</p>'


# -- optional inputs from other parts of scalelab ----------------------------------------------------
def _first(d: Mapping, keys: Sequence[str]):
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def _as_dict(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return obj


def backtest_rows(result: Any) -> list[dict]:
    """Rows ``{label, predicted, actual, lo, hi, rel_error, inside}`` from a backtest result.

    Accepts plain data (a list of dicts, or a dict holding one under ``rows``/``runs``/``held_out``/
    ``predictions``) with keys among predicted/pred/loss_pred, actual/observed/loss, interval or lo/hi.
    """
    d = _as_dict(result)
    rows = d if isinstance(d, list) else None
    if isinstance(d, dict):
        rows = _first(d, ("rows", "runs", "predictions", "results"))
        if rows is None and isinstance(d.get("folds"), list):       # scalelab.laws.backtest.Backtest
            rows = [dict(p, fold=f.get("held_out")) for f in map(_as_dict, d["folds"]) for p in f.get("predictions", [])]
    if not isinstance(rows, list):
        raise InputError("backtest result: expected a list of rows with predicted and actual losses")
    out = []
    for r in rows:
        r = _as_dict(r)
        pred = _first(r, ("predicted", "pred", "loss_pred", "prediction", "predicted_loss"))
        act = _first(r, ("actual", "observed", "loss_actual", "actual_loss", "loss"))
        if pred is None or act is None:
            raise InputError("backtest row: no predicted/actual loss in " + ", ".join(map(str, r)))
        ci = _first(r, ("interval", "ci", "predicted_interval"))
        lo, hi = (ci if ci else (r.get("lo"), r.get("hi")))
        label = _first(r, ("run_id", "label", "name", "N")) or ""
        out.append({"label": str(label), "predicted": float(pred), "actual": float(act),
                    "lo": None if lo is None else float(lo), "hi": None if hi is None else float(hi),
                    "rel_error": float(pred) / float(act) - 1.0,
                    "inside": None if lo is None or hi is None else bool(lo <= act <= hi),
                    "compute_ratio": _first(r, ("compute_ratio", "ratio"))})
    return out


def auto_backtest(table, form: str, **kwargs) -> tuple[Optional[list[dict]], str]:
    """Run scalelab's backtest (:func:`scalelab.laws.backtest.backtest`, compute split: fit on the
    runs with at most a tenth of the largest run's compute, predict the rest) where it is installed;
    otherwise say why not. ``kwargs`` go to it (``bootstrap``, ``params``, ``flops``)."""
    try:
        from scalelab.laws import backtest as bt  # type: ignore[attr-defined]
    except ImportError:
        return None, "this version of scalelab has no backtest module (scalelab.laws.backtest)"
    fn = getattr(bt, "backtest", None)
    if fn is None:
        return None, "scalelab.laws.backtest has no backtest() function"
    try:
        try:
            result = fn(table, form, **kwargs)
        except TypeError:
            result = fn(table, form)
        return backtest_rows(result), "ok"
    except ScalelabError as exc:
        return None, "backtest failed: " + "; ".join(exc.problems)
    except Exception as exc:  # an API this report does not know yet: say so, do not crash the report
        return None, f"backtest result not understood ({type(exc).__name__}: {exc})"


def catalog_models(catalog: Any) -> list[dict]:
    """Models ``{name, N, D}`` from plain data: dicts with a name, parameters and training tokens."""
    rows = _as_dict(catalog)
    if isinstance(rows, dict):
        rows = _first(rows, ("models", "rows", "catalog")) or [dict(v, name=k) for k, v in rows.items()]
    out = []
    for r in rows or []:
        r = _as_dict(r)
        name = _first(r, ("name", "model"))
        N = _first(r, ("compute_params", "N_active", "active_params", "N", "params", "N_total", "parameters"))
        D = _first(r, ("D", "tokens", "training_tokens"))
        if name is not None and N and D:
            out.append({"name": str(name), "N": float(N), "D": float(D)})
    return out


def auto_catalog() -> tuple[Optional[list[dict]], str]:
    """The catalog of published models (issue 6) where it is installed; otherwise say why not."""
    try:
        from scalelab.plan import catalog as cat  # type: ignore[import-not-found]
    except ImportError:
        return None, "this version of scalelab has no model catalog (scalelab.plan.catalog)"
    for attr in ("table", "models", "entries", "load", "MODELS", "CATALOG"):
        obj = getattr(cat, attr, None)
        if obj is None:
            continue
        try:
            models = catalog_models(obj() if callable(obj) else obj)
        except Exception as exc:
            return None, f"catalog not understood ({type(exc).__name__}: {exc})"
        if models:
            return models, "ok"
    return None, "scalelab.plan.catalog holds no models this report can read"


def load_input(path: str | Path):
    """A run table, or a ladder directory: (RunTable, manifest or None, description).

    A directory is read through its ladder registry (``ladder.db``), otherwise from a
    ``runs.csv``/``runs.parquet``/``runs.jsonl`` exported into it. Its data manifest is
    ``manifest.json`` or ``data/manifest.json`` in the directory, or the ``data_dir`` the runs name.
    """
    from scalelab.runs import read_table

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such run table or ladder directory")
    if p.is_file():
        table = read_table(p)
        return table, _manifest_for(table, None), f"run table {p}"
    from scalelab.ladder.registry import DB_NAME, Registry

    if (p / DB_NAME).is_file():
        with Registry.open(p) as reg:
            table = reg.table()
    else:
        found = [f for f in (p / f"runs{s}" for s in (".csv", ".parquet", ".jsonl")) if f.is_file()]
        if not found:
            raise InputError(f"{p}: a directory but not a ladder (no {DB_NAME}, and no runs.csv/runs.parquet/"
                             "runs.jsonl in it)")
        table = read_table(found[0])
    return table, _manifest_for(table, p), f"ladder {p}"


def _manifest_for(table, directory: Optional[Path]) -> Optional[dict]:
    from scalelab.data.prepare import read_manifest

    candidates = []
    if directory is not None:
        candidates += [directory, directory / "data"]
    if table is not None and table.has("data_dir"):
        dirs = table.data["data_dir"].dropna().astype(str).unique()
        if len(dirs) == 1:
            candidates.append(Path(dirs[0]))
    for c in candidates:
        if (c / "manifest.json").is_file():
            try:
                return read_manifest(c)
            except InputError:
                continue
    return None


# -- the report --------------------------------------------------------------------------------------
def build(runs, *, form: str = "chinchilla", law=None, budget: float = CHINCHILLA_BUDGET, bootstrap: int = 200,
          seed: int = 0, params: str = "non-embedding", flops: str = "6ND", loss: str = "huber", delta: float = 1e-3,
          grid: Optional[Mapping[str, Sequence[float]]] = None, manifest: Optional[Mapping] = None,
          sensitivity: Any = True, sensitivity_grid: Optional[Mapping[str, Sequence[float]]] = None,
          backtest: Any = "auto", catalog: Any = "auto", title: Optional[str] = None,
          command: Optional[str] = None, progress: Optional[Callable[[str], None]] = None) -> Report:
    """Build the report of ``runs``.

    Args:
        runs: a run table (RunTable, DataFrame or path).
        form, budget, bootstrap, seed, params, flops, loss, delta, grid: the fit (see
            :func:`scalelab.laws.fit`); ignored for the fit when ``law`` is given.
        law: an already fitted law to report instead of fitting one.
        manifest: a data manifest for the checklist (data set, size, dedup, tokenizer).
        sensitivity: True (run :func:`scalelab.report.sensitivity.analyse`), False (skip), or a
            ready :class:`~scalelab.report.sensitivity.SensitivityResult`.
        sensitivity_grid: initialisation grid override for the sensitivity refits (faster).
        backtest: ``"auto"`` (scalelab's backtest where installed), None, or plain data (see
            :func:`backtest_rows`).
        catalog: ``"auto"``, None, or models ``[{name, N, D}]``.
        command: the command line that produced the report (shown under Reproduce).
        progress: called with a short message before each slow step.
    """
    from scalelab.laws import fit as fit_law
    from scalelab.laws import isoflop as iso
    from scalelab.laws import published as pub
    from scalelab.laws.conventions import Conventions

    say = progress or (lambda _msg: None)
    table = as_table(runs)
    if law is None:
        say(f"fitting {form}" + (f" with {bootstrap} bootstrap resamples" if bootstrap else ""))
        law = fit_law(table, form, loss=loss, delta=delta, grid=grid, bootstrap=bootstrap, seed=seed,
                      params=params, flops=flops, budget=budget)
    nd = set(law.law_form.variables) == {"N", "D"}
    sections: dict[str, str] = {}
    body: dict[str, str] = {}
    figs: dict[str, Any] = {}

    # law --------------------------------------------------------------------------------------------
    rows = [[esc(k), num(v), interval(law.ci.get(k))] for k, v in law.params.items()]
    labels = {"a": "a (N_opt ∝ C^a)", "b": "b (D_opt ∝ C^b)", "N_opt": f"N_opt at C = {budget:.3g}",
              "D_opt": f"D_opt at C = {budget:.3g}", "tokens_per_param": f"tokens/parameter at C = {budget:.3g}",
              "loss_at_budget": f"loss at C = {budget:.3g}"}
    rows += [[esc(labels.get(k, k)), num(v), interval(law.ci.get(k))] for k, v in law.derived.items()]
    s = law.starts or {}
    level = f"{law.level:.0%} interval" if law.ci else "interval (fit without bootstrap)"
    body["law"] = (f"<p class=formula>{esc(law.provenance.get('formula', law.form))}</p>"
                   + table_html(["parameter", "estimate", level], rows, "num")
                   + f"<p>Objective {num(law.objective, 6)} on {num(law.n_points)} points from {num(law.n_runs)} runs; "
                     f"{num(s.get('converged_to_best'))} of {num(s.get('n'))} starts reached the best objective. "
                     f"Conventions: {esc(law.conventions.get('params', '?'))} parameters, "
                     f"{esc(law.conventions.get('flops', '?'))} FLOPs.</p>"
                   + ("".join(f'<p class="warn">warning: {esc(w)}</p>' for w in law.warnings)))
    sections["law"] = "ok"

    # figures ----------------------------------------------------------------------------------------
    say("drawing figures")
    parts = []
    for var in ("N", "D", "C"):
        data = F.loss_data(law, table, var) if var in law.law_form.variables or nd else None
        if data is None:
            continue
        fig = F.loss_figure(var, *data, title=f"loss against {F.LABELS[var]} ({law.form} fit"
                            + (f", {law.level:.0%} bootstrap band)" if law.samples is not None else ")"))
        figs[f"loss_vs_{var}"] = fig
        parts.append(figure_html(fig, f"Observed losses and the fitted law against {var} (log-log).", f"loss_vs_{var}"))
    fig = F.residuals_figure(F.residual_data(law, table))
    figs["residuals"] = fig
    parts.append(figure_html(fig, "Residuals of the fit: log(observed/predicted) per point.", "residuals"))
    curves = F.learning_curve_data(law, table)
    if curves:
        fig = F.learning_curves_figure(curves, xlabel=F.LABELS["S" if "S" in law.law_form.variables else "D"])
        figs["learning_curves"] = fig
        parts.append(figure_html(fig, "Learning curves (solid) and the law's prediction at each evaluation (dashed).",
                                 "learning_curves"))
    else:
        parts.append('<h3>Learning curves</h3>' + unavailable("the run table has one evaluation per run (no learning curves)"))
    body["figures"] = "".join(parts)
    sections["figures"] = "ok"

    # isoflop ----------------------------------------------------------------------------------------
    try:
        result = iso.isoflop_profiles(table, bootstrap=0, conventions=Conventions(
            law.conventions.get("params", params), law.conventions.get("flops", flops)))
        if not result.budgets:
            raise ScalelabError("no budget has a bracketed minimum")
        profiles = F.isoflop_data(result, table)
        fig = F.isoflop_figure(profiles)
        figs["isoflop"] = fig
        body["isoflop"] = (figure_html(fig, "IsoFLOP profiles: loss against N at each budget, parabola in log N, fitted minimum.", "isoflop")
                           + f"<p>Approach 2: N_opt ∝ C^{result.a:.3f}, D_opt ∝ C^{result.b:.3f} over "
                             f"{len(result.budgets)} budgets.</p>"
                           + "".join(f'<p class="warn">{esc(w)}</p>' for w in result.warnings[:8]))
        sections["isoflop"] = "ok"
        iso_result = result
        iso_points = {"C": [b["C"] for b in result.budgets], "N_opt": [b["N_opt"] for b in result.budgets],
                      "D_opt": [b["D_opt"] for b in result.budgets], "label": "IsoFLOP minima (approach 2)"}
    except ScalelabError as exc:
        why = "the runs do not form IsoFLOP profiles (several sizes at one shared budget): " + "; ".join(exc.problems)[:300]
        body["isoflop"] = unavailable(why)
        sections["isoflop"] = f"{NOT_AVAILABLE}: {why}"
        iso_points = iso_result = None

    # frontier, plan, catalog ------------------------------------------------------------------------
    if nd:
        v = F.fit_variables(law, table)[1]
        Cg = np.geomspace(min(v["C"].min(), budget) / 3, max(v["C"].max(), budget) * 3, 60)
        try:
            fig = F.frontier_figure(Cg, F.frontier_data(law, Cg), iso_points)
            figs["frontier"] = fig
            body["frontier"] = figure_html(fig, "Compute-optimal N and D against C: this fit (band: bootstrap) beside "
                                           "published laws (dashed; note their parameter conventions).", "frontier")
            sections["frontier"] = "ok"
        except ScalelabError as exc:
            body["frontier"] = unavailable("; ".join(exc.problems))
            sections["frontier"] = f"{NOT_AVAILABLE}: " + "; ".join(exc.problems)
        body["plan"], sections["plan"] = _plan(law, budget, pub)
    else:
        why = f"form '{law.form}' is not a law in N and D; no compute-optimal allocation"
        for key in ("frontier", "plan"):
            body[key], sections[key] = unavailable(why), f"{NOT_AVAILABLE}: {why}"
        if iso_result is not None:          # the IsoFLOP power laws still give a frontier
            Cg = np.geomspace(min(iso_points["C"] + [budget]) / 3, max(iso_points["C"] + [budget]) * 3, 60)
            Nf, Df = iso_result.predict(Cg)
            lines = [{"label": "IsoFLOP power laws (approach 2)", "N_opt": Nf, "D_opt": Df}] + F.published_lines(Cg)
            fig = F.frontier_figure(Cg, lines, iso_points)
            figs["frontier"] = fig
            body["frontier"] = figure_html(fig, "Compute-optimal N and D against C from the IsoFLOP minima, beside "
                                           "published laws (dashed).", "frontier") + unavailable(why + " from the fitted law")
            sections["frontier"] = "ok"

    if isinstance(backtest, str) and backtest == "auto":
        say("backtest: predicting the largest runs from the smaller ones")
    bt_rows, why = (auto_backtest(table, law.form, bootstrap=min(int(law.options.get("bootstrap") or 0), 100),
                                  params=law.conventions.get("params", params), flops=law.conventions.get("flops", flops))
                    if isinstance(backtest, str) and backtest == "auto"
                    else (None, "not requested") if backtest is None else (backtest_rows(backtest), "ok"))
    if bt_rows:
        fig = F.backtest_figure([r["predicted"] for r in bt_rows], [r["actual"] for r in bt_rows],
                                None if any(r["lo"] is None for r in bt_rows) else [r["lo"] for r in bt_rows],
                                None if any(r["hi"] is None for r in bt_rows) else [r["hi"] for r in bt_rows],
                                [r["label"] for r in bt_rows])
        figs["backtest"] = fig
        err = np.array([r["rel_error"] for r in bt_rows])
        inside = [r["inside"] for r in bt_rows if r["inside"] is not None]
        summary = (f"<p>{len(bt_rows)} held-out run(s): mean |relative error| {np.mean(np.abs(err)):.2%}, "
                   f"largest {np.max(np.abs(err)):.2%}"
                   + (f"; truth inside the interval for {sum(inside)} of {len(inside)}" if inside else "")
                   + (f"; up to {max(r['compute_ratio'] for r in bt_rows if r['compute_ratio']):.3g}x the compute of "
                      "the largest fitted run" if any(r["compute_ratio"] for r in bt_rows) else "") + ".</p>")
        body["backtest"] = summary + figure_html(fig, "Held-out runs: predicted against actual loss.", "backtest") + table_html(
            ["run", "predicted", "interval", "actual", "relative error", "inside interval", "compute ratio"],
            [[esc(r["label"]), num(r["predicted"]), interval([r["lo"], r["hi"]]) if r["lo"] is not None else "",
              num(r["actual"]), f"{r['rel_error']:+.2%}", "—" if r["inside"] is None else ("yes" if r["inside"] else "no"),
              num(r["compute_ratio"], 3)] for r in bt_rows], "num")
        sections["backtest"] = "ok"
    else:
        body["backtest"], sections["backtest"] = unavailable(why), f"{NOT_AVAILABLE}: {why}"

    models, why = (auto_catalog() if isinstance(catalog, str) and catalog == "auto"
                   else (None, "not requested") if catalog is None else (catalog_models(catalog), "ok"))
    if models and nd:
        Cg = np.geomspace(min(6 * m["N"] * m["D"] for m in models) / 3, max(6 * m["N"] * m["D"] for m in models) * 3, 60)
        from scalelab.laws import optimal

        Nf, Df = optimal.allocate(law.law_form, law.theta, Cg)
        fig = F.catalog_figure(models, {"C": Cg, "tokens_per_param": Df / Nf, "label": "compute-optimal under this fit"})
        figs["catalog"] = fig
        rows = []
        for m in models:
            try:
                a = law.optimal(6 * m["N"] * m["D"])
            except NumericalError:  # this fit has no interior optimum at that budget: say so, keep the row
                rows.append([esc(m["name"]), num(m["N"], 3), num(m["D"], 3), num(m["D"] / m["N"], 3),
                             "none", esc("no interior optimum under this fit")])
                continue
            ratio = (m["D"] / m["N"]) / a.tokens_per_param
            verdict = f"over-trained {ratio:.2g}x" if ratio > 1 else f"under-trained {1 / ratio:.2g}x"
            rows.append([esc(m["name"]), num(m["N"], 3), num(m["D"], 3), num(m["D"] / m["N"], 3),
                         num(a.tokens_per_param, 3), esc(verdict)])
        body["catalog"] = figure_html(fig, "Published models: tokens per parameter against compute, beside this fit's "
                                      "compute-optimal ratio.", "catalog") + table_html(
            ["model", "N", "D", "tokens/param", "compute-optimal tokens/param", "verdict"], rows, "num")
        sections["catalog"] = "ok"
    else:
        why = why if not models else f"form '{law.form}' has no compute-optimal frontier"
        body["catalog"], sections["catalog"] = unavailable(why), f"{NOT_AVAILABLE}: {why}"

    # checklist ----------------------------------------------------------------------------------------
    items = checklist_mod.build(law, table, manifest)
    record = checklist_mod.to_json(items)
    c = record["counts"]
    body["checklist"] = (
        f"<p>The items Li, Kudugunta and Zettlemoyer 2025 ask every scaling-law study to state, filled from the "
        f"fit's options, the run table's columns and the data manifest. {c['known']} known, {c['assumed']} assumed "
        f"from a stated convention, <strong>{c['unknown']} unknown</strong> (not recorded, so not claimed).</p>"
        + table_html(["group", "item", "value", "status", "source"],
                     [[esc(i["group"]), esc(i["label"]),
                       f'<span class="unknown">{checklist_mod.UNKNOWN}</span>' if i["status"] == "unknown" else esc(i["value"]),
                       esc(i["status"]), esc(i["source"])] for i in items], "checklist",
                     [f"st-{i['status']}" for i in items])
        + "<details><summary>Markdown</summary><pre>" + esc(checklist_mod.to_markdown(items)) + "</pre></details>"
        + '<script type="application/json" id="checklist-json">'
        + json.dumps(record, default=str).replace("</", "<\\/") + "</script>")
    sections["checklist"] = "ok"

    # sensitivity ---------------------------------------------------------------------------------------
    result = None
    if nd and sensitivity is True:
        say("sensitivity analysis: refitting under alternative choices")
        try:
            result = sens.analyse(table, law.form, budget=budget, params=law.conventions.get("params", params),
                                  flops=law.conventions.get("flops", flops), loss=law.options.get("loss", loss),
                                  delta=law.options.get("delta") or delta, grid=sensitivity_grid,
                                  progress=(lambda n: say(f"sensitivity: {n}")))
        except ScalelabError as exc:
            body["sensitivity"] = unavailable("; ".join(exc.problems))
            sections["sensitivity"] = f"{NOT_AVAILABLE}: " + "; ".join(exc.problems)
    elif isinstance(sensitivity, sens.SensitivityResult):
        result = sensitivity
    if result is not None:
        fig = F.sensitivity_figure(result.rows, result.budget)
        figs["sensitivity"] = fig
        body["sensitivity"] = sensitivity_html(result) + figure_html(
            fig, "Tokens per parameter at the budget under each alternative choice.", "sensitivity")
        sections["sensitivity"] = "ok"
    elif "sensitivity" not in body:
        why = "not requested" if not sensitivity else f"form '{law.form}' is not a law in N and D"
        body["sensitivity"], sections["sensitivity"] = unavailable(why), f"{NOT_AVAILABLE}: {why}"

    # notes, reproduce, summary ------------------------------------------------------------------------
    notes = list(table.notes) + [n for n in law.data.get("notes", []) if n not in table.notes]
    body["notes"] = ("<h3>Warnings</h3>" + ("<ul>" + "".join(f"<li>{esc(w)}</li>" for w in law.warnings) + "</ul>"
                                             if law.warnings else "<p>The fit raised no warnings.</p>")
                     + "<h3>Notes made reading the runs</h3>"
                     + ("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>" if notes else "<p>None.</p>"))
    sections["notes"] = "ok"
    body["reproduce"] = _reproduce(law, command)
    sections["reproduce"] = "ok"
    body["summary"] = _summary(law, table, budget, result, sections)
    sections["summary"] = "ok"

    title = title or f"scalelab report: {law.form} on {table.source}"
    return Report(html=_page(title, body, sections), sections=sections, law=law, checklist=items,
                  sensitivity=result, figures=figs)


def _plan(law, budget: float, pub) -> tuple[str, str]:
    try:
        a = law.optimal(budget)
    except NumericalError as exc:
        return unavailable("; ".join(exc.problems)), f"{NOT_AVAILABLE}: " + "; ".join(exc.problems)
    rows = [["this fit", num(a.N_opt, 4) + " " + interval(a.ci.get("N_opt"), 3),
             num(a.D_opt, 4) + " " + interval(a.ci.get("D_opt"), 3),
             num(a.tokens_per_param, 3) + " " + interval(a.ci.get("tokens_per_param"), 3),
             num(a.loss, 4) + " " + interval(a.ci.get("loss"), 4),
             esc(f"{law.conventions.get('params', '?')} N; the runs' loss")]]
    for name in PLAN_LAWS:
        ref = pub.get(name)
        try:
            r = ref.optimal(budget)
        except ScalelabError:
            continue
        conv = ref.conventions
        rows.append([esc(name), num(r.N_opt, 4), num(r.D_opt, 4), num(r.tokens_per_param, 3), num(r.loss, 4),
                     esc(f"{conv.get('params', '?')} N; {conv.get('loss', '?')}")])
    lvl = f" ({a.level:.0%} intervals)" if a.level else " (no intervals: fit without bootstrap)"
    return (f"<p>Compute-optimal allocation for C = {budget:.3g} FLOPs under C = 6ND{esc(lvl)}. Published laws keep "
            f"their own conventions (which parameters, which data and loss): compare ratios, not losses.</p>"
            + table_html(["law", "N_opt", "D_opt", "tokens/param", "loss (nats/token)", "conventions"], rows, "num"), "ok")


def sensitivity_html(result) -> str:
    """The sensitivity table with the extremes of each column highlighted, and the spread."""
    cols = ("alpha", "beta", "E", "a", "b", "N_opt", "tokens_per_param")
    ext = {m: (result.spread[m]["min_variant"], result.spread[m]["max_variant"]) for m in cols if m in result.spread}
    rows = []
    for r in result.rows:
        cells = [esc(r["group"]), esc(r["name"])]
        for m in cols:
            cls = ""
            if m in ext and r["status"] == "ok" and r["name"] in ext[m]:
                cls = ' class="lo"' if r["name"] == ext[m][0] else ' class="hi"'
            cells.append(f"<span{cls}>{num(r.get(m), 3 if m != 'tokens_per_param' else 3)}</span>")
        status = r["status"] if r["status"] != "ok" else "ok" + (f" ({r['note']})" if r.get("note") else "")
        cells.append(esc(status if r["status"] == "ok" else f"{status}: {r.get('reason') or ''}"))
        rows.append(cells)
    spread_rows = [[esc(m), num(s["min"], 3), esc(s["min_variant"]), num(s["max"], 3), esc(s["max_variant"]),
                    num(s.get("ratio"), 3) + "x" if s.get("ratio") else "—"]
                   for m, s in result.spread.items() if m in cols]
    group_rows = [[esc(g), num(s["min"], 3), num(s["max"], 3), num(s["ratio"], 3) + "x"]
                  for g, s in result.spread.get("tokens_per_param_by_group", {}).items()]
    return (f'<p class="headline">{esc(sens.headline(result))}.</p>'
            "<p>Each row refits the same runs with one choice changed, everything else at the baseline. "
            '<span class="lo">blue</span>: the lowest value in its column; <span class="hi">red</span>: the highest.</p>'
            + table_html(["choice", "variant", "α", "β", "E", "a", "b", f"N_opt @ {result.budget:.3g}",
                          f"tokens/param @ {result.budget:.3g}", "status"], rows, "num sens")
            + "<h3>Spread</h3>" + table_html(["quantity", "min", "variant", "max", "variant", "max/min"], spread_rows, "num")
            + ("<h3>Tokens/parameter by kind of choice (with the baseline)</h3>"
               + table_html(["choice", "min", "max", "max/min"], group_rows, "num") if group_rows else ""))


def _reproduce(law, command: Optional[str]) -> str:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("scipy", "pandas", "matplotlib"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    cmd = command or "scalelab report RUNS -o report.html"
    opts = {k: v for k, v in (law.options or {}).items() if k != "grid"}
    return (f"<p>Command:</p><pre>{esc(cmd)}</pre>"
            f"<p>Code: {esc(checklist_mod.code_version())}; "
            + ", ".join(f"{esc(k)} {esc(v)}" for k, v in versions.items())
            + f"; generated {esc(_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}.</p>"
            f"<details><summary>Fit options</summary><pre>{esc(json.dumps(opts, indent=1, default=str))}</pre></details>")


def _summary(law, table, budget: float, result, sections: Mapping[str, str]) -> str:
    items = [f"<li>{num(law.n_runs)} runs ({num(law.n_points)} points) from <code>{esc(table.source)}</code>, "
             f"form <code>{esc(law.form)}</code>: {esc(law.provenance.get('formula', ''))}</li>"]
    d = law.derived
    if "tokens_per_param" in d:
        ci = law.ci.get("tokens_per_param")
        items.append(f"<li>At C = {budget:.3g} FLOPs: N_opt = {num(d['N_opt'], 3)}, D_opt = {num(d['D_opt'], 3)}, "
                     f"<strong>{num(d['tokens_per_param'], 3)} tokens/parameter</strong>"
                     + (f" {interval(ci, 3)}" if ci else "") + f"; exponents a = {num(d['a'], 3)}, b = {num(d['b'], 3)}.</li>")
    if result is not None:
        items.append(f"<li>Sensitivity: {esc(sens.headline(result))}.</li>")
    missing = [f"{t.lower()}" for k, t in SECTIONS if sections.get(k, "ok") != "ok"]
    if missing:
        items.append("<li>Not available here: " + esc(", ".join(missing)) + " (each section says why).</li>")
    if law.warnings:
        items.append(f'<li class="warn">{len(law.warnings)} warning(s) on the fit; see Notes.</li>')
    return "<ul>" + "".join(items) + "</ul>"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1b1f24;background:#fafafa}
main{max-width:1120px;margin:0 auto;padding:1.2em 2em 4em;background:#fff}
h1{font-size:1.55em;margin:.4em 0}
h2{font-size:1.25em;border-bottom:2px solid #e3e6ea;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.02em;margin-top:1.3em}
nav{font-size:.9em;margin:.5em 0 1em;display:flex;flex-wrap:wrap;gap:.3em 1em}
nav a{color:#0b5cad;text-decoration:none;white-space:nowrap}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #d6dae0;padding:.28em .55em;vertical-align:top;text-align:left}
th{background:#f1f3f5}
table.num td{font-variant-numeric:tabular-nums}
figure{margin:1em 0;text-align:center}
figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
.na{background:#fff7e0;border-left:4px solid #e0a800;padding:.45em .8em}
.warn{color:#9a3412}
.unknown{color:#b91c1c;font-weight:600}
tr.st-assumed td{background:#fffbeb}
tr.st-unknown td{background:#fef2f2}
span.lo{color:#1d4ed8;font-weight:700}
span.hi{color:#b91c1c;font-weight:700}
.headline{font-size:1.05em;font-weight:600}
.formula{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1.05em}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:.8em}
"""


def _page(title: str, body: Mapping[str, str], sections: Mapping[str, str]) -> str:
    nav = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in SECTIONS)
    parts = [f'<section id="{k}"><h2>{esc(t)}</h2>{body.get(k, unavailable("not built"))}</section>' for k, t in SECTIONS]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<link rel=\"icon\" href=\"data:,\"><style>{CSS}</style></head><body><main>"
            f"<h1>{esc(title)}</h1><nav>{nav}</nav>{''.join(parts)}"
            "<footer><p><small>Written by scalelab; self-contained: opens without a network.</small></p></footer>"
            "</main></body></html>\n")
