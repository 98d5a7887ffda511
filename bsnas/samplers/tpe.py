"""Optuna's TPE, reading the study once per trial instead of once per parameter group.

bsnas samples with ``TPESampler(multivariate=True, group=True, constant_liar=True)``: grouped, because a
space's parameters are conditional (a BSConv-S block has a ``p``, a regular one does not); constant liar,
because several workers share a study. With both, TPE samples each group of parameters on its own and
re-reads every trial from the storage for each group, since the liar must see the running trials: a
conditional space makes many groups, and each read is an SQL query on an RDB storage
(``python benchmarks/tpe_sampling.py`` measures what that costs).

:class:`SnapshotTPESampler` hands TPE a view of the study whose trials are read once, when the trial's
relative sampling starts, and reused for its groups. The trials cannot change between the groups except
through other workers within those milliseconds, so the samples are the same as TPE's own (a test checks
it); everything else is Optuna's TPE unchanged.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

__all__ = ["SnapshotTPESampler"]


class _StudySnapshot:
    """``study``, except that its trials are read from the storage once and then kept."""

    def __init__(self, study: optuna.Study):
        self._study = study
        self._trials: list[FrozenTrial] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False, **other: Any) -> list[FrozenTrial]:
        if deepcopy or other:  # TPE asks for neither; whoever does gets the study's own answer
            return self._study._get_trials(deepcopy, states, use_cache, **other)
        if self._trials is None:
            self._trials = self._study._get_trials(deepcopy=False)
        return self._trials if states is None else [t for t in self._trials if t.state in states]

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy, states)


class SnapshotTPESampler(optuna.samplers.TPESampler):
    """:class:`optuna.samplers.TPESampler` whose relative sampling reads the study's trials once per trial."""

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return super().sample_relative(_StudySnapshot(study), trial, search_space)
