"""Sample an architecture for a trial, with all its parameters stored in one transaction.

A trial of the ``resnet`` space suggests about 20 parameters, and Optuna commits each on its own, a
few SQL statements each. :func:`sample_and_store` walks the space once and asks the sampler for each
value exactly as ``trial.suggest_categorical`` would, without storing it: the value the sampler chose
jointly for the trial (TPE's, NSGA-II's relative sampling) where there is one, else the sampler's
``sample_independent`` with the trial as it stands (the random start, a parameter no earlier trial
had). It then stores them together (:func:`bsnas.storage.writes.store_params`); the usual
define-by-run suggestions find their values already stored. The sampler is asked the same questions
in the same order, so the samples are those of Optuna's own path (``tests/test_writes.py`` compares
them for TPE, NSGA-II and random search). An enqueued trial, and any storage without grouped
writes, take Optuna's path.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution

from bsnas.arch.spec import Arch
from bsnas.space.choices import sample_arch, walk
from bsnas.space.schema import SearchSpace
from bsnas.storage.writes import rdb_backend, store_params

__all__ = ["sample_and_store"]


def sample_and_store(trial: optuna.Trial, space: SearchSpace) -> Arch:
    """:func:`bsnas.space.choices.sample_arch`, with every parameter stored in one transaction."""
    if rdb_backend(trial.storage) is not None and not getattr(trial, "_fixed_params", None):
        store_params(trial, _choices(trial, space))
    return sample_arch(trial, space)


def _choices(trial: optuna.Trial, space: SearchSpace) -> dict[str, tuple[Any, CategoricalDistribution]]:
    """Walk the space once, asking the sampler for each value as ``Trial._suggest`` does, storing nothing."""
    chosen: dict[str, tuple[Any, CategoricalDistribution]] = {}
    current = trial._get_latest_trial()  # the trial as the sampler sees it, with the values chosen so far
    current.params, current.distributions = dict(current.params), dict(current.distributions)

    def choose(name: str, options: tuple) -> Any:
        if len(options) == 1:
            return options[0]
        dist = CategoricalDistribution(list(options))
        if name in current.distributions:
            return current.params[name]
        if name in trial.relative_params and trial._is_relative_param(name, dist):
            value = trial.relative_params[name]
        else:
            value = trial.study.sampler.sample_independent(trial.study, current, name, dist)
        dist.to_internal_repr(value)  # an invalid value fails here, as in Trial._suggest
        chosen[name] = (value, dist)
        current.params = {**current.params, name: value}
        current.distributions = {**current.distributions, name: dist}
        return value

    walk(space, choose)
    return chosen
