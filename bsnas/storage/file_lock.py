"""The lock of a storage that lives in a file: ``flock`` on a file beside it, with a timeout that names it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from bsnas.errors import SearchError
from bsnas.storage.base import LOCK_TIMEOUT_ENV, lock_timeout

__all__ = ["FileStorageLock"]


class FileStorageLock:
    """``with lock():`` holds ``<path>.bsnas-lock``. The operating system releases a ``flock`` when its
    process dies, so a wait means a live process holds it; after :func:`lock_timeout` seconds the wait
    ends with a message naming the file. Reentrant within a thread."""

    def __init__(self, path: Path):
        from filelock import FileLock

        self.path = Path(str(path) + ".bsnas-lock")
        self._lock = FileLock(str(self.path))

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        timeout = lock_timeout()
        try:
            self._lock.acquire(timeout=timeout)
        except Timeout:
            raise SearchError(f"waited {timeout:g} s for the storage lock {str(self.path)!r}, which another process "
                              f"holds (a search on the same storage?); wait for it to finish, or raise "
                              f"${LOCK_TIMEOUT_ENV}") from None
        try:
            yield
        finally:
            self._lock.release()
