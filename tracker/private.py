"""Every file the tool writes for a person (exports, reports, plots, cohorts) is written whole and
private: into a new temporary file beside the target (`mkstemp`: mode 0600 whatever the umask, a
name no one else has, never through a symlink planted there), flushed to disk, then renamed over
the target. A failure (full disk, killed process) leaves the previous file as it was and no
temporary file behind. A target that exists and is not a regular file (a pipe, /dev/stdout) is
written straight through."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_private(path: Path, content: bytes | Callable[[BinaryIO], object]) -> None:
    """Write `content` (bytes, or a function writing to a binary file) to `path`, whole or not at
    all, readable by its owner only. Raises OSError; the previous file is then untouched."""
    def fill(f: BinaryIO) -> None:
        if isinstance(content, bytes):
            f.write(content)
        else:
            content(f)

    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(path.stat().st_mode) and not path.is_dir():
            with open(path, "wb") as f:
                fill(f)
            return
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
