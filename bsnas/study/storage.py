"""Where a study lives: embedded SQLite by default, a JournalFile, or any Optuna RDB URL (PostgreSQL).

Every storage bsnas accepts gets the same guarantees:

* an existing file that is not a valid study database is never written
  into: it is refused with a message naming the file and how to recover;
* a storage URL's password never appears in a message or a file
  (:func:`mask_url`);
* :func:`storage_lock` is a lock shared by every worker of the storage, on
  every machine that can reach it: a file lock (``flock``, released by the
  operating system when a process dies) beside an SQLite or JournalFile
  storage, and a PostgreSQL advisory lock for PostgreSQL. Creating a study
  and claiming an architecture happen under it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna

from bsnas.errors import SearchError
from bsnas.files import check_name

__all__ = ["STORAGE_ENV", "load_existing_study", "mask_url", "open_storage", "resolve_storage_url",
           "storage_lock"]

STORAGE_ENV = "BSNAS_STORAGE"
SQLITE_HEADER = b"SQLite format 3\x00"


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages, logs and config files)."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, host = rest.rpartition("@")  # the last '@': a password may hold an unescaped one
    if at:
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}{':***' if colon else ''}@{host}"
    rest = re.sub(r"(?i)(password=)[^&]*", r"\g<1>***", rest)
    return f"{head}://{rest}"


def resolve_storage_url(url: str | None, run_dir: Path) -> str:
    """``--storage``, else ``$BSNAS_STORAGE``, else ``sqlite:///runs/<study>/study.db``."""
    url = url or os.environ.get(STORAGE_ENV)
    if url:
        return url
    run_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(run_dir / 'study.db').resolve()}"


def _is_journal(url: str) -> bool:
    return url.startswith("journal:") or url.endswith((".log", ".journal"))


def _journal_path(url: str) -> Path:
    return Path(url.removeprefix("journal:"))


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?")[0])


def _recover(path: Path) -> str:
    return (f"move it away (mv {path} {path}.bad) and rerun to start a new study there, restore it from a backup, "
            "or pass another --storage")


def _check_sqlite(path: Path, writing: bool) -> None:
    """Refuse an existing file that is not an Optuna SQLite database, or is read-only when we must write."""
    if not path.exists():
        return
    if path.is_dir():
        raise SearchError(f"storage {str(path)!r} is a folder, not a study database file; pass a file path")
    size = path.stat().st_size
    if size == 0:
        raise SearchError(f"storage {str(path)!r} exists but is empty (0 bytes), not a study database; "
                          f"{_recover(path)}")
    with open(path, "rb") as f:
        header = f.read(16)
    if header != SQLITE_HEADER:
        raise SearchError(f"storage {str(path)!r} is not an SQLite database (its first bytes are {header[:8]!r}); "
                          f"{_recover(path)}")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as err:
        raise SearchError(f"storage {str(path)!r} is a corrupt SQLite database ({err}); {_recover(path)}") from None
    if not {"studies", "trials"} <= tables:
        raise SearchError(f"storage {str(path)!r} is an SQLite database but not an Optuna study database "
                          f"(its tables are {sorted(tables) or 'none'}); pass another --storage")
    if writing and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise SearchError(f"storage {str(path)!r} is read-only (the file or its folder); a search must write to "
                          "it: fix the permissions or copy it somewhere writable")


def _check_journal(path: Path) -> None:
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
                          f"{first[:40]!r}); {_recover(path)}")


def _repair_torn_line(path: Path) -> None:
    """Drop a last line left half-written by a killed process, under the journal's own lock."""
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.exists() or path.stat().st_size == 0:
        return
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    finally:
        lock.release()


def open_storage(url: str, writing: bool = True) -> optuna.storages.BaseStorage:
    """An RDB storage (SQLite, PostgreSQL, MySQL) or a JournalFile storage for ``url``.

    A path ending in ``.log`` or ``.journal`` (or prefixed ``journal:``) is
    a JournalFile storage, which processes on one machine can share. An
    existing file must be a valid study database (see the module docstring).
    """
    if _is_journal(url):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = _journal_path(url)
        _check_journal(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if writing:
            _repair_torn_line(path)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise SearchError(f"storage {mask_url(url)!r} is neither a database URL (sqlite:///..., postgresql://...) "
                          f"nor a JournalFile path ending in .log; fix --storage or ${STORAGE_ENV}")
    sqlite = _sqlite_path(url)
    if sqlite is not None and not sqlite.parent.is_dir():
        raise SearchError(f"storage {mask_url(url)!r}: folder {str(sqlite.parent)!r} does not exist")
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        # Under the lock: two processes may create the schema at once, and the check must not see the
        # empty file that another process is filling in.
        with storage_lock(url), warnings.catch_warnings():
            if sqlite is not None:
                _check_sqlite(sqlite, writing)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except SearchError:
        raise
    except ImportError as err:
        raise SearchError(f"storage {mask_url(url)!r} needs a database driver ({err}); for PostgreSQL install "
                          "bsnas[postgres]") from None
    except Exception as err:  # sqlalchemy raises many kinds for unreachable or broken databases
        first = (str(err).splitlines() or [""])[0][:300]
        raise SearchError(f"cannot open storage {mask_url(url)!r}: {type(err).__name__}: {first}") from None


def _lock_key(url: str) -> int:
    return int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def storage_lock(url: str) -> Iterator[None]:
    """Hold a lock that every worker of the storage at ``url`` shares (see the module docstring)."""
    local = _journal_path(url) if _is_journal(url) else _sqlite_path(url)
    if local is not None:
        from filelock import FileLock

        local.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(local) + ".bsnas-lock"):
            yield
        return
    if not url.startswith("postgresql"):
        yield  # other databases: no shared lock (see README: PostgreSQL, SQLite and JournalFile have one)
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(url)})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(url)})
    engine.dispose()


def load_existing_study(name: str, storage: str | None = None, runs_dir: str | Path = "runs") -> optuna.Study:
    """Open a study that a search created, by name (``--storage``, ``$BSNAS_STORAGE`` or ``runs/<name>``)."""
    check_name(name, "--study name")
    url = storage or os.environ.get(STORAGE_ENV)
    if not url:
        db = Path(runs_dir) / name / "study.db"
        if not db.is_file():
            raise SearchError(f"no study {name!r}: {db} does not exist; run `bsnas search --study {name}` first, "
                              "or pass --storage")
        url = f"sqlite:///{db.resolve()}"
    elif _is_journal(url) and not _journal_path(url).is_file():
        raise SearchError(f"no study {name!r}: the JournalFile {str(_journal_path(url))!r} does not exist")
    backend = open_storage(url, writing=False)
    names = [s.study_name for s in backend.get_all_studies()]
    if name not in names:
        raise SearchError(f"no study {name!r} in {mask_url(url)}; studies there: {', '.join(names) or 'none'}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=backend)
