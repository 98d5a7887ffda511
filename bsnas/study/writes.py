"""A trial's parameters and user attributes, written in a few transactions instead of one each.

Optuna commits each suggested parameter and each ``trial.set_user_attr`` on its own. A search trial
of the ``resnet`` space suggests about 20 parameters and writes about 17 attributes in two groups (its
claim: the architecture, costs and ``status=training``; its result: accuracy, times and
``status=trained``). On an RDB storage every commit is an SQL round trip and a wait for the disk
(``python benchmarks/sqlite_commit.py`` times one; ``python benchmarks/trial_overhead.py`` the whole).

On an RDB storage (SQLite, PostgreSQL, MySQL):

* :func:`set_user_attrs` writes a group of attributes in one transaction; readers see all of it or
  none of it;
* :func:`sample_and_store` samples an architecture and stores, in one transaction, every parameter
  the sampler chose jointly for the trial (TPE's, NSGA-II's relative sampling); the usual
  define-by-run suggestions then find their values already stored. A parameter the sampler did not
  choose jointly (the random start, one no earlier trial had) is suggested and stored as usual, and an
  enqueued trial takes the usual path throughout.

Both go through the storage's own per-item writes, so the SQL and the checks are Optuna's. Any other
storage (JournalFile, in-memory), or an Optuna whose internals differ from those this was written
for, gets Optuna's one-write-per-item path, with the same result.
"""

from __future__ import annotations

import inspect
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution

from bsnas.arch.spec import Arch
from bsnas.space.choices import sample_arch, walk
from bsnas.space.schema import SearchSpace

try:  # Optuna's RDB internals; without them every storage takes the one-by-one path
    from optuna.storages._rdb.models import TrialUserAttributeModel
    from optuna.storages._rdb.storage import _create_scoped_session
except ImportError:  # pragma: no cover - another Optuna layout
    TrialUserAttributeModel = _create_scoped_session = None

__all__ = ["sample_and_store", "set_user_attrs"]

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
    return all(hasattr(optuna.Trial, name) for name in ("_is_relative_param", "relative_params"))


_INTERNALS_MATCH = _internals_match()


def _rdb(trial: optuna.Trial) -> optuna.storages.RDBStorage | None:
    """The RDB storage behind ``trial`` when one transaction can write for it, else None."""
    backend = getattr(trial.storage, "_backend", trial.storage)  # Optuna wraps an RDB storage in a cache
    usable = (_INTERNALS_MATCH and isinstance(backend, optuna.storages.RDBStorage)
              and hasattr(backend, "scoped_session") and hasattr(trial, "_cached_frozen_trial")
              and hasattr(trial, "_trial_id"))
    return backend if usable else None


def set_user_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """``trial.set_user_attr(key, value)`` for each item of ``attrs``, in one transaction where possible."""
    backend = _rdb(trial) if len(attrs) > 1 else None
    if backend is not None and _in_one_transaction(backend, lambda session: [
            backend._set_trial_attr_without_commit(session, TrialUserAttributeModel, trial._trial_id, key, value)
            for key, value in attrs.items()]):
        trial._cached_frozen_trial.user_attrs.update(attrs)  # what Trial.set_user_attr keeps for the objective
        return
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def sample_and_store(trial: optuna.Trial, space: SearchSpace) -> Arch:
    """:func:`bsnas.space.choices.sample_arch`, with the sampler's joint choices stored in one transaction."""
    backend = _rdb(trial)
    if backend is not None and not getattr(trial, "_fixed_params", None):
        chosen = _joint_choices(trial, space)
        if len(chosen) > 1 and _in_one_transaction(backend, lambda session: [
                backend._set_trial_param_without_commit(session, trial._trial_id, name,
                                                        dist.to_internal_repr(value), dist)
                for name, (value, dist) in chosen.items()]):
            for name, (value, dist) in chosen.items():  # what Trial._suggest keeps after storing a parameter
                trial._cached_frozen_trial.distributions[name] = dist
                trial._cached_frozen_trial.params[name] = value
    return sample_arch(trial, space)


def _joint_choices(trial: optuna.Trial, space: SearchSpace) -> dict[str, tuple[Any, CategoricalDistribution]]:
    """Walk the space once: the parameters whose values the sampler chose jointly are returned, to be
    stored together; any other is suggested (and stored) the usual way on the spot."""
    chosen: dict[str, tuple[Any, CategoricalDistribution]] = {}

    def choose(name: str, options: tuple) -> Any:
        if len(options) == 1:
            return options[0]
        dist = CategoricalDistribution(list(options))
        if name in trial.relative_params and trial._is_relative_param(name, dist):
            chosen[name] = (trial.relative_params[name], dist)
            return chosen[name][0]
        return trial.suggest_categorical(name, list(options))

    walk(space, choose)
    return chosen


def _in_one_transaction(backend: optuna.storages.RDBStorage, writes) -> bool:
    """Run ``writes(session)`` in one transaction; False (nothing written) when another writer added
    one of the rows first, so the caller writes them one by one, as Optuna would."""
    from sqlalchemy.exc import IntegrityError

    try:
        with _create_scoped_session(backend.scoped_session) as session:
            writes(session)
    except IntegrityError:
        return False
    return True
