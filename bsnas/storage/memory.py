"""Optuna's in-memory storage (``memory:`` or ``memory:NAME``): one process, nothing written to disk.

For tests, benchmarks and quick table look-ups: it is private to the process that opened it, so a
search with ``--jobs`` over 1 is refused, and it is gone when the process ends.
"""

from __future__ import annotations

import contextlib
import threading
from typing import ClassVar

import optuna

from bsnas.storage.base import StorageBackend

__all__ = ["MemoryBackend"]


class MemoryBackend(StorageBackend):
    kind = "memory"
    example = "memory: (one process only)"
    shared = False
    _storages: ClassVar[dict[str, optuna.storages.InMemoryStorage]] = {}
    _locks: ClassVar[dict[str, threading.RLock]] = {}
    _guard = threading.Lock()

    @classmethod
    def accepts(cls, url: str) -> bool:
        return url.startswith("memory:")

    def check(self, writing: bool = True) -> None:
        """Nothing to check: an in-memory storage is always valid."""

    def open(self, writing: bool = True) -> optuna.storages.BaseStorage:
        with self._guard:
            return self._storages.setdefault(self.url, optuna.storages.InMemoryStorage())

    def lock(self, name: str = "") -> contextlib.AbstractContextManager:
        with self._guard:
            return self._locks.setdefault(self.url, threading.RLock())
