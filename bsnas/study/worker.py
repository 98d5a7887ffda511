"""One search worker: asks the bookkeeping what to do, and runs one trial at a time until it says stop.

The worker drives Optuna's ask-and-tell interface itself instead of ``study.optimize``, so that a
trial another worker finished first (it was taken for dead) is skipped instead of ending the worker,
and a successive-halving trial that stopped below the top rung is told as PRUNED.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from bsnas import interrupt
from bsnas.data.split import ProxyData
from bsnas.errors import SearchError
from bsnas.evaluators import EvalContext, Evaluator
from bsnas.latency.search import search_latency_table
from bsnas.metrics import Frame, measure
from bsnas.nni.strategy import NNI_SAMPLERS
from bsnas.space.schema import SearchSpace, load_space
from bsnas.status import status_of
from bsnas.storage import open_storage, storage_lock
from bsnas.study.bookkeeping import STOP, WAIT, Rules, next_step
from bsnas.study.claim import Claims
from bsnas.study.config import SearchConfig, load_search_data
from bsnas.study.liveness import Liveness, mark_dead, stale_after
from bsnas.study.objective import Objective, Outcome, SearchContext
from bsnas.study.studies import checkpoint_folder, open_study

__all__ = ["MAX_CONSECUTIVE_FAILURES", "WorkerHooks", "max_attempts", "run_trial", "run_worker"]

MAX_CONSECUTIVE_FAILURES = 10
OnTrial = Callable[[optuna.Study, FrozenTrial], None]


def max_attempts(trials: int) -> int:
    """Trials of any kind (infeasible, reused, failed) a search may make before it gives up."""
    return trials * 20 + 100


@dataclass
class WorkerHooks:
    """Callbacks of an in-process worker: every finished trial, and the running trial's progress."""

    on_trial: OnTrial | None = None
    on_progress: Callable[[int, dict], None] | None = None


def run_trial(study: optuna.Study, objective: Objective, on_trial: OnTrial | None = None,
              fixed: dict | None = None, read: bool = True) -> FrozenTrial | None:
    """Ask for a trial (with ``fixed`` parameters, if given), run ``objective`` and tell Optuna its outcome;
    return the finished trial (None with ``read=False`` and no ``on_trial``: reading it is a query)."""
    sampler = study.sampler
    if fixed is not None:
        study.sampler = optuna.samplers.PartialFixedSampler(fixed, sampler)
    trial = study.ask()
    try:
        outcome = objective(trial)
    except KeyboardInterrupt:
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    finally:
        study.sampler = sampler
    if not outcome.gone:
        try:
            study.tell(trial, outcome.values, state=outcome.status.state, skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            outcome = Outcome(None)
    if outcome.gone:
        from bsnas.study.objective import logger

        logger.warning("trial %d was finished by another worker while this one evaluated it; going on",
                       trial.number)
    if on_trial is None and not read:
        return None
    frozen = study._storage.get_trial(trial._trial_id)
    if on_trial is not None:
        on_trial(study, frozen)
    return frozen


def _worker_context(cfg: SearchConfig, url: str, study: optuna.Study, space: SearchSpace, evaluator: Evaluator,
                    data: ProxyData | None, rules: Rules, liveness: Liveness,
                    hooks: WorkerHooks) -> SearchContext:
    attrs = study.user_attrs
    info = attrs["data_info"]
    cost_size, num_classes = tuple(info["input_size"]), info["num_classes"]
    lock = functools.partial(storage_lock, url)
    evaluator.setup(EvalContext(study, data, cost_size, num_classes, cfg.seed, cfg.device, cfg.objectives,
                                attrs["space_max"], checkpoint_folder(cfg, study), lock))
    claims = Claims(study, lock, rules, liveness)
    table, _ = search_latency_table(cfg)  # its warnings were given when the search started
    return SearchContext(cfg, space, evaluator, claims, cost_size, num_classes, hooks.on_progress,
                         {"latency_table": table} if table is not None else {})


def run_worker(cfg: SearchConfig, url: str, worker: int, threads: int, evaluator: Evaluator,
               data: ProxyData | None = None, hooks: WorkerHooks | None = None) -> None:
    """Run trials in ``cfg``'s study until the bookkeeping says stop (the target: return; else raise)."""
    hooks = hooks or WorkerHooks()
    torch.set_num_threads(threads)
    space = load_space(cfg.space)
    # Offset the seed by the trials already stored, so a resumed run does not replay earlier draws.
    existing = len(optuna.load_study(study_name=cfg.study_name, storage=open_storage(url)).get_trials(deepcopy=False))
    study = open_study(cfg, space, url, seed=cfg.seed + worker + 7919 * existing)
    rules = Rules(target=cfg.trials, max_attempts=max_attempts(cfg.trials), max_failures=MAX_CONSECUTIVE_FAILURES,
                  stale_after=stale_after(), since=existing)
    if data is None and cfg.data is not None:
        data = load_search_data(cfg.data, cfg.resolution, cfg.val_size, cfg.seed, cfg.device, cfg.val_subset,
                                cfg.read_size)
    liveness = Liveness()
    ctx = _worker_context(cfg, url, study, space, evaluator, data, rules, liveness, hooks)
    objective = Objective(ctx)

    def step():
        trials = study.get_trials(deepcopy=False)
        s = next_step(liveness.summarize(trials), rules, liveness.clock())
        if s.stale:
            mark_dead(study, [t for t in trials if t.number in s.stale])
        return s

    if cfg.sampler in NNI_SAMPLERS:
        from bsnas.samplers.nni import drive_nni

        drive_nni(_nni_host(cfg, study, ctx, objective, step, hooks, worker), worker)
        return
    while True:
        interrupt.check()
        s = step()
        if s.action == STOP:
            if s.reason == "target":
                return
            raise SearchError(s.message)
        if s.action == WAIT:  # the trials in flight may fail
            time.sleep(0.5)
            continue
        run_trial(study, objective, hooks.on_trial, read=False)


def _nni_host(cfg: SearchConfig, study: optuna.Study, ctx: SearchContext, objective: Objective, step, hooks,
              worker: int):
    from bsnas.samplers.nni import NniHost

    def feasible(arch) -> bool:
        measured = measure(cfg.budgets, Frame(arch, ctx.cost_size, ctx.num_classes))
        return all(measured[name] <= limit for name, limit in cfg.budgets.items())

    def result_of(text: str) -> FrozenTrial | None:
        return next((t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("arch") == text
                     and status_of(t).has_result), None)

    study.sampler = optuna.samplers.RandomSampler(seed=cfg.seed + worker)  # for what NNI leaves open
    return NniHost(cfg.sampler, ctx.space, cfg.seed, cfg.trials, cfg.objectives, study.user_attrs["space_max"], 0.5,
                   lambda: tuple(step())[:3], feasible, result_of,
                   lambda params: run_trial(study, objective, hooks.on_trial, fixed=params))

