"""Parameter and FLOP conventions: which N and which C a fit uses, recorded in every law.

Li et al. 2025 show that these silent choices move fitted laws: Kaplan counts non-embedding
parameters, Hoffmann et al. count all of them; FLOPs may be 6ND, include the attention term, or be
counted exactly. Every fit takes both as explicit options and writes them into the law.

A third convention says what a run's steps S mean to a learning-curve law: Kaplan's L(N, S_min)
reads S_min = S/(1 + B_crit(L)/B), the steps the run would take at the critical batch size
(:mod:`scalelab.laws.batch`). ``bcrit`` is ``kaplan-2020`` (the published B* = 2e8 tokens,
α_B = 0.21; the default), ``none`` (the steps are S_min already), ``"B*,alpha_B"`` or a B_crit fit
file (``scalelab laws bcrit -o``). The variable ``S`` is S_min under it; ``S_raw`` the steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalelab.errors import InputError
from scalelab.laws import batch
from scalelab.runs.table import RunTable

PARAM_CONVENTIONS = {
    "non-embedding": ("N", "non-embedding parameters (Kaplan et al. 2020)"),
    "total": ("N_total", "all parameters, embeddings included (Hoffmann et al. 2022)"),
    "active": ("N_active", "parameters active per token (mixture-of-experts)"),
}
FLOP_CONVENTIONS = {
    "6ND": "C = 6 N D with the chosen N",
    "6ND+attention": "C = (6 N + 6 n_layer n_ctx d_model) D (Kaplan et al. 2020, Table 1: forward "
    "2N + 2 n_layer n_ctx d_model)",
    "table": "C as given by the run table (an exact count: flops_per_token * D, or its C column)",
}


@dataclass(frozen=True)
class Conventions:
    params: str = "non-embedding"
    flops: str = "6ND"
    bcrit: str = batch.KAPLAN

    def __post_init__(self):
        got = batch.resolve_bcrit(self.bcrit)  # validates it
        if got is not None and got[2].startswith("fitted"):  # a file: kept as its numbers, so a
            object.__setattr__(self, "bcrit", f"{got[0]!r},{got[1]!r}")  # law reloads without it
        if self.params not in PARAM_CONVENTIONS:
            raise InputError(
                f"parameter convention: expected one of {list(PARAM_CONVENTIONS)}, got "
                f"{self.params!r}"
            )
        if self.flops not in FLOP_CONVENTIONS:
            raise InputError(
                f"FLOP convention: expected one of {list(FLOP_CONVENTIONS)}, got {self.flops!r}"
            )

    def describe(self) -> dict:
        return {
            "params": self.params,
            "params_meaning": PARAM_CONVENTIONS[self.params][1],
            "params_column": PARAM_CONVENTIONS[self.params][0],
            "flops": self.flops,
            "flops_meaning": FLOP_CONVENTIONS[self.flops],
            "bcrit": self.bcrit,
            "steps_meaning": self.steps_meaning(),
        }

    def steps_meaning(self) -> str:
        got = batch.resolve_bcrit(self.bcrit)
        if got is None:
            return "S: the table's steps, taken as S_min (bcrit = none)"
        b_star, alpha_b, where = got
        return (
            f"S is S_min = S/(1 + B_crit(L)/B), B_crit(L) = {b_star:.4g}/L^(1/{alpha_b:.4g}) "
            f"tokens ({where})"
        )

    def variables(self, table: RunTable) -> dict[str, np.ndarray]:
        """N, D, C (and S where the table has steps) under these conventions."""
        column = PARAM_CONVENTIONS[self.params][0]
        if not table.has(column):
            present = [c for c, _ in PARAM_CONVENTIONS.values() if table.has(c)]
            hint = "; the table has " + ", ".join(present) if present else ""
            raise InputError(
                f"{table.source}: parameter convention '{self.params}' needs column '{column}'"
                f"{hint} (choose with --params non-embedding|total|active, or map a column with "
                f"--column {column}=...)"
            )
        N = table[column].astype(float)
        if np.isnan(N).any():
            raise InputError(
                f"{table.source}: column '{column}' has missing values; needed by convention "
                f"'{self.params}'"
            )
        D = table["D"].astype(float)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            C = self._flops(table, N, D)
        bad = np.flatnonzero(~(np.isfinite(C) & (C > 0)))
        if len(bad):
            rows = ", ".join(str(i + 1) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
            raise InputError(
                f"{table.source}: C under FLOP convention '{self.flops}' is not a positive finite "
                f"number in {len(bad)} row(s) (rows {rows}): N and D are too large or too small"
            )
        out = {"N": N, "D": D, "C": C}
        if table.has("step"):
            out["S_raw"] = out["S"] = table["step"].astype(float)
            got = batch.resolve_bcrit(self.bcrit)
            if got is not None:
                if table.has("tokens_per_step") and not np.isnan(table["tokens_per_step"]).any():
                    b = table["tokens_per_step"].astype(float)
                else:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        b = D / out["S"]
                with np.errstate(divide="ignore", invalid="ignore"):
                    out["S"] = batch.s_min(out["S"], b, table["loss"].astype(float), *got[:2])
        return out

    def _flops(self, table: RunTable, N: np.ndarray, D: np.ndarray) -> np.ndarray:
        if self.flops == "6ND":
            return 6.0 * N * D
        if self.flops == "6ND+attention":
            need = [c for c in ("n_layer", "n_ctx", "d_model") if not table.has(c)]
            if need:
                raise InputError(
                    f"{table.source}: FLOP convention '6ND+attention' needs column(s) "
                    f"{', '.join(need)}"
                )
            return (6.0 * N + 6.0 * table["n_layer"] * table["n_ctx"] * table["d_model"]) * D
        if table.has("flops_per_token"):
            return table["flops_per_token"].astype(float) * D
        if "C" not in table.derived:
            return table["C"].astype(float)
        raise InputError(
            f"{table.source}: FLOP convention 'table' needs a C or flops_per_token column"
        )
