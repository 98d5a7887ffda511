"""A trial's parameters and user attributes, written in a few transactions instead of one each.

Optuna commits each suggested parameter and each ``trial.set_user_attr`` on its own. On an RDB
storage every commit is an SQL round trip and a wait for the disk (``python
benchmarks/sqlite_commit.py`` times one; ``python benchmarks/trial_overhead.py`` the whole). On an
RDB storage (SQLite, PostgreSQL):

* :func:`set_user_attrs` writes a group of attributes in one transaction; readers see all of it or
  none of it. On PostgreSQL and SQLite the group is two statements: the trial's state is checked once
  (a finished trial is refused, as Optuna refuses it) and the attributes are written by one multi-row
  upsert on Optuna's ``(trial_id, key)`` constraint; on another database, Optuna's per-item writes in
  the one transaction;
* :func:`store_params` stores a trial's sampled parameters in one transaction of two statements
  (the state check, one multi-row insert; see :func:`bsnas.samplers.sampling.sample_and_store`).
  It leaves out Optuna's per-parameter look-up of the study's earlier distribution of the same name:
  a bsnas study's distributions are those of its space file, which its fingerprint fixes.

Any other storage (JournalFile, in-memory), or an Optuna whose internals differ from those this was
written for, gets Optuna's one-write-per-item path, with the same result.
"""

from __future__ import annotations

import inspect
import json
import sqlite3
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json

try:  # Optuna's RDB internals; without them every storage takes the one-by-one path
    from optuna.storages._rdb.models import TrialModel, TrialParamModel, TrialUserAttributeModel
    from optuna.storages._rdb.storage import _create_scoped_session
except ImportError:  # pragma: no cover - another Optuna layout
    TrialModel = TrialParamModel = TrialUserAttributeModel = _create_scoped_session = None

__all__ = ["rdb_backend", "set_user_attrs", "store_params"]

#: The Optuna internals used here, with the parameters this module passes, in order.
_RDB_WRITES = {"_set_trial_attr_without_commit": ("self", "session", "model_cls", "trial_id", "key", "value"),
               "_set_trial_param_without_commit": ("self", "session", "trial_id", "param_name",
                                                   "param_value_internal", "distribution", "previous_distribution")}


def _internals_match() -> bool:
    """Whether this Optuna has the internals, with the signatures, this module was written for."""
    if _create_scoped_session is None:
        return False
    for name, params in _RDB_WRITES.items():
        method = getattr(optuna.storages.RDBStorage, name, None)
        if method is None or tuple(inspect.signature(method).parameters) != params:
            return False
    # Looked up on the class: reading the relative_params property of a trial would run its sampler.
    return all(hasattr(optuna.Trial, name) for name in ("_is_relative_param", "relative_params", "_get_latest_trial"))


_INTERNALS_MATCH = _internals_match()


def rdb_backend(storage: optuna.storages.BaseStorage) -> optuna.storages.RDBStorage | None:
    """The RDB storage behind ``storage`` (Optuna wraps one in a cache) when this module may write to it."""
    backend = getattr(storage, "_backend", storage)
    usable = (_INTERNALS_MATCH and isinstance(backend, optuna.storages.RDBStorage)
              and hasattr(backend, "scoped_session"))
    return backend if usable else None


def _trial_rdb(trial: optuna.Trial) -> optuna.storages.RDBStorage | None:
    backend = rdb_backend(trial.storage)
    usable = backend is not None and hasattr(trial, "_cached_frozen_trial") and hasattr(trial, "_trial_id")
    return backend if usable else None


def _upsert_dialect(backend: optuna.storages.RDBStorage):
    """The SQLAlchemy ``insert`` with ``ON CONFLICT`` of this database, or None where there is none here."""
    name = backend.engine.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0):
        from sqlalchemy.dialects.sqlite import insert
    else:
        return None
    return insert


def _check_running(backend: optuna.storages.RDBStorage, session, trial_id: int) -> None:
    trial = TrialModel.find_or_raise_by_id(trial_id, session)
    backend.check_trial_is_updatable(trial_id, trial.state)


def _write_attrs(backend: optuna.storages.RDBStorage, session, trial_id: int, attrs: dict[str, Any]) -> None:
    insert = _upsert_dialect(backend)
    if insert is None:
        for key, value in attrs.items():
            backend._set_trial_attr_without_commit(session, TrialUserAttributeModel, trial_id, key, value)
        return
    rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    _check_running(backend, session, trial_id)
    statement = insert(TrialUserAttributeModel).values(rows)
    session.execute(statement.on_conflict_do_update(
        index_elements=[TrialUserAttributeModel.trial_id, TrialUserAttributeModel.key],
        set_={"value_json": statement.excluded.value_json}))


def set_user_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """``trial.set_user_attr(key, value)`` for each item of ``attrs``, in one transaction where possible."""
    backend = _trial_rdb(trial) if len(attrs) > 1 else None
    if backend is not None and in_one_transaction(backend, lambda session: _write_attrs(
            backend, session, trial._trial_id, attrs)):
        trial._cached_frozen_trial.user_attrs.update(attrs)  # what Trial.set_user_attr keeps for the objective
        return
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def _write_params(backend: optuna.storages.RDBStorage, session, trial_id: int,
                  chosen: dict[str, tuple[Any, BaseDistribution]]) -> None:
    rows = [TrialParamModel(trial_id=trial_id, param_name=name, param_value=dist.to_internal_repr(value),
                            distribution_json=distribution_to_json(dist)) for name, (value, dist) in chosen.items()]
    _check_running(backend, session, trial_id)
    session.add_all(rows)


def store_params(trial: optuna.Trial, chosen: dict[str, tuple[Any, BaseDistribution]]) -> bool:
    """Store ``name: (value, distribution)`` for the trial in one transaction, as ``trial.suggest_*`` would
    have stored each; False (nothing written) where this storage or Optuna has no such path."""
    backend = _trial_rdb(trial)
    if backend is None or len(chosen) < 2 or not in_one_transaction(backend, lambda session: _write_params(
            backend, session, trial._trial_id, chosen)):
        return False
    for name, (value, dist) in chosen.items():  # what Trial._suggest keeps after storing a parameter
        trial._cached_frozen_trial.distributions[name] = dist
        trial._cached_frozen_trial.params[name] = value
    return True


def in_one_transaction(backend: optuna.storages.RDBStorage, writes) -> bool:
    """Run ``writes(session)`` in one transaction; False (nothing written) when another writer added
    one of the rows first, so the caller writes them one by one, as Optuna would."""
    from sqlalchemy.exc import IntegrityError

    try:
        with _create_scoped_session(backend.scoped_session) as session:
            writes(session)
    except IntegrityError:
        return False
    return True
