"""Quantities as people write them: ``27B`` parameters, ``14T`` tokens, ``1e23`` FLOPs, ``30d``.

One parser for the whole package (the CLI's options, benchmark sizes, spec values given as text).
A bad value is one :class:`~scalelab.errors.InputError` line naming the option it came from.
"""

from __future__ import annotations

import math
import re

from scalelab.errors import InputError

#: Count suffixes (case-insensitive): thousand, million, billion (B or G), trillion, quadrillion.
SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}
#: Duration suffixes, in seconds.
DURATION = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_COUNT = re.compile(rf"\s*({_NUMBER})\s*([kKmMbBgGtTpP]?)\s*", re.ASCII)
_GROUPED = re.compile(
    r"[+-]?\d{1,3}(?:[,_]\d{3})+(?:\.\d*)?(?:[eE][+-]?\d+)?\s*[a-zA-Z]*", re.ASCII
)
"""Digits grouped by thousands (``1,000``, ``10_000_000``): the only place a comma may stand."""
_TIME = re.compile(rf"\s*({_NUMBER})\s*(s|min|h|d|w)?\s*", re.IGNORECASE | re.ASCII)


def cut(value: object, limit: int = 40) -> str:
    """A user's value quoted for an error line, cut to ``limit`` characters: an error never
    echoes a 5 MB cell or option."""
    text = value if isinstance(value, str) else str(value)
    text = repr(text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 4] + "...'"


_cut = cut


def quantity(value: object, name: str) -> float:
    """A count given as text or a number: ``27B`` -> 2.7e10, ``14T``, ``1e23``, ``1,000``, ``0.1M``.

    ``name`` is the option or field the value came from; it starts the error line.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        if ("," in text or "_" in text) and not _GROUPED.fullmatch(text):
            text = "not a number"  # 1,0,0 is no grouping of thousands: refused, not read as 100
        text = text.replace(",", "").replace("_", "")
        match = _COUNT.fullmatch(text)
        if not match:
            raise InputError(
                f"{name}: expected a number (e.g. 1e21, 27e9, 27B, 14T), got {_cut(value)}"
            )
        number = float(match.group(1)) * SCALE.get(match.group(2).lower(), 1.0)
    if not math.isfinite(number):
        raise InputError(f"{name}: expected a finite number, got {_cut(value)}")
    return number


def optional_quantity(value: object | None, name: str) -> float | None:
    """:func:`quantity`, passing ``None`` (an option not given) through."""
    return None if value is None else quantity(value, name)


def duration(value: object, name: str, unit: str = "d") -> float:
    """A length of time in ``unit`` (s, min, h, d, w): ``30d``, ``12h``, or a bare number in ``unit``."""
    if unit not in DURATION:
        raise ValueError(f"unknown time unit {unit!r}")
    match = _TIME.fullmatch(str(value).replace(",", "").replace("_", ""))
    if not match:
        raise InputError(f"{name}: expected a time such as 30d, 12h or 90min, got {_cut(value)}")
    seconds = float(match.group(1)) * DURATION[(match.group(2) or unit).lower()]
    if not math.isfinite(seconds):
        raise InputError(f"{name}: expected a finite time, got {_cut(value)}")
    return seconds / DURATION[unit]
