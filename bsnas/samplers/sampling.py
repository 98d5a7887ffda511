"""Sample an architecture for a trial, with the sampler's joint choices stored in one transaction.

A trial of the ``resnet`` space suggests about 20 parameters, and Optuna commits each on its own.
Once TPE or NSGA-II is past its random start, the sampler chooses them jointly (relative sampling):
:func:`sample_and_store` walks the space once, collects those, and stores them together
(:func:`bsnas.storage.writes.store_params`); the usual define-by-run suggestions then find their
values already stored. A parameter the sampler did not choose jointly (the random start, one no
earlier trial had) is suggested and stored as usual, and an enqueued trial takes the usual path.
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
    """:func:`bsnas.space.choices.sample_arch`, with the sampler's joint choices stored in one transaction."""
    if rdb_backend(trial.storage) is not None and not getattr(trial, "_fixed_params", None):
        store_params(trial, _joint_choices(trial, space))
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
