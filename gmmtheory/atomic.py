"""Crash-safe file writes: a file is either absent, its previous content, or complete — never half-written.

Every write goes to a temporary file in the target's directory, which is flushed and ``os.fsync``-ed, then moved
over the target with ``os.replace`` (atomic on POSIX and Windows when both lie on one file system); on POSIX the
directory is fsync-ed too, so the rename itself survives a power cut. If anything fails before the rename, the
temporary file is removed and the target is untouched.

    from gmmtheory.atomic import atomic_open, atomic_write_bytes, atomic_write_text

    atomic_write_text("out/meta.json", json.dumps(meta))
    with atomic_open("out/diagram.npz") as f:      # binary file object; renamed into place on a clean exit
        np.savez(f, **arrays)
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "ensure_writable_dir", "fsync_directory"]


def fsync_directory(directory: str | os.PathLike) -> None:
    """fsync a directory so that a rename inside it is durable (POSIX; a no-op where directories cannot be opened)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(os.fspath(directory), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (e.g. certain network mounts) refuse fsync on a directory
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary binary file beside ``path``; on a clean exit flush, fsync and ``os.replace`` it onto ``path``.

    On an exception inside the block (or a failing flush/fsync/rename) the temporary file is deleted and ``path``
    keeps its previous content (or stays absent). The temporary name is ``.<name>.<pid>.<random>.tmp`` in the same
    directory, created with mode 0o666 minus the umask (as an ordinary ``open`` would).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see ``atomic_open``); returns the path."""
    with atomic_open(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically in ``encoding`` (see ``atomic_open``); returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def ensure_writable_dir(path: str | os.PathLike, name: str) -> Path:
    """Check an output directory before any computation: create it (with parents) and write a probe file in it.

    Raises ``ValueError`` naming ``name`` (e.g. ``"--out"``) when ``path`` is an existing file ("is an existing file,
    not a directory") or cannot be created or written ("cannot create or write"). Returns the path.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{name}: {str(out)!r} is an existing file, not a directory; give a directory (it is created "
                         "when missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".gmmtheory-probe-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"{name}: cannot create or write the directory {str(out)!r} ({exc.strerror or exc}); "
                         "give a writable directory") from None
    return out
