"""A search worker whose architectures an NNI strategy chooses (``--sampler nni-evolution|nni-random|nni-tpe``).

The strategy runs in this process (:func:`bsnas.nni.run_strategy`); each of its samples becomes an
ordinary trial of the Optuna study through the same :class:`~bsnas.study.objective.Objective` (budget,
dedupe, claim, proxy training, user attributes, plus ``sampler``), with the sample's parameters fixed by
``optuna.samplers.PartialFixedSampler``. Budget-breaking samples are filtered out before they become
trials. The bookkeeping rules (target, cap, dead workers) are those of every search.

NNI strategies optimise one scalar. bsnas gives each sample a random-weight Chebyshev scalarisation
(as ParEGO does): weights ``w`` drawn from a flat Dirichlet for every sample, and the score
``-(max_i w_i f_i + 0.05 sum_i w_i f_i)`` of the normalised objectives ``f`` (error, FLOPs and params
over the space's largest), so that different samples pull towards different parts of the front.

NNI strategies cannot resume their internal state. On a resumed run the strategy starts again from
its seed; samples whose architecture the study already holds are answered from the stored result,
with the same weights, without a new trial, so the strategy's population is rebuilt from the study
before it proposes anything new.
"""

from __future__ import annotations

import time

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from bsnas.arch.codec import encode_arch
from bsnas.arch.cost import count
from bsnas.errors import SearchError
from bsnas.nni.space import arch_of, params_of_sample
from bsnas.nni.strategy import INVALID_SCORE, run_strategy
from bsnas.study.bookkeeping import STOP, WAIT, next_step, summarize
from bsnas.study.liveness import mark_dead
from bsnas.study.objective import Objective

__all__ = ["drive_nni", "scalarise"]


def scalarise(values: list[float], scale: dict, objectives: tuple[str, ...], weights: np.ndarray) -> float:
    """The random-weight Chebyshev score (larger is better) of a trial's objective values."""
    f = np.array([1.0 - values[0]] + [values[i] / scale[o] for i, o in enumerate(objectives[1:], 1)])
    return float(-(np.max(weights * f) + 0.05 * np.sum(weights * f)))


def drive_nni(study: optuna.Study, objective: Objective, callbacks: list, worker: int) -> None:
    ctx = objective.ctx
    cfg, space, rules = ctx.cfg, ctx.space, ctx.rules
    rng = np.random.default_rng(cfg.seed + 1000 * worker)
    base = optuna.samplers.RandomSampler(seed=cfg.seed + worker)
    stopped: list = []

    def step():
        s = next_step([summarize(t) for t in study.get_trials(deepcopy=False)], rules, time.time())
        mark_dead(study, s.stale)
        return s

    def keep_going() -> bool:
        s = step()
        if s.action == STOP:
            stopped.append(s)
        return s.action != STOP

    def feasible(sample: dict) -> bool:
        flops, params = count(arch_of(space, sample), ctx.cost_size, ctx.num_classes)
        return all(limit is None or value <= limit for value, limit in ((flops, cfg.max_flops),
                                                                       (params, cfg.max_params)))

    def run_trial(params: dict) -> FrozenTrial:
        done: list[FrozenTrial] = []
        study.sampler = optuna.samplers.PartialFixedSampler(params, base)
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[lambda s, t: done.append(t), *callbacks])
        return done[0]

    def evaluate(sample: dict) -> float | None:
        weights = rng.dirichlet(np.ones(len(cfg.objectives)))  # drawn for every sample: a replay draws the same
        text = encode_arch(arch_of(space, sample))
        stored = next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                       if t.user_attrs.get("arch") == text and t.user_attrs.get("status") in ("trained", "stopped")),
                      None)
        while stored is None:
            s = step()
            if s.action == STOP:
                stopped.append(s)
                return None
            if s.action == WAIT:
                time.sleep(ctx.poll)
                continue
            t = run_trial(params_of_sample(space, sample))
            if t.user_attrs.get("arch") == text:  # else it was another trial's retry, popped first: go again
                stored = t
        if stored.state != TrialState.COMPLETE or stored.user_attrs.get("status") == "infeasible":
            return INVALID_SCORE if stored.state == TrialState.FAIL else None
        return scalarise(stored.values, ctx.scale, cfg.objectives, weights)

    run_strategy(cfg.sampler, space, cfg.seed + worker, cfg.trials, evaluate, keep_going, feasible)
    final = stopped[-1] if stopped else step()
    if final.action != STOP:
        raise SearchError(f"the NNI strategy {cfg.sampler} stopped proposing architectures before the target "
                          f"({final.message}); raise the budget, widen the space or use another --sampler")
    if final.reason != "target":
        raise SearchError(final.message)
