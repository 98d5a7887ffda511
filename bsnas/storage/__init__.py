"""Where a study lives: one backend per kind of storage (SQLite, PostgreSQL, JournalFile, in-memory),
each with ``check``, ``open`` and ``lock``, plus grouped writes and the atomic failing of a dead trial."""

from __future__ import annotations

from bsnas.storage.base import LOCK_TIMEOUT_ENV, StorageBackend, lock_timeout
from bsnas.storage.fail import fail_running
from bsnas.storage.registry import (
    BACKENDS,
    STORAGE_ENV,
    backend_for,
    load_existing_study,
    mask_url,
    open_storage,
    register_backend,
    resolve_storage_url,
    storage_lock,
    supported_storages,
)
from bsnas.storage.writes import set_user_attrs

__all__ = ["BACKENDS", "LOCK_TIMEOUT_ENV", "STORAGE_ENV", "StorageBackend", "backend_for", "fail_running",
           "load_existing_study", "lock_timeout", "mask_url", "open_storage", "register_backend",
           "resolve_storage_url", "set_user_attrs", "storage_lock", "supported_storages"]
