"""This machine and this code, as the registry records them with every claim and result: the host
name, whether a claim's process is still alive, and scalelab's version and git commit."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from scalelab import __version__


def hostname() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped by its parent) is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def code_version() -> str:
    """scalelab's version plus the git commit of the source tree, when it is a checkout."""
    root = Path(__file__).resolve().parents[2]
    head = root / ".git"
    commit = None
    try:
        if head.is_file():  # a worktree: "gitdir: ..."
            head = Path(head.read_text().split(":", 1)[1].strip())
        ref = (head / "HEAD").read_text().strip()
        if ref.startswith("ref:"):
            name = ref.split(None, 1)[1]
            p = head / name
            if not p.is_file():
                common = head / "commondir"
                base = (head / common.read_text().strip()).resolve() if common.is_file() else head
                p = base / name
                if not p.is_file():
                    packed = base / "packed-refs"
                    for line in packed.read_text().splitlines() if packed.is_file() else []:
                        if line.endswith(" " + name):
                            commit = line.split()[0]
                    p = None
            if p is not None:
                commit = p.read_text().strip()
        else:
            commit = ref
    except OSError:
        commit = None
    return f"scalelab {__version__}" + (f" ({commit[:12]})" if commit else "")
