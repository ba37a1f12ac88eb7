"""Atomic file output: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and a crash leaves the old file (or none) in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scalelab.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _as_created(path: Path, mode: int) -> None:
    """Give a mkstemp/mkdtemp result (0600/0700) the permissions a plain open/mkdir would have."""
    try:
        os.chmod(path, mode & ~_umask())
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``path``."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{target}: cannot write a file here: it is a folder; give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{target}: cannot create its folder ({reason})") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    _as_created(tmp_path, 0o666)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory in a temporary sibling and rename it onto ``path`` when the block succeeds.

    An existing directory at ``path`` is replaced only after the new one is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    _as_created(tmp, 0o777)
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Check, before any work starts, that ``path`` (a file or folder to be written) can be created.

    The nearest existing ancestor must be a folder in which a file can actually be made (a probe
    file is created and removed, which also catches read-only and virtual file systems such as
    /proc). Returns the path; a problem is one :class:`InputError` line naming it.
    """
    target = Path(path).expanduser()
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(
            f"{target}: cannot write the {what} here: {parent} is a file, not a folder"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".scalelab-probe.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{target}: cannot write the {what} in {parent} ({reason})") from None
    return target


def check_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """:func:`check_writable` for a folder to be written into: it may exist (then it must be a
    folder in which a file can be made), or be creatable; never a file or under one."""
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: cannot use it as the {what}: it is a file, not a folder")
    if not target.is_dir():
        return check_writable(target, what)
    try:
        fd, probe = tempfile.mkstemp(prefix=".scalelab-probe.", dir=target)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{target}: cannot write the {what} ({reason})") from None
    return target


def check_file(path: str | os.PathLike | None, what: str = "output file") -> Path | None:
    """:func:`check_writable` for a file (``-o law.json``): also refuses a path that is an
    existing folder (``-o .``), before any work starts. ``None`` (no output asked) passes."""
    if path is None:
        return None
    target = Path(path).expanduser()
    if str(path).strip() == "" or target.is_dir():
        raise InputError(
            f"{path or ''}: cannot write the {what} here: it is a folder, not a file name "
            "(give a file such as out.json)"
        )
    return check_writable(target, what)
