"""Usage lines with plain metavars: ``scalelab train [OPTIONS] CONFIG``.

typer 0.29 writes a required argument as ``{CONFIG}`` in the usage line; the commands of the
commands use :class:`PlainUsage` (``@app.command(cls=PlainUsage)``), which writes it as
``CONFIG`` (optional arguments stay ``[SPEC]``), and the groups :class:`PlainGroup`; both show
``--help`` without a ``<bool>`` value.
"""

from __future__ import annotations

from typer.core import TyperCommand, TyperGroup


def _plain_help(option):
    if option is not None:
        option.metavar = ""
    return option


class PlainGroup(TyperGroup):
    """A command group whose --help shows no <bool> either."""

    def get_help_option(self, ctx):
        return _plain_help(super().get_help_option(ctx))


class PlainUsage(TyperCommand):
    """A command whose usage line shows required arguments without braces, and whose --help
    shows no <bool>."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [
            p[1:-1] if p.startswith("{") and p.endswith("}") else p
            for p in super().collect_usage_pieces(ctx)
        ]

    def get_help_option(self, ctx):
        """``--help`` without a ``<bool>`` value in the help, like every other on/off option."""
        return _plain_help(super().get_help_option(ctx))
