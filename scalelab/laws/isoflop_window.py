"""Where on an IsoFLOP profile approach 2 looks for the optimum: the window, and its bootstrap.

A parabola of loss against log N through *every* point of a profile finds the wrong minimum when
the profile is sampled over a wide or asymmetric range of N: far from the optimum the profile is
not quadratic (it rises steeply on the small-N side, gently on the large-N side), and the far
points pull the vertex. Three methods:

* ``parabola`` (default, ``decades`` = 0.4): a parabola through the points within ``decades``
  (log10 N) of the lowest sampled loss, then re-centred on the parabola's vertex until the window
  stops moving (at most 5 passes); at least ``min_points`` points, the nearest ones if the window
  holds fewer.
* ``akima``: Porian et al. 2024's method (github.com/formll/resolving-scaling-law-discrepancies,
  ``analysis.interpolation``): the minimum loss per model size, an Akima spline of log L against
  log N evaluated on ``grid`` points per sampling interval, and its argmin; an argmin at either end
  of the grid is not a bracketed optimum.
* ``all``: the whole-profile parabola (Hoffmann et al. 2022's description; the old behaviour).

Bootstrap (``profile_bootstrap``): "seed noise" as in Porian et al.: each replicate multiplies every
loss by exp(sigma * e), e standard normal, and re-finds every budget's optimum *with its own
window*. sigma is the pooled residual sd of log L about the window parabolas (``estimate_noise``)
unless given. Per budget, the sd of log N_opt over replicates (floored at a third of the mean
sampling step in log N, and inflated by replicates / usable replicates, as Porian et al. do) weights
the fit of log N_opt against log C; a budget with fewer than half its replicates usable is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from scalelab.errors import InputError

METHODS = ("parabola", "akima", "all")
MAX_PASSES = 8
MIN_STD_FACTOR = 0.33  # Porian et al.: sd(log N_opt) >= 0.33 x the sampling step in log N
LN10 = float(np.log(10.0))
NOISE_POINTS, NOISE_DOF = 5, 3  # estimate_noise: points per window parabola, dof over all


@dataclass(frozen=True)
class Window:
    """Which points of a profile locate its optimum (see the module docstring)."""

    method: str = "parabola"
    rise: Optional[float] = 0.04
    decades: Optional[float] = None
    min_points: int = 4
    grid: int = 25

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(
                f"IsoFLOP window: unknown method {self.method!r}; expected one of "
                + ", ".join(METHODS)
            )
        for name in ("rise", "decades"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise InputError(f"IsoFLOP window: {name} must be a positive number, got {value}")
        if self.method == "parabola" and (self.rise is None) == (self.decades is None):
            raise InputError("IsoFLOP window: a parabola window takes one of rise or decades")
        if self.min_points < 3 or self.grid < 2:
            raise InputError("IsoFLOP window: min_points must be >= 3 and grid >= 2")

    @classmethod
    def parse(cls, text: str | Window | None) -> Window:
        """``parabola`` (= ``parabola:rise=0.04``), ``parabola:decades=0.4``, ``akima``,
        ``akima:grid=25`` or ``all``; ``min_points=K`` may be added (comma-separated)."""
        if text is None:
            return cls()
        if isinstance(text, Window):
            return text
        method, _, args = str(text).strip().partition(":")
        kwargs: dict = {}
        for part in filter(None, (p.strip() for p in args.split(","))):
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or key not in ("rise", "decades", "min_points", "grid"):
                raise InputError(
                    f"IsoFLOP window {text!r}: expected METHOD[:KEY=VALUE,...] with KEY one of "
                    "rise, decades, min_points, grid (e.g. parabola:rise=0.05, "
                    "parabola:decades=0.4, akima)"
                )
            try:
                kwargs[key] = int(value) if key in ("min_points", "grid") else float(value)
            except ValueError:
                raise InputError(f"IsoFLOP window {text!r}: {key} must be a number") from None
        if "decades" in kwargs and "rise" not in kwargs:
            kwargs["rise"] = None
        return cls(method.strip().lower(), **kwargs)

    def describe(self) -> dict:
        d = {"method": self.method, "text": self.text()}
        if self.method == "parabola":
            d |= {"rise": self.rise, "decades": self.decades, "min_points": self.min_points}
        if self.method == "akima":
            d["grid"] = self.grid
        return d

    def text(self) -> str:
        if self.method == "parabola":
            half = (
                f"{self.decades:g} decades of N"
                if self.decades is not None
                else f"the sizes where the parabola rises {self.rise:.0%} above its minimum"
            )
            return (
                f"parabola in log N over a window centred on its vertex: within {half} "
                f"(at least {self.min_points} points; refitted until the window stops moving)"
            )
        if self.method == "akima":
            return (
                f"Akima spline of log L in log N, argmin on {self.grid} grid points per interval, "
                "minimum loss per size (Porian et al. 2024)"
            )
        return "parabola in log N through every point of the profile"


def prepare(window: Window, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (log N, loss) for one profile; for ``akima``, the minimum loss per size."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if window.method == "akima":
        ux, inv = np.unique(x, return_inverse=True)
        uy = np.full(ux.size, np.inf)
        np.minimum.at(uy, inv, y)
        return ux, uy
    return x, y


def optima(window: Window, x: np.ndarray, Y: np.ndarray):
    """The optimum of each row of ``Y`` (R, n) over sorted ``x`` (n,).

    Returns ``(vertex, loss, ok, reason, coef, mask)``: log N_opt and the loss there (R,), whether
    it is a bracketed minimum (R,), why not (a string per row, "" when ok), and, for the parabola
    methods, the coefficients (R, 3; c0 + c1 x + c2 x^2) and the points used (R, n).
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    if window.method == "akima":
        return _akima(window, x, Y)
    R, n = Y.shape
    lowest = np.argmin(Y, axis=1)
    if window.method == "all":
        mask = np.ones((R, n), dtype=bool)
    else:  # start from the contiguous points around the lowest loss within (1 + rise) of it
        mask = _run_below(window, x, Y, lowest)
    coef = _wls(x, Y, mask)
    vertex = _vertex(coef)
    for _ in range(MAX_PASSES if window.method == "parabola" else 0):
        new = _symmetric(window, x, coef, vertex, x[lowest])
        moved = (new != mask).any(axis=1)
        if not moved.any():
            break
        new_coef = _wls(x, Y, new)
        new_vertex = _vertex(new_coef)
        # a move is kept only if the new window brackets its own vertex (no oscillation)
        accept = moved & _inside(new_coef, new_vertex, x, new)
        if not accept.any():
            break
        mask = np.where(accept[:, None], new, mask)
        coef = np.where(accept[:, None], new_coef, coef)
        vertex = np.where(accept, new_vertex, vertex)
    opens_up = coef[:, 2] > 0
    inside = _inside(coef, vertex, x, mask)
    edge = (lowest == 0) | (lowest == n - 1) if window.method != "all" else np.zeros(R, dtype=bool)
    ok = inside & ~edge
    reason = np.where(
        ok,
        "",
        np.where(
            ~opens_up,
            "the parabola opens downwards",
            np.where(
                edge,
                "the lowest loss is at the edge of the sampled sizes",
                "the parabola's minimum lies outside the points it was fitted to",
            ),
        ),
    )
    with np.errstate(invalid="ignore", over="ignore"):
        loss = coef[:, 0] + coef[:, 1] * vertex + coef[:, 2] * vertex**2
    return vertex, loss, ok, reason, coef, mask


def estimate_noise(window: Window, profiles: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Pooled residual sd of log L about a parabola in log L on each profile's window, widened to
    at least ``NOISE_POINTS`` points so that residuals exist (NaN with fewer than ``NOISE_DOF``
    degrees of freedom over all profiles)."""
    base = window if window.method == "parabola" else Window()
    fitter = Window("parabola", base.rise, base.decades, max(base.min_points, NOISE_POINTS))
    rss, dof = 0.0, 0
    for x, y in profiles:
        used = optima(fitter, x, y[None, :])[5]
        logy = np.log(y)[None, :]
        coef = _wls(x, logy, used)
        if used.sum() > 3 and np.all(np.isfinite(coef)):
            u = used[0]
            fit = coef[0, 0] + coef[0, 1] * x[u] + coef[0, 2] * x[u] ** 2
            rss += float(np.sum((logy[0, u] - fit) ** 2))
            dof += int(u.sum()) - 3
    return float(np.sqrt(rss / dof)) if dof >= NOISE_DOF else float("nan")


def profile_bootstrap(
    window: Window,
    profiles: list[tuple[np.ndarray, np.ndarray]],
    replicates: int,
    noise: float,
    rng: np.random.Generator,
):
    """log N_opt of each profile under ``replicates`` seed-noise replicates.

    Returns ``(samples, sd)``: samples (budgets, R) with NaN where a replicate's optimum is not
    bracketed, and each budget's sd of log N_opt as Porian et al. weight it (NaN when fewer than
    half the replicates are usable: the budget is then not a reliable optimum).
    """
    samples = np.full((len(profiles), replicates), np.nan)
    sd = np.full(len(profiles), np.nan)
    for j, (x, y) in enumerate(profiles):
        Y = y[None, :] * np.exp(noise * rng.standard_normal((replicates, y.size)))
        vertex, _, ok, _, _, _ = optima(window, x, Y)
        samples[j] = np.where(ok, vertex, np.nan)
        usable = int(ok.sum())
        if usable >= max(2, replicates // 2):
            step = float(np.mean(np.diff(np.unique(x)))) if np.unique(x).size > 1 else 0.0
            spread = max(float(np.std(vertex[ok])), MIN_STD_FACTOR * step)
            sd[j] = spread * replicates / usable
    return samples, sd


def weighted_slope(lc: np.ndarray, Y: np.ndarray, sd: Optional[np.ndarray]) -> np.ndarray:
    """Slope and intercept of Y (budgets,) or (budgets, R) against lc, weights 1/sd^2 (or none),
    skipping NaN rows per column. Returns (2,) or (2, R)."""
    Y = np.asarray(Y, dtype=float)
    single = Y.ndim == 1
    Y = Y[:, None] if single else Y
    w = np.ones(len(lc)) if sd is None else 1.0 / np.asarray(sd, dtype=float) ** 2
    W = np.where(np.isfinite(Y), w[:, None], 0.0)
    Yz = np.where(np.isfinite(Y), Y, 0.0)
    sw = W.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (W * lc[:, None]).sum(axis=0) / sw
        ym = (W * Yz).sum(axis=0) / sw
        sxx = (W * (lc[:, None] - xm) ** 2).sum(axis=0)
        slope = (W * (lc[:, None] - xm) * (Yz - ym)).sum(axis=0) / sxx
    slope = np.where((W > 0).sum(axis=0) >= 2, slope, np.nan)
    out = np.stack([slope, ym - slope * xm])
    return out[:, 0] if single else out


def _inside(coef: np.ndarray, vertex: np.ndarray, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Whether each parabola opens upwards with its vertex within the points it was fitted to."""
    lo = np.where(mask, x, np.inf).min(axis=1)
    hi = np.where(mask, x, -np.inf).max(axis=1)
    with np.errstate(invalid="ignore"):
        return (coef[:, 2] > 0) & (vertex >= lo) & (vertex <= hi)


def _run_below(window: Window, x: np.ndarray, Y: np.ndarray, lowest: np.ndarray) -> np.ndarray:
    """The contiguous points around each row's lowest loss within (1 + rise) of it (rise 4% for
    a decades window), widened to the ``min_points`` nearest (in log N) if fewer."""
    R, n = Y.shape
    rise = window.rise if window.rise is not None else 0.04
    below = Y <= Y[np.arange(R), lowest][:, None] * (1.0 + rise)
    j = np.arange(n)[None, :]
    left = np.where(~below & (j < lowest[:, None]), j, -1).max(axis=1)
    right = np.where(~below & (j > lowest[:, None]), j, n).min(axis=1)
    run = (j > left[:, None]) & (j < right[:, None])
    return run | _nearest(window, x, x[lowest], np.zeros(R))


def _symmetric(window, x, coef, vertex, fallback) -> np.ndarray:
    """Points within the half-width of each row's vertex (``decades``, or where the parabola
    rises ``rise`` above its minimum), at least the ``min_points`` nearest."""
    centre = np.where(np.isfinite(vertex), vertex, fallback)
    if window.decades is not None:
        half = np.full(len(centre), window.decades * LN10)
    else:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            bottom = coef[:, 0] + coef[:, 1] * centre + coef[:, 2] * centre**2
            half = np.sqrt(window.rise * np.abs(bottom) / coef[:, 2])
        half = np.where(np.isfinite(half) & (coef[:, 2] > 0), half, 0.0)
    return _nearest(window, x, centre, half)


def _nearest(window: Window, x: np.ndarray, centre: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Points within ``half`` (log N) of each centre, or the ``min_points`` nearest if fewer."""
    d = np.abs(x[None, :] - centre[:, None])
    rank = np.argsort(np.argsort(d, axis=1, kind="stable"), axis=1)
    return (d <= half[:, None] * (1 + 1e-9)) | (rank < window.min_points)


def _wls(x: np.ndarray, Y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Least squares Y ~ c0 + c1 x + c2 x^2 per row over the masked points -> (R, 3)."""
    W = mask.astype(float)
    xc = (W * x).sum(axis=1, keepdims=True) / W.sum(axis=1, keepdims=True)  # centred per row
    u = x[None, :] - xc
    X = np.stack([np.ones_like(u), u, u**2], axis=2)  # (R, n, 3)
    A = np.einsum("rn,rni,rnj->rij", W, X, X)
    rhs = np.einsum("rn,rni,rn->ri", W, X, Y)
    scale = np.maximum(1.0, np.abs(A).max(axis=(1, 2)))
    singular = np.abs(np.linalg.det(A)) < 1e-12 * scale**3
    A[singular] = np.eye(3)
    c = np.linalg.solve(A, rhs[..., None])[..., 0]
    c[singular] = np.nan
    xc = xc[:, 0]
    return np.stack(
        [c[:, 0] - c[:, 1] * xc + c[:, 2] * xc**2, c[:, 1] - 2 * c[:, 2] * xc, c[:, 2]], axis=1
    )


def _vertex(coef: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        v = -coef[:, 1] / (2 * coef[:, 2])
    return np.where(np.isfinite(v), v, np.nan)


def _akima(window: Window, x: np.ndarray, Y: np.ndarray):
    from scipy.interpolate import Akima1DInterpolator

    R, n = Y.shape
    grid = np.linspace(x[0], x[-1], (n - 1) * window.grid)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = Akima1DInterpolator(x, np.log(Y).T, axis=0)(grid)  # (G, R)
    i = np.nanargmin(np.where(np.isfinite(values), values, np.inf), axis=0)
    ok = (i > 0) & (i < grid.size - 1)
    reason = np.where(ok, "", "the interpolated minimum is at the edge of the sampled sizes")
    loss = np.exp(values[i, np.arange(R)])
    nan = np.full((R, 3), np.nan)
    return grid[i], loss, ok, reason, nan, np.ones((R, n), dtype=bool)
