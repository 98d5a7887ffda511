"""Files and the machine: atomic writes, names that stay in their folder, free memory."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from bsnas.errors import BsnasError

__all__ = ["atomic_write", "atomic_write_text", "check_name", "free_memory", "is_safe_name"]


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path`` in one step."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def is_safe_name(name: object) -> bool:
    """Whether ``name`` can name a file or folder: letters, digits, ``-``, ``_`` and ``.``, no leading dot."""
    return isinstance(name, str) and _SAFE_NAME.fullmatch(name) is not None


def check_name(name: object, what: str = "study name") -> str:
    """``name`` if :func:`is_safe_name`, else an error that states the rule."""
    if not is_safe_name(name):
        raise BsnasError(f"{what} {name!r} is not allowed: use 1 to 100 letters, digits, '-', '_' and '.', not "
                         "starting with '.' (it names a folder and files, and must stay inside them)")
    return name


def free_memory() -> int | None:
    """Bytes of memory this machine can still give (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
