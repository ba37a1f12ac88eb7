"""The two kinds of failure scalelab reports, and the exit status each one maps to.

* :class:`InputError` -- the user's input is wrong (a file, a field, an option). The CLI prints one
  line per problem and exits with status 2, having written nothing.
* :class:`NumericalError` -- the input is fine but the computation failed (a fit that did not
  converge, too few points, a divergent run). The CLI prints it and exits with status 3. It is never
  turned silently into a number.
"""

from __future__ import annotations


class ScalelabError(Exception):
    """Base class of the errors the CLI reports without a traceback."""

    exit_code = 1

    def __init__(self, problems: str | list[str], summary: list[str] | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.summary = list(summary) if summary else None
        super().__init__("\n".join(self.problems))

    @property
    def lines(self) -> list[str]:
        """What the CLI prints: the short ``summary`` (one line per column, say) where there is
        one, else every problem."""
        return self.summary or self.problems


class InputError(ScalelabError):
    """Bad input: a file, a field or an option is not what was expected. Exit status 2."""

    exit_code = 2


class NumericalError(ScalelabError):
    """A computation failed on valid input (non-convergence, too few points). Exit status 3."""

    exit_code = 3
