"""A search worker whose architectures an NNI strategy chooses (``--sampler nni-evolution|nni-random|nni-tpe``).

The strategy runs in this process (:func:`bsnas.nni.run_strategy`); each of its samples becomes an
ordinary trial of the Optuna study through the search's own trial flow (budget, dedupe, claim,
evaluation, user attributes, plus ``sampler``), with the sample's parameters fixed. Budget-breaking
samples are filtered out before they become trials. The bookkeeping rules (target, cap, dead workers)
are those of every search: the worker hands them in as an :class:`NniHost`.

NNI strategies optimise one scalar. bsnas gives each sample a random-weight Chebyshev scalarisation
(as ParEGO does): weights ``w`` drawn from a flat Dirichlet for every sample, and the score
``-(max_i w_i f_i + 0.05 sum_i w_i f_i)`` of the normalised objectives ``f``
(:func:`bsnas.metrics.normalised`: error, costs over the space's largest), so that different samples
pull towards different parts of the front.

NNI strategies cannot resume their internal state. On a resumed run the strategy starts again from
its seed; samples whose architecture the study already holds are answered from the stored result,
with the same weights, without a new trial, so the strategy's population is rebuilt from the study
before it proposes anything new.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from bsnas.arch.codec import encode_arch
from bsnas.arch.spec import Arch
from bsnas.errors import SearchError
from bsnas.metrics import get_metric, normalised
from bsnas.nni.space import arch_of, params_of_sample
from bsnas.nni.strategy import INVALID_SCORE, run_strategy
from bsnas.space.schema import SearchSpace
from bsnas.status import Status, status_of

__all__ = ["NniHost", "drive_nni", "scalarise"]

STOP, WAIT = "stop", "wait"


@dataclass
class NniHost:
    """What the NNI driver needs of the search worker that runs it.

    ``next_action()`` returns the bookkeeping's ``(action, reason, message)`` (action ``train``, ``wait``
    or ``stop``); ``feasible(arch)`` checks the budgets; ``result_of(arch_string)`` is the stored trial
    whose result a sample of that architecture reuses, if any; ``run_trial(params)`` runs one trial with
    those parameters fixed and returns it.
    """

    sampler: str
    space: SearchSpace
    seed: int
    trials: int
    objectives: tuple[str, ...]
    scale: dict
    poll: float
    next_action: Callable[[], tuple[str, str, str]]
    feasible: Callable[[Arch], bool]
    result_of: Callable[[str], FrozenTrial | None]
    run_trial: Callable[[dict], FrozenTrial | None]


def scalarise(values: list[float], scale: dict, objectives: tuple[str, ...], weights: np.ndarray) -> float:
    """The random-weight Chebyshev score (larger is better) of a trial's objective values."""
    f = normalised({o: [v] for o, v in zip(objectives, values, strict=True)}, objectives, scale)[0]
    return float(-(np.max(weights * f) + 0.05 * np.sum(weights * f)))


def drive_nni(host: NniHost, worker: int) -> None:
    rng = np.random.default_rng(host.seed + 1000 * worker)
    stopped: list[tuple[str, str, str]] = []
    space = host.space

    def keep_going() -> bool:
        step = host.next_action()
        if step[0] == STOP:
            stopped.append(step)
        return step[0] != STOP

    def evaluate(sample: dict) -> float | None:
        weights = rng.dirichlet(np.ones(len(host.objectives)))  # drawn for every sample: a replay draws the same
        text = encode_arch(arch_of(space, sample))
        stored = host.result_of(text)
        while stored is None:
            step = host.next_action()
            if step[0] == STOP:
                stopped.append(step)
                return None
            if step[0] == WAIT:
                time.sleep(host.poll)
                continue
            t = host.run_trial(params_of_sample(space, sample))
            if t is not None and t.user_attrs.get("arch") == text:  # else another trial's retry went first
                stored = t
        status = status_of(stored)
        if stored.state == TrialState.FAIL:
            return INVALID_SCORE
        if status in (Status.STOPPED, Status.REUSED_STOPPED):  # below the top rung: scored as pruned, the
            values = [get_metric(host.objectives[0]).worst] + [stored.user_attrs[o] for o in host.objectives[1:]]
            return scalarise(values, host.scale, host.objectives, weights)  # worst accuracy at its cost
        if status is Status.INFEASIBLE or not stored.values:
            return None
        return scalarise(stored.values, host.scale, host.objectives, weights)

    run_strategy(host.sampler, space, host.seed + worker, host.trials, evaluate, keep_going,
                 lambda sample: host.feasible(arch_of(space, sample)))
    final = stopped[-1] if stopped else host.next_action()
    if final[0] != STOP:
        raise SearchError(f"the NNI strategy {host.sampler} stopped proposing architectures before the target "
                          f"({final[2]}); raise the budget, widen the space or use another --sampler")
    if final[1] != "target":
        raise SearchError(final[2])
