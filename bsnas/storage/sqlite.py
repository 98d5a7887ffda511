"""Embedded SQLite (the default, ``sqlite:///runs/<study>/study.db``): one machine, several processes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import warnings
from pathlib import Path

import optuna

from bsnas.errors import SearchError
from bsnas.storage.base import StorageBackend
from bsnas.storage.file_lock import FileStorageLock

__all__ = ["SQLiteBackend", "recover_hint"]

SQLITE_HEADER = b"SQLite format 3\x00"


def recover_hint(path: Path) -> str:
    return (f"move it away (mv {path} {path}.bad) and rerun to start a new study there, restore it from a backup, "
            "or pass another --storage")


class SQLiteBackend(StorageBackend):
    kind = "sqlite"
    example = "sqlite:///PATH/study.db"

    def __init__(self, url: str):
        super().__init__(url)
        self.path = Path(url.removeprefix("sqlite:///").split("?")[0])
        self._lock = FileStorageLock(self.path)

    @classmethod
    def accepts(cls, url: str) -> bool:
        return url.startswith("sqlite:///") and not url.removeprefix("sqlite:///").startswith(":memory:")

    def lock(self, name: str = "") -> contextlib.AbstractContextManager:
        return self._lock()

    def _check_folder(self) -> None:
        if not self.path.parent.is_dir():
            raise SearchError(f"storage {self.url!r}: folder {str(self.path.parent)!r} does not exist")

    def check(self, writing: bool = True) -> None:
        """Refuse an existing file that is not an Optuna SQLite database, or is read-only when we must write."""
        path = self.path
        self._check_folder()
        if not path.exists():
            return
        if path.is_dir():
            raise SearchError(f"storage {str(path)!r} is a folder, not a study database file; pass a file path")
        if path.stat().st_size == 0:
            raise SearchError(f"storage {str(path)!r} exists but is empty (0 bytes), not a study database; "
                              f"{recover_hint(path)}")
        with open(path, "rb") as f:
            header = f.read(16)
        if header != SQLITE_HEADER:
            raise SearchError(f"storage {str(path)!r} is not an SQLite database (its first bytes are "
                              f"{header[:8]!r}); {recover_hint(path)}")
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as err:
            raise SearchError(f"storage {str(path)!r} is a corrupt SQLite database ({err}); "
                              f"{recover_hint(path)}") from None
        if not {"studies", "trials"} <= tables:
            raise SearchError(f"storage {str(path)!r} is an SQLite database but not an Optuna study database "
                              f"(its tables are {sorted(tables) or 'none'}); pass another --storage")
        if writing and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            raise SearchError(f"storage {str(path)!r} is read-only (the file or its folder); a search must write "
                              "to it: fix the permissions or copy it somewhere writable")

    def open(self, writing: bool = True) -> optuna.storages.BaseStorage:
        # Under the lock: two processes may create the schema at once, and the check must not see the
        # empty file that another process is filling in.
        self._check_folder()  # before the lock, which would make the folder for its file
        with self.lock(), warnings.catch_warnings():
            self.check(writing)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(self.url, engine_kwargs={"connect_args": {"timeout": 60}})
