"""Searching: the configuration and fingerprint, the trial flow, claims, bookkeeping, liveness and workers.

Sampling, storage and evaluation have their own stages (:mod:`bsnas.samplers`, :mod:`bsnas.storage`,
:mod:`bsnas.evaluators`); this one orchestrates them.
"""

from __future__ import annotations

from optuna.trial import FrozenTrial, TrialState

from bsnas.metrics import parse_amount
from bsnas.samplers import SAMPLERS
from bsnas.status import Status, status_of
from bsnas.storage import load_existing_study, open_storage
from bsnas.study.config import SearchConfig
from bsnas.study.run import build_evaluator, run_search, target_met

__all__ = ["SAMPLERS", "SearchConfig", "build_evaluator", "counted_trials", "load_existing_study", "open_storage",
           "parse_amount", "run_search", "target_met", "trained_trials"]


def trained_trials(study) -> list[FrozenTrial]:
    """Trials evaluated at full fidelity (status ``trained``: not reused, infeasible, stopped or failed)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if status_of(t) is Status.TRAINED]


def counted_trials(study) -> list[FrozenTrial]:
    """Trials that count toward ``--trials``: trained, or stopped below the top rung by successive halving."""
    return [t for t in study.get_trials(deepcopy=False) if status_of(t).counts_toward_target]
