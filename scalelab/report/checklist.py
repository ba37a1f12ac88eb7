"""The scaling-law checklist of Li, Kudugunta and Zettlemoyer 2025 ("(Mis)Fitting"), filled in.

Every item of DESIGN.md §2 is filled *only* from what is recorded: the law's options, conventions
and data record, the run table's columns, and (when a ladder provides one) the data manifest.
Whatever none of them says is shown as ``unknown``; nothing is invented. An item that rests on a
convention rather than on a recorded fact (losses are nats/token unless a column says otherwise)
is marked ``assumed`` and says which convention.

    >>> from scalelab.report import checklist
    >>> items = checklist.build(law, table)                       # doctest: +SKIP
    >>> print(checklist.to_markdown(items))                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from scalelab.report.checklist_items import (
    ASSUMED,
    COLUMN_ALIASES,
    KNOWN,
    MISSING,
    SHAPE_COLUMNS,
    UNKNOWN,
    code_version,
    data_by_recipe,
)
from scalelab.report.checklist_items import column_values as _values
from scalelab.report.checklist_items import from_column as _from_column
from scalelab.report.checklist_items import item as _item
from scalelab.report.checklist_items import recorded_column as _column
from scalelab.report.checklist_items import unknown_item as _unknown

__all__ = [
    "ASSUMED",
    "COLUMN_ALIASES",
    "KNOWN",
    "MISSING",
    "SHAPE_COLUMNS",
    "UNKNOWN",
    "build",
    "code_version",
    "to_json",
    "to_markdown",
]


def build(law, table=None, manifest: Optional[Mapping[str, Any]] = None) -> list[dict]:
    """The checklist items for ``law`` (a fitted :class:`~scalelab.laws.Law`).

    Args:
        law: the fitted law (its options, conventions and data record are read).
        table: the run table it was fitted to (a :class:`RunTable`), for columns such as shapes,
            optimiser, schedule, batch size, seeds. ``None``: those items are unknown.
        manifest: a scalelab data manifest (``manifest.json`` of ``scalelab data prepare``), or
            ``None``: data name, size, dedup and tokenizer then come from table columns or are
            unknown.

    Returns a list of items ``{group, item, label, value, status, source}``; ``status`` is
    ``known``, ``assumed`` (from a stated convention) or ``unknown`` (then ``value`` is
    ``"unknown"``).
    """
    frame = None if table is None else table.data
    if frame is not None and law.data.get("run_ids"):
        used = frame[frame["run_id"].astype(str).isin(set(law.data["run_ids"]))]
        frame = used if len(used) else frame
    m = dict(manifest or {})
    record = _Recorded(
        law=law,
        frame=frame,
        manifest=m,
        checklist=dict(m.get("checklist") or {}),
        options=law.options_record(),
        conventions=law.conventions or {},
        data=law.data or {},
    )
    return [item for group in GROUPS for item in group(record)]


@dataclass(frozen=True)
class _Recorded:
    """What the checklist is filled from: the law and its records, the runs' rows, the manifest."""

    law: Any
    frame: Any  # the run table's rows the law used (a DataFrame), or None
    manifest: dict
    checklist: dict  # the manifest's checklist record
    options: dict
    conventions: dict
    data: dict


def _data_items(r: _Recorded) -> list[dict]:
    """Data: the data set, its sources and licences, size, dedup, tokenizer and hash: from the
    manifest, else (where a column can say) the run table, else unknown."""
    frame, m, mc = r.frame, r.manifest, r.checklist
    size = f"{mc['train_tokens_after_dedup']:,}" if "train_tokens_after_dedup" in mc else None
    recorded = {  # item: (label, the manifest's value, whether a run-table column may say it)
        "data_name": ("data set", mc.get("data") or m.get("name"), True),
        "data_sources": (
            "sources and licences",
            "; ".join(mc["sources"]) if mc.get("sources") else None,
            False,
        ),
        "data_size": ("training data size (tokens)", size, False),
        "dedup": ("deduplication", mc.get("dedup"), False),
        "tokenizer": ("tokenizer", mc.get("tokenizer"), True),
        "data_hash": ("data hash", mc.get("data_hash") or m.get("data_hash"), True),
    }
    items = []
    for key, (label, value, column) in recorded.items():
        if value:
            items.append(_item("data", key, label, value, KNOWN, "data manifest"))
        elif column:
            items.append(_from_column(frame, "data", key, label, ""))
        else:
            items.append(_unknown("data", key, label, "not recorded: no data manifest"))

    per_recipe = data_by_recipe(frame, mc.get("data_hash") or m.get("data_hash"))
    if per_recipe is not None:  # the runs' data differs by recipe, or is not the manifest's
        where = "run table columns recipe, dataset, data_tokens, data_hash ([[variants]] data)"
        for i, it in enumerate(items):
            if it["item"] in per_recipe:
                items[i] = _item(
                    "data", it["item"], it["label"], per_recipe[it["item"]], KNOWN, where
                )
    return items


def _model_items(r: _Recorded) -> list[dict]:
    """Model: shapes, parameter and FLOP conventions, the embedding share."""
    frame, conv = r.frame, r.conventions
    present = [
        c
        for c in SHAPE_COLUMNS
        if frame is not None and c in frame.columns and frame[c].notna().any()
    ]
    shapes = "; ".join(f"{c}: {_values(frame, c)}" for c in present)
    if "d_model" in present and "n_layer" in present:
        ratio = (frame["d_model"] / frame["n_layer"]).dropna()
        shapes += f"; d_model/n_layer from {ratio.min():.3g} to {ratio.max():.3g}"
    params = conv.get("params") and (
        f"{conv['params']}: {conv.get('params_meaning', '')} (column "
        f"{conv.get('params_column', '?')})"
    )
    flops = conv.get("flops") and f"{conv['flops']}: {conv.get('flops_meaning', '')}"
    items = [
        _either(
            ("model", "shapes", "model shapes (layers, width, heads, context)"),
            shapes,
            "run table columns " + ", ".join(present),
            "not recorded: the run table has no " + "/".join(SHAPE_COLUMNS) + " columns",
        ),
        _either(
            ("model", "param_convention", "parameter convention"),
            params,
            "the fit's conventions",
            "the law records no parameter convention",
        ),
        _either(
            ("model", "flop_convention", "FLOP convention"),
            flops,
            "the fit's conventions",
            "the law records no FLOP convention",
        ),
    ]
    if frame is not None and "N_total" in frame.columns and conv.get("params") != "total":
        ratio = (frame["N_total"] / frame["N"]).dropna()
        share = f"{ratio.min():.3g} to {ratio.max():.3g}"
        items.append(
            _item(
                "model",
                "embedding_share",
                "total / non-embedding parameters",
                share,
                KNOWN,
                "run table columns N_total, N",
            )
        )
    return items


def _either(what: tuple[str, str, str], value: Any, source: str, why: str) -> dict:
    """``what`` = (group, item, label): known from ``source`` when ``value`` is there, else
    unknown for ``why``."""
    return _item(*what, value, KNOWN, source) if value else _unknown(*what, why)


def _training_items(r: _Recorded) -> list[dict]:
    """Training: optimiser, schedule, learning rate, batch, seeds, the loss, code."""
    frame, opts = r.frame, r.options
    items: list[dict] = []
    add = items.append
    add(_from_column(frame, "training", "optimizer", "training optimiser", ""))
    add(_from_column(frame, "training", "schedule", "learning-rate schedule", ""))
    add(_from_column(frame, "training", "lr", "peak learning rate", ""))
    add(
        _from_column(
            frame,
            "training",
            "batch",
            "batch size",
            "tokens per step unless the column says otherwise",
        )
    )
    add(_from_column(frame, "training", "seed", "seeds", ""))
    unit_col = _column(frame, "loss_unit")
    eval_col = "eval_set" if frame is not None and "eval_set" in frame.columns else None
    evaluated = opts.get("eval_set") or (_values(frame, eval_col) if eval_col else None)
    where = f" on {evaluated}" if evaluated else " on an evaluation set the run table does not name"
    if unit_col:
        add(
            _item(
                "training",
                "loss_definition",
                "loss definition",
                f"{_values(frame, unit_col)}{where}",
                KNOWN,
                f"run table column '{unit_col}'",
            )
        )
    else:
        add(
            _item(
                "training",
                "loss_definition",
                "loss definition",
                f"cross-entropy, nats/token{where}",
                ASSUMED,
                "scalelab's run-table convention (DESIGN.md §3): losses are nats/token unless a "
                "column says otherwise",
            )
        )
    add(_from_column(frame, "training", "code_version", "training code version", ""))
    return items


def _fit_method_items(r: _Recorded) -> list[dict]:
    """Fit, how: the form, fitting loss, optimiser and initialisation."""
    law, opts = r.law, r.options
    items: list[dict] = []
    add = items.append
    formula = (law.provenance or {}).get("formula", "")
    add(
        _item(
            "fit",
            "form",
            "functional form",
            f"{law.form}: {formula}" if formula else law.form,
            KNOWN,
            "the law",
        )
    )
    if opts.get("loss"):
        loss = opts["loss"]
        text = (
            f"Huber, delta = {opts.get('delta'):g}, on log-loss residuals, summed"
            if loss == "huber"
            else "mean squared error on log-loss residuals"
            if loss == "mse"
            else str(loss)
        )
        add(_item("fit", "fit_loss", "fitting loss", text, KNOWN, "the fit's options"))
    else:
        add(
            _unknown(
                "fit",
                "fit_loss",
                "fitting loss",
                "the law records no fitting options (published or hand-made)",
            )
        )
    if opts.get("optimizer"):
        add(
            _item(
                "fit",
                "fit_optimizer",
                "fitting optimiser",
                opts["optimizer"] + f", at most {opts.get('max_iter', '?')} iterations",
                KNOWN,
                "the fit's options",
            )
        )
    else:
        add(
            _unknown(
                "fit", "fit_optimizer", "fitting optimiser", "the law records no fitting optimiser"
            )
        )
    if opts.get("grid"):
        grid = opts["grid"]
        n = int(np.prod([len(v) for v in grid.values()]))
        s = law.starts or {}
        text = f"{n} starts, grid " + "; ".join(
            f"{k} in {{{', '.join(f'{x:g}' for x in v)}}}" for k, v in grid.items()
        )
        if s.get("converged_to_best") is not None:
            text += f"; {s['converged_to_best']} of {s.get('n', n)} reached the best objective"
        add(_item("fit", "init_grid", "initialisation", text, KNOWN, "the fit's options"))
    else:
        add(
            _unknown("fit", "init_grid", "initialisation", "the law records no initialisation grid")
        )
    return items


def _fit_record_items(r: _Recorded) -> list[dict]:
    """Fit, on what: the runs included, the uncertainty and the code versions."""
    law, opts, data = r.law, r.options, r.data
    record = "the law's data record"
    if data.get("run_ids") is not None:
        text = (
            f"{law.n_runs} runs, {law.n_points} points "
            f"({opts.get('points', '?')} evaluation of each run)"
        )
        text += "".join(
            f"; {v} from {lo:.3g} to {hi:.3g}" for v, (lo, hi) in data.get("ranges", {}).items()
        )
        if data.get("notes"):
            text += "; " + "; ".join(data["notes"])
        items = [
            _item("fit", "fit_range", "fitting range (runs included)", text, KNOWN, record),
            _item("fit", "runs_source", "runs from", data.get("source", UNKNOWN), KNOWN, record),
        ]
    else:
        why = "the law records no runs"
        items = [_unknown("fit", "fit_range", "fitting range (runs included)", why)]
    uncertainty = ("fit", "uncertainty", "uncertainty")
    if opts.get("bootstrap"):
        b = (law.starts or {}).get("bootstrap", {})
        text = (
            f"{opts['bootstrap']} run-level bootstrap resamples ({b.get('failed', '?')} failed), "
            f"{opts.get('level', 0.95):.0%} percentile intervals"
        )
    else:
        text = "none: fitted without bootstrap" if opts else None
    items.append(
        _either(uncertainty, text, "the fit's options", "the law records no fitting options")
    )
    version = f"scalelab {law.version}"
    items.append(
        _item("fit", "fit_code_version", "fitting code version", version, KNOWN, "the law")
    )
    items.append(
        _item(
            "fit",
            "report_code_version",
            "report code version",
            code_version(),
            KNOWN,
            "this installation",
        )
    )
    return items


GROUPS = (_data_items, _model_items, _training_items, _fit_method_items, _fit_record_items)
"""The checklist's groups in order: each a function of the record returning its items."""


def to_json(items: Sequence[dict]) -> dict:
    """The machine-readable record: items plus counts by status."""
    counts = {s: sum(1 for i in items if i["status"] == s) for s in (KNOWN, ASSUMED, MISSING)}
    return {
        "checklist": "Li, Kudugunta, Zettlemoyer 2025, (Mis)Fitting: A Survey of Scaling Laws, "
        "arXiv:2502.18969",
        "counts": counts,
        "items": list(items),
    }


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(items: Sequence[dict]) -> str:
    """A Markdown table: group, item, value, status, source."""
    lines = ["| group | item | value | status | source |", "|---|---|---|---|---|"]
    for i in items:
        value = f"**{UNKNOWN}**" if i["status"] == MISSING else _md(i["value"])
        lines.append(
            f"| {i['group']} | {_md(i['label'])} | {value} | {i['status']} | {_md(i['source'])} |"
        )
    return "\n".join(lines) + "\n"
