"""PostgreSQL (``postgresql+psycopg://USER@HOST/DB``): many workers on many machines.

The lock is a session-level advisory lock on a key the server computes from the database itself,
``hashtextextended(current_database() || name)``, so every spelling of the URL (host name or
address, with or without the driver) and every machine share it; a worker that dies releases it with
its connection. ``name`` picks the lock: one per study for creating it, one per architecture for a
claim. The engine that takes the locks is made once per process and URL.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator
from typing import ClassVar

import optuna

from bsnas.errors import SearchError
from bsnas.storage.base import LOCK_TIMEOUT_ENV, StorageBackend, lock_timeout

__all__ = ["PostgresBackend"]

_KEY = "hashtextextended(current_database() || chr(31) || :name, 0)"


class PostgresBackend(StorageBackend):
    kind = "postgresql"
    example = "postgresql+psycopg://USER@HOST/DB"
    _engines: ClassVar[dict[tuple[int, str], object]] = {}
    _guard = threading.Lock()
    _held = threading.local()

    @classmethod
    def accepts(cls, url: str) -> bool:
        return url.startswith("postgresql")

    def check(self, writing: bool = True) -> None:
        """Nothing to check before connecting: the server refuses what is wrong, and :meth:`open` says so."""

    def open(self, writing: bool = True) -> optuna.storages.BaseStorage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(self.url, engine_kwargs={"pool_pre_ping": True})

    def engine(self):
        """The engine of this URL's locks: made once per process (a pool of autocommit connections)."""
        import sqlalchemy

        key = (os.getpid(), self.url)
        with self._guard:
            if key not in self._engines:
                self._engines[key] = sqlalchemy.create_engine(self.url, pool_size=2, max_overflow=16,
                                                              pool_pre_ping=True, isolation_level="AUTOCOMMIT")
            return self._engines[key]

    @contextlib.contextmanager
    def lock(self, name: str = "") -> Iterator[None]:
        import sqlalchemy

        held = self._held.__dict__.setdefault("names", set())
        if (self.url, name) in held:  # this thread holds it already
            yield
            return
        timeout = lock_timeout()
        with self.engine().connect() as conn:
            conn.execute(sqlalchemy.text("SELECT set_config('lock_timeout', :ms, false)"),
                         {"ms": f"{int(timeout * 1000)}ms"})
            try:
                conn.execute(sqlalchemy.text(f"SELECT pg_advisory_lock({_KEY})"), {"name": f"bsnas/{name}"})
            except sqlalchemy.exc.OperationalError as err:
                if "lock timeout" not in str(err):
                    raise
                raise SearchError(f"waited {timeout:g} s for the PostgreSQL advisory lock "
                                  f"{name or 'of the storage'!r} that another worker holds; wait for it, or raise "
                                  f"${LOCK_TIMEOUT_ENV}") from None
            held.add((self.url, name))
            try:
                yield
            finally:
                held.discard((self.url, name))
                conn.execute(sqlalchemy.text(f"SELECT pg_advisory_unlock({_KEY})"), {"name": f"bsnas/{name}"})
