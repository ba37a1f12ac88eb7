"""The canvas of every report figure: matplotlib, loaded lazily with the Agg backend and the house
style, and a figure's output (SVG text, PNG bytes, a ``data:`` URI, files written atomically).

Importing this module costs nothing: matplotlib loads on the first figure. :mod:`scalelab.report.
figures` re-exports these names (``F.data_uri``, ``F.save``, ``F._figure``).
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

from scalelab import atomic


def _plt():
    import matplotlib  # noqa: PLC0415 (lazy)

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415 (lazy)

    matplotlib.rcParams.update(
        {
            "svg.hashsalt": "scalelab",
            "font.size": 9.5,
            "axes.titlesize": 10.5,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "figure.dpi": 100,
            "axes.spines.top": False,
            "axes.spines.right": False,
            # a report holds its figures until the page is written, then closes them all
            "figure.max_open_warning": 0,
        }
    )
    return plt


def _figure(ncols: int = 1, width: float = 6.4, height: float = 4.3):
    plt = _plt()
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False, layout="constrained")
    return fig, list(axes[0])


# -- output ---------------------------------------------------------------------------------------
def svg_text(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def png_bytes(fig, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def data_uri(fig, fmt: str = "svg") -> str:
    """The figure as a ``data:`` URI (an ``<img src>`` that needs no network)."""
    if fmt == "svg":
        return "data:image/svg+xml;base64," + base64.b64encode(
            svg_text(fig).encode("utf-8")
        ).decode("ascii")
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode("ascii")


def save(fig, stem: str | os.PathLike) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` atomically; return both paths."""
    stem = Path(stem)
    paths = []
    for suffix, content in ((".png", png_bytes(fig)), (".svg", svg_text(fig).encode("utf-8"))):
        path = stem.with_suffix(suffix)
        with atomic.atomic_path(path) as tmp:
            tmp.write_bytes(content)
        paths.append(path)
    return paths


def close(fig) -> None:
    _plt().close(fig)
