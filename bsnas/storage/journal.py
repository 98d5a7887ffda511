"""Optuna's JournalFile (``PATH.log``, ``PATH.journal`` or ``journal:PATH``): one machine, several processes."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import optuna

from bsnas.errors import SearchError
from bsnas.storage.base import StorageBackend
from bsnas.storage.file_lock import FileStorageLock
from bsnas.storage.sqlite import recover_hint

__all__ = ["JournalBackend"]


class JournalBackend(StorageBackend):
    kind = "journal"
    example = "PATH.log (or PATH.journal, journal:PATH)"

    def __init__(self, url: str):
        super().__init__(url)
        self.path = Path(url.removeprefix("journal:"))
        self._lock = FileStorageLock(self.path)

    @classmethod
    def accepts(cls, url: str) -> bool:
        return url.startswith("journal:") or ("://" not in url and url.endswith((".log", ".journal")))

    def lock(self, name: str = "") -> contextlib.AbstractContextManager:
        return self._lock()

    def check(self, writing: bool = True) -> None:
        path = self.path
        if not path.exists():
            return
        if path.is_dir():
            raise SearchError(f"storage {str(path)!r} is a folder, not a JournalFile; pass a file path")
        with open(path, "rb") as f:
            first = f.readline()
        if not first:
            return  # an empty journal is a valid, new one
        try:
            ok = "op_code" in json.loads(first)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise SearchError(f"storage {str(path)!r} is not an Optuna JournalFile (its first line is "
                              f"{first[:40]!r}); {recover_hint(path)}")

    def _repair_torn_line(self) -> None:
        """Drop a last line left half-written by a killed process, under the journal's own lock."""
        from optuna.storages.journal import JournalFileSymlinkLock

        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        lock = JournalFileSymlinkLock(str(self.path))
        lock.acquire()
        try:
            with open(self.path, "rb+") as f:
                data = f.read()
                if not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
        finally:
            lock.release()

    def open(self, writing: bool = True) -> optuna.storages.BaseStorage:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        self.check(writing)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if writing:
            self._repair_torn_line()
        return JournalStorage(JournalFileBackend(str(self.path)))
