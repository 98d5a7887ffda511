"""Which backend a storage URL names, and the functions the search uses to open and lock it.

``--storage`` (else ``$BSNAS_STORAGE``, else ``sqlite:///runs/<study>/study.db``) is matched against
the registered backends in order (:data:`BACKENDS`). A URL that none accepts, MySQL's included (bsnas
has no lock every worker shares for it), is refused with the list of supported forms. A storage URL's
password never appears in a message or a file (:func:`mask_url`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import optuna

from bsnas.errors import SearchError
from bsnas.files import check_name
from bsnas.storage.base import StorageBackend
from bsnas.storage.journal import JournalBackend
from bsnas.storage.memory import MemoryBackend
from bsnas.storage.postgres import PostgresBackend
from bsnas.storage.sqlite import SQLiteBackend

__all__ = ["BACKENDS", "STORAGE_ENV", "backend_for", "load_existing_study", "mask_url", "open_storage",
           "register_backend", "resolve_storage_url", "storage_lock", "supported_storages"]

STORAGE_ENV = "BSNAS_STORAGE"
#: The backends, tried in order; the first whose ``accepts(url)`` is true serves the URL.
BACKENDS: list[type[StorageBackend]] = [SQLiteBackend, PostgresBackend, JournalBackend, MemoryBackend]
_cache: dict[tuple[int, str], StorageBackend] = {}


def register_backend(backend: type[StorageBackend], first: bool = False) -> None:
    """Add a storage kind (tried last, or ``first``)."""
    BACKENDS.insert(0, backend) if first else BACKENDS.append(backend)


def supported_storages() -> str:
    return "; ".join(b.example for b in BACKENDS)


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


def backend_for(url: str) -> StorageBackend:
    """The backend of ``url`` (one object per URL and process), or a one-line refusal."""
    key = (os.getpid(), url)
    if key in _cache:
        return _cache[key]
    kind = next((b for b in BACKENDS if b.accepts(url)), None)
    if kind is None:
        scheme = url.partition("://")[0] if "://" in url else None
        if scheme and scheme.startswith("sqlite"):
            what = ("is an in-memory SQLite database, which each connection sees empty; use memory: for a study in "
                    "memory" if ":memory:" in url else "is not an SQLite URL of a file (write sqlite:///PATH)")
        elif scheme:
            what = f"is a {scheme} URL, which bsnas does not support (it has no lock that every worker shares)"
        else:
            what = "is neither a database URL nor a JournalFile path ending in .log"
        raise SearchError(f"storage {mask_url(url)!r} {what}; supported storages: {supported_storages()}; fix "
                          f"--storage or ${STORAGE_ENV}")
    _cache[key] = backend = kind(url)
    return backend


def resolve_storage_url(url: str | None, run_dir: Path) -> str:
    """``--storage``, else ``$BSNAS_STORAGE``, else ``sqlite:///runs/<study>/study.db``."""
    url = url or os.environ.get(STORAGE_ENV)
    if url:
        return url
    run_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(run_dir / 'study.db').resolve()}"


def open_storage(url: str, writing: bool = True) -> optuna.storages.BaseStorage:
    """The checked Optuna storage of ``url`` (see :mod:`bsnas.storage.base` for the checks)."""
    backend = backend_for(url)
    try:
        return backend.open(writing)
    except SearchError:
        raise
    except ImportError as err:
        raise SearchError(f"storage {mask_url(url)!r} needs a database driver ({err}); for PostgreSQL install "
                          "bsnas[postgres]") from None
    except Exception as err:  # sqlalchemy raises many kinds for unreachable or broken databases
        first = (str(err).splitlines() or [""])[0][:300]
        raise SearchError(f"cannot open storage {mask_url(url)!r}: {type(err).__name__}: {first}") from None


def storage_lock(url: str, name: str = ""):
    """The lock ``name`` of the storage at ``url``, shared by all its workers (see :meth:`StorageBackend.lock`)."""
    return backend_for(url).lock(name)


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
    backend = backend_for(url)
    if isinstance(backend, JournalBackend) and not backend.path.is_file():
        raise SearchError(f"no study {name!r}: the JournalFile {str(backend.path)!r} does not exist")
    storage_obj = open_storage(url, writing=False)
    names = [s.study_name for s in storage_obj.get_all_studies()]
    if name not in names:
        raise SearchError(f"no study {name!r} in {mask_url(url)}; studies there: {', '.join(names) or 'none'}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage_obj)
