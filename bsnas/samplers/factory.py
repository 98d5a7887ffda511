"""Samplers by name: Optuna's, seeded, and the names of the NNI strategies that choose architectures instead."""

from __future__ import annotations

import optuna

from bsnas.nni.strategy import NNI_SAMPLERS
from bsnas.samplers.tpe import SnapshotTPESampler

__all__ = ["SAMPLERS", "make_sampler"]

SAMPLERS = ("tpe", "nsga2", "gp", "random", *NNI_SAMPLERS)


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name (see :data:`SAMPLERS`), seeded. The ``nni-*`` names choose architectures
    through an NNI strategy instead (:mod:`bsnas.samplers.nni`); their study gets a random sampler."""
    if name == "tpe":
        return SnapshotTPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)
