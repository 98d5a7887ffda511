"""Fail another worker's running trial: its state and its attributes together, or not at all.

:func:`fail_running` is how a worker marks a dead worker's trial: state FAIL and the attributes that
say why (``fail_reason``, ``fail_kind``) are written in one step, and only while the trial is still
RUNNING. A trial that finishes first keeps its result and gets no failure attributes. How the step is
made one step depends on the storage:

* RDB (SQLite, PostgreSQL): one transaction; the row is locked (``SELECT ... FOR UPDATE`` where the
  database has it) and the state is changed by ``UPDATE ... WHERE state = RUNNING``, so a trial that
  completed in between leaves the whole transaction rolled back;
* JournalFile: the attribute and state operations are appended to the journal in one write, so no
  other operation can fall between them; the journal's replay drops all of them if the trial had
  finished;
* in-memory: under the storage's own lock.

Any other storage, or an Optuna whose internals differ from those this was written for, gets Optuna's
public path (attributes, then state), where a trial that finishes between the two keeps its result
but may also keep the attributes; :func:`bsnas.status.status_of` reads the state first, so it still
reads as finished.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import optuna
from optuna.trial import TrialState

from bsnas.storage.writes import rdb_backend

try:
    from optuna.storages._rdb import models as _rdb_models
    from optuna.storages._rdb.storage import _create_scoped_session
    from optuna.storages.journal._storage import JournalOperation
except ImportError:  # pragma: no cover - another Optuna layout
    _rdb_models = _create_scoped_session = JournalOperation = None

__all__ = ["fail_running"]


class _Finished(Exception):
    """The trial was no longer running: roll the transaction back."""


def fail_running(storage: optuna.storages.BaseStorage, trial_id: int, attrs: dict[str, Any]) -> bool:
    """Set ``attrs`` and state FAIL on trial ``trial_id`` in one step if it is RUNNING; return whether it was."""
    backend = rdb_backend(storage)
    if backend is not None and _rdb_models is not None:
        return _fail_rdb(backend, trial_id, attrs)
    journal = _journal(storage)
    if journal is not None:
        return _fail_journal(journal, trial_id, attrs)
    if isinstance(storage, optuna.storages.InMemoryStorage) and hasattr(storage, "_lock"):
        with storage._lock:
            return _fail_public(storage, trial_id, attrs)
    return _fail_public(storage, trial_id, attrs)


def _fail_rdb(backend: optuna.storages.RDBStorage, trial_id: int, attrs: dict[str, Any]) -> bool:
    import sqlalchemy

    models = _rdb_models
    try:
        with _create_scoped_session(backend.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
            if trial.state != TrialState.RUNNING:
                raise _Finished
            for key, value in attrs.items():
                backend._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, key, value)
            changed = session.execute(
                sqlalchemy.update(models.TrialModel)
                .where(models.TrialModel.trial_id == trial_id, models.TrialModel.state == TrialState.RUNNING)
                .values(state=TrialState.FAIL, datetime_complete=datetime.now())
                .execution_options(synchronize_session=False)).rowcount
            if changed != 1:
                raise _Finished
    except (_Finished, optuna.exceptions.UpdateFinishedTrialError):
        return False
    return True


def _journal(storage):
    journal = optuna.storages.JournalStorage
    usable = (JournalOperation is not None and isinstance(storage, journal)
              and all(hasattr(storage, n) for n in ("_backend", "_thread_lock", "_sync_with_backend")))
    return storage if usable else None


def _fail_journal(storage, trial_id: int, attrs: dict[str, Any]) -> bool:
    # Written as another worker's operations: the replay then drops them silently if the trial had
    # finished, instead of raising for each one.
    worker = f"bsnas-fail-{uuid.uuid4()}"
    logs = [{"op_code": JournalOperation.SET_TRIAL_USER_ATTR, "worker_id": worker, "trial_id": trial_id,
             "user_attr": {key: value}} for key, value in attrs.items()]
    logs.append({"op_code": JournalOperation.SET_TRIAL_STATE_VALUES, "worker_id": worker, "trial_id": trial_id,
                 "state": TrialState.FAIL, "values": None,
                 "datetime_complete": datetime.now(tz=timezone.utc).isoformat(timespec="microseconds")})
    with storage._thread_lock:
        storage._sync_with_backend()
        if storage._replay_result.get_trial(trial_id).state != TrialState.RUNNING:
            return False
        storage._backend.append_logs(logs)
        storage._sync_with_backend()
        after = storage._replay_result.get_trial(trial_id)
    return after.state == TrialState.FAIL and all(after.user_attrs.get(k) == v for k, v in attrs.items())


def _fail_public(storage: optuna.storages.BaseStorage, trial_id: int, attrs: dict[str, Any]) -> bool:
    if storage.get_trial(trial_id).state != TrialState.RUNNING:
        return False
    try:
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True
