"""The storage backend protocol: one class per kind of study storage, each with ``check``, ``open`` and ``lock``.

A backend is chosen by :func:`bsnas.storage.registry.backend_for` from the storage URL. Every
backend gives the same guarantees:

* ``check`` refuses an existing file or database that is not a valid study storage before
  anything is written into it, naming it and saying how to recover;
* ``open`` returns the Optuna storage;
* ``lock(name)`` is a lock that every worker of the storage shares, on every machine that can
  reach it. ``name`` picks one lock of several where the backend has many (a study's, or one
  architecture's claim); a backend with one lock for everything ignores it.

A new kind of storage is one subclass and one :func:`~bsnas.storage.registry.register_backend` call.
"""

from __future__ import annotations

import abc
import contextlib
import os
from typing import ClassVar

import optuna

__all__ = ["LOCK_TIMEOUT_ENV", "StorageBackend", "lock_timeout"]

LOCK_TIMEOUT_ENV = "BSNAS_LOCK_TIMEOUT"


def lock_timeout() -> float:
    """Seconds a worker waits for a storage lock before it gives up with a message (default 300)."""
    return float(os.environ.get(LOCK_TIMEOUT_ENV, 300))


class StorageBackend(abc.ABC):
    """One kind of study storage, for one URL."""

    #: A short name for messages and the README ("sqlite", "journal", ...).
    kind: ClassVar[str]
    #: How a URL of this kind is written, for the list of supported storages.
    example: ClassVar[str]
    #: Whether several processes can share it (an in-memory storage is private to one process).
    shared: ClassVar[bool] = True

    def __init__(self, url: str):
        self.url = url

    @classmethod
    @abc.abstractmethod
    def accepts(cls, url: str) -> bool:
        """Whether ``url`` names a storage of this kind."""

    @abc.abstractmethod
    def check(self, writing: bool = True) -> None:
        """Refuse (with :class:`~bsnas.errors.SearchError`) what is not a valid study storage."""

    @abc.abstractmethod
    def open(self, writing: bool = True) -> optuna.storages.BaseStorage:
        """The checked Optuna storage."""

    @abc.abstractmethod
    def lock(self, name: str = "") -> contextlib.AbstractContextManager:
        """Hold the lock ``name`` that every worker of this storage shares (see the module docstring)."""
