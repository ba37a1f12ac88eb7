"""The fitting-only demo (``scalelab demo --published``): no training, a few seconds.

It works on the bundled published runs: it fits Chinchilla's law with bootstrap intervals to Gadre
et al.'s ladder, compares Kaplan's form, runs an IsoFLOP analysis on Porian et al.'s profiles, and
plans compute-optimal models for a few budgets beside the published Chinchilla law. Outputs (laws
as JSON, a summary) go to one folder. The default ``scalelab demo`` trains its own ladder instead
(:mod:`scalelab.pipelines.demo_ladder`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scalelab import atomic, examples, laws
from scalelab.laws import isoflop, published

BUDGETS = (1e21, 1e23, 5.76e23, 1e25)
PORIAN_CONFIG = "rw/tuned/short/const/standard/val"


def run_demo(output: str | Path, console: Console | None = None) -> dict:
    console = console or Console()
    output = Path(output)
    t0 = time.perf_counter()

    table = examples.load("gadre2024")
    console.rule("1. Fit L(N, D) = E + A/N^alpha + B/D^beta to Gadre et al. 2024 (C4, 34 runs)")
    with console.status(
        "fitting chinchilla from 4,500 starts, then 1,000 run-level bootstrap refits"
    ):
        law = laws.fit(table, "chinchilla", params="total", bootstrap=1000, seed=0)
    _law_table(console, law)
    law.save(output / "chinchilla_gadre2024.json")

    console.rule("2. Kaplan's L(N, D) on the same runs")
    kaplan = laws.fit(table, "kaplan-nd", params="total")
    console.print(
        ", ".join(f"{k} = {v:.4g}" for k, v in kaplan.params.items())
        + f"; objective {kaplan.objective:.4g} vs chinchilla {law.objective:.4g}"
    )
    kaplan.save(output / "kaplan_nd_gadre2024.json")

    console.rule(f"3. IsoFLOP profiles (approach 2), Porian et al. 2024 config {PORIAN_CONFIG}")
    profiles = isoflop.isoflop_profiles(
        examples.load("porian2024").where(config=PORIAN_CONFIG), bootstrap=1000
    )
    console.print(
        f"N_opt ~ C^{profiles.a:.3f} [{profiles.ci['a'][0]:.3f}, {profiles.ci['a'][1]:.3f}], "
        f"D_opt ~ C^{profiles.b:.3f} over {len(profiles.budgets)} budgets"
    )
    atomic.write_text(output / "isoflop_porian2024.json", json.dumps(profiles.to_dict(), indent=2))

    console.rule("4. Compute-optimal plans: our fit beside the published Chinchilla law")
    reference = published.get("chinchilla-2022")
    plan = Table()
    for col in (
        "C (FLOPs)",
        "N_opt (fit)",
        "D_opt (fit)",
        "tokens/param (fit, 95%)",
        "loss (fit)",
        "tokens/param (Hoffmann 2022)",
    ):
        plan.add_column(col, justify="right")
    rows = []
    for C in BUDGETS:
        a, r = law.optimal(C), reference.optimal(C)
        tp = a.ci["tokens_per_param"]
        plan.add_row(
            f"{C:.3g}",
            f"{a.N_opt:.3g}",
            f"{a.D_opt:.3g}",
            f"{a.tokens_per_param:.1f} [{tp[0]:.1f}, {tp[1]:.1f}]",
            f"{a.loss:.3f}",
            f"{r.tokens_per_param:.1f}",
        )
        rows.append({"fit": a.to_dict(), "hoffmann_2022": r.to_dict()})
    console.print(plan)
    summary = {
        "law": law.summary(),
        "kaplan_nd": kaplan.summary(),
        "isoflop": profiles.to_dict(),
        "plans": rows,
        "seconds": time.perf_counter() - t0,
    }
    atomic.write_text(output / "summary.json", json.dumps(summary, indent=2, default=float))
    console.print(f"demo finished in {summary['seconds']:.1f} s; outputs in {output.resolve()}")
    return summary


def _law_table(console: Console, law) -> None:
    t = Table()
    for col in ("parameter", "estimate", "95% interval"):
        t.add_column(col, justify="right")
    for name, value in list(law.params.items()) + [(k, law.derived[k]) for k in ("a", "b")]:
        lo, hi = law.ci.get(name, [float("nan")] * 2)
        t.add_row(name, f"{value:.4g}", f"[{lo:.4g}, {hi:.4g}]")
    console.print(t)
    s = law.starts
    console.print(
        f"{s['converged_to_best']} of {s['n']} starts reached the best objective; "
        f"{s['bootstrap']['failed']} of {s['bootstrap']['resamples']} bootstrap refits failed"
    )
    for w in law.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
