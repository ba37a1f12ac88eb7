"""Step 2's link chosen by backtest, and step 2's own extrapolation error, from held-out sizes.

As ``fit --form auto`` chooses a law form, :func:`choose_link` refits every candidate link on the
smaller runs with the largest size held out, then the two largest, then the three largest (as
long as two sizes remain to fit), and predicts each held-out run's final accuracy from its *true*
intermediate: step 2 alone, extrapolated. The link with the lowest mean |error| over all those
predictions is chosen; links within the noise of the best (the standard error of its mean
|error|) are tied, and the tie goes to the earliest in :data:`~scalelab.tasks.links.AUTO_LINKS`
(the OLMo ladder's published link first). The root mean square of the chosen link's held-out errors is step 2's measured
extrapolation error, which the chain's interval uses. A named link is backtested the same way
(for its error), alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scalelab.errors import InputError, NumericalError
from scalelab.tasks import data as taskdata
from scalelab.tasks.links import AUTO_LINKS, LINKS, fit_link

MAX_FOLDS = 3
MIN_FIT_SIZES = 2
TIE = 1e-4


def folds(points: pd.DataFrame) -> list[tuple[str, float]]:
    """(name, N threshold): fit runs with N below the threshold, hold out the rest."""
    sizes = np.sort(points["N"].astype(float).unique())
    out = []
    for k in range(1, MAX_FOLDS + 1):
        if len(sizes) - k < MIN_FIT_SIZES:
            break
        out.append((f"{k} largest size{'s' if k > 1 else ''}", float(sizes[-k])))
    return out


def choose_link(
    two: pd.DataFrame, points: pd.DataFrame, chance: float, link: str, top: float
) -> dict[str, Any]:
    """Backtest the candidate links on step 2's points ``two`` (targets: the final points of
    ``points``) and choose (module doc). Returns {"chosen", "candidates", "errors" {link: mean
    |error|}, "table" {link: {fold: mean |error|}}, "heldout_rms", "n_heldout", "decision"}."""
    if link == "auto":
        candidates = list(AUTO_LINKS)
    elif link in LINKS:
        candidates = [link]
    else:
        raise InputError(f"link: expected one of {', '.join(LINKS)} or auto, got {link!r}")
    final = taskdata.finals(points[np.isfinite(points["accuracy"].to_numpy(float))])
    errs: dict[str, list[float]] = {c: [] for c in candidates}
    table: dict[str, dict[str, float]] = {c: {} for c in candidates}
    for name, threshold in folds(two):
        fit = two[two["N"].astype(float) < threshold]
        test = final[final["N"].astype(float) >= threshold]
        if len(test) == 0:
            continue
        codes = pd.factorize(fit["run_id"].astype(str))[0]
        for cand in candidates:
            try:
                got = fit_link(cand, fit["x"].to_numpy(float), fit["accuracy"].to_numpy(float),
                               chance, codes, 0, 0, top)  # fmt: skip
            except NumericalError:
                continue
            e = got.predict(test["x"].to_numpy(float)) - test["accuracy"].to_numpy(float)
            errs[cand] += [float(v) for v in e]
            table[cand][name] = float(np.mean(np.abs(e)))
    scores = {c: float(np.mean(np.abs(v))) for c, v in errs.items() if v}
    if link != "auto" or not scores:
        chosen = candidates[0]
        decision = (
            f"link {link!r} as asked" if link != "auto" else
            f"too few sizes to backtest the links: {chosen}, the default"
        )  # fmt: skip
    else:
        best = min(scores, key=scores.get)
        noise = float(np.std(np.abs(errs[best])) / np.sqrt(len(errs[best])))
        tied = [c for c in candidates if c in scores and scores[c] <= scores[best] + noise + TIE]
        chosen = tied[0]
        listed = ", ".join(f"{c} {scores[c]:.4f}" for c in candidates if c in scores)
        decision = (
            f"{chosen} has the lowest mean |error| over the held-out sizes ({listed})"
            if chosen == best
            else f"{', '.join(tied)} are within the noise ({noise:.4f}) of the lowest mean "
            f"|error| over the held-out sizes ({listed}): chose {chosen}, the first of them"
        )
    held = errs.get(chosen) or []
    return {
        "chosen": chosen,
        "candidates": candidates,
        "errors": scores,
        "table": table,
        "heldout_rms": float(np.sqrt(np.mean(np.square(held)))) if held else None,
        "n_heldout": len(held),
        "decision": decision,
    }
