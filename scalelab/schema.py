"""The one base of scalelab's typed configuration (run configs, data specs, ladder specs).

Every config section is a :class:`Schema`: unknown keys are errors (a typo is never silently
ignored) and assignments are validated. :func:`validate` turns pydantic's errors into scalelab's
input errors, one line per problem naming the file, the ``[section] field`` and what was expected.
"""

from __future__ import annotations

from typing import Annotated, Optional, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator

from scalelab.errors import InputError

S = TypeVar("S", bound=BaseModel)

#: Longest echo of a user's bad value in an error line.
MAX_ECHO = 40

#: Seeds are 0 <= seed < 2**63: what torch's and numpy's generators both accept (torch takes at most
#: a 64-bit integer, numpy only non-negative ones), so a seed is the same seed everywhere.
SEED_LIMIT = 2**63


def _seed(value: int) -> int:
    if not 0 <= value < SEED_LIMIT:
        shown = str(value) if len(str(value)) <= MAX_ECHO else f"{str(value)[:MAX_ECHO]}..."
        raise ValueError(f"expected a seed 0 <= seed < 2**63, got {shown}")
    return value


Seed = Annotated[int, AfterValidator(_seed)]
"""A random seed in a config: an integer in ``[0, 2**63)``."""


class Schema(BaseModel):
    """Base of every config section: unknown keys forbidden, assignments validated, and numbers
    finite (``inf`` and ``nan`` pass no range check, so they are refused outright)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _true_or_false(cls, value, info):
        """A switch is ``true`` or ``false``: pydantic would read ``"yes"``, ``"off"`` or ``1`` as
        a bool, so a mistyped value would pass as a setting the user never wrote."""
        field = cls.model_fields.get(info.field_name)
        if field is not None and field.annotation in (bool, Optional[bool], "bool"):
            if value is not None and not isinstance(value, bool):
                shown = repr(value) if len(repr(value)) <= MAX_ECHO else repr(value)[:MAX_ECHO]
                raise ValueError(f"expected true or false, got {shown}")
        return value


def sections(model: type[BaseModel]) -> set[str]:
    """The fields of ``model`` that are config sections (sub-models), named ``[section]`` in errors."""
    return {
        name
        for name, field in model.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }


def _where(parts: list[str], named: set[str]) -> str:
    if not parts:
        return ""
    if len(parts) == 1:
        return f"[{parts[0]}]" if parts[0] in named else parts[0]
    return f"[{parts[0]}] " + ".".join(parts[1:])


def format_validation_error(
    source: str, exc: ValidationError, named: set[str] = frozenset()
) -> list[str]:
    """One readable line per pydantic error: ``source: [section] field: what was expected``.

    ``named`` are the top-level sections, bracketed even when the error is about the whole section.
    """
    lines = []
    for e in exc.errors():
        parts = [str(p) for p in e["loc"] if not str(p).startswith("function-after")]
        if e["type"] == "extra_forbidden":
            section = f"[{'.'.join(parts[:-1])}]" if len(parts) > 1 else "the top level"
            lines.append(f"{source}: unknown key '{parts[-1]}' in {section}")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        where = _where(parts, named)
        lines.append(f"{source}: {where}: {msg}" if where else f"{source}: {msg}")
    return lines


def validate(model: type[S], raw: object, source: str) -> S:
    """``model`` validated from ``raw``; every problem becomes one line of an :class:`InputError`."""
    if not isinstance(raw, dict):
        raise InputError(f"{source}: expected a table of settings, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InputError(format_validation_error(source, exc, sections(model))) from None
