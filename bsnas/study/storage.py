"""Where a study lives: embedded SQLite by default, or any Optuna storage URL."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import optuna

from bsnas.errors import SearchError

__all__ = ["STORAGE_ENV", "load_existing_study", "open_storage", "resolve_storage_url"]

STORAGE_ENV = "BSNAS_STORAGE"
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60


def resolve_storage_url(url: str | None, run_dir: Path) -> str:
    """``--storage``, else ``$BSNAS_STORAGE``, else ``sqlite:///runs/<study>/study.db``."""
    url = url or os.environ.get(STORAGE_ENV)
    if url:
        return url
    run_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(run_dir / 'study.db').resolve()}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage (SQLite, PostgreSQL, MySQL) with heartbeats, or a JournalFile storage.

    Heartbeats let a worker mark trials of a killed worker as FAIL after
    ``GRACE_SECONDS``. A path ending in ``.log`` or ``.journal`` (or
    prefixed ``journal:``) is a JournalFile storage, which multiple
    processes on one machine can share.
    """
    if url.startswith("journal:") or url.endswith((".log", ".journal")):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise SearchError(f"storage {url!r} is neither a database URL (sqlite:///..., postgresql://...) nor a "
                          "JournalFile path ending in .log; fix --storage or $" + STORAGE_ENV)
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():  # heartbeats are experimental in Optuna; we rely on them on purpose
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_SECONDS,
                                              grace_period=GRACE_SECONDS)
    except ImportError as err:
        raise SearchError(f"storage {url!r} needs a database driver ({err}); for PostgreSQL install "
                          "bsnas[postgres]") from None
    except Exception as err:  # sqlalchemy raises many kinds for unreachable servers
        raise SearchError(f"cannot open storage {url!r}: {type(err).__name__}: {str(err).splitlines()[0]}") from None


def load_existing_study(name: str, storage: str | None = None, runs_dir: str | Path = "runs") -> optuna.Study:
    """Open a study that a search created, by name (``--storage``, ``$BSNAS_STORAGE`` or ``runs/<name>``)."""
    url = storage or os.environ.get(STORAGE_ENV)
    if not url:
        db = Path(runs_dir) / name / "study.db"
        if not db.is_file():
            raise SearchError(f"no study {name!r}: {db} does not exist; run `bsnas search --study {name}` first, "
                              "or pass --storage")
        url = f"sqlite:///{db.resolve()}"
    backend = open_storage(url)
    names = [s.study_name for s in backend.get_all_studies()]
    if name not in names:
        raise SearchError(f"no study {name!r} in {url}; studies there: {', '.join(names) or 'none'}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=backend)
