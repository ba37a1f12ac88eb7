"""The CLI run in-process, as a user's shell would see it: (exit status, stdout, stderr)."""

from __future__ import annotations

import contextlib
import io

from scalelab.cli import main


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()
