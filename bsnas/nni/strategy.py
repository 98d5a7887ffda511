"""Run an NNI multi-trial strategy in this process, with no server and nothing written.

``strategy.initialize(SimplifiedModelSpace.from_model(space, FunctionalEvaluator(fn)), engine)`` then
``strategy.run()``: NNI's sequential engine calls ``fn`` once per sample, here, and never starts the
Node.js server or writes ``~/nni-experiments`` that ``NasExperiment`` would. The caller supplies
``evaluate(sample) -> score or None`` and ``keep_going() -> bool``; budget-breaking samples are
filtered out (NNI's ``Filter`` middleware) before they reach ``evaluate``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable

from bsnas.errors import BsnasError
from bsnas.nni.space import model_space, nni_nas
from bsnas.space.schema import SearchSpace

__all__ = ["NNI_SAMPLERS", "run_strategy"]

#: ``--sampler`` names and the NNI strategies they drive.
NNI_SAMPLERS = ("nni-evolution", "nni-random", "nni-tpe")
#: The score a budget-breaking sample gets (scores of real samples lie in [-1.1, 0]).
INVALID_SCORE = -2.0


class _TimeWithoutSleep:
    """The ``time`` module as NNI's HPO strategies see it here, without ``sleep``."""

    def __getattr__(self, name: str):
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        return None


def _no_idle_sleep() -> None:
    """NNI 3.0's HPO strategies (``nni-tpe``) sleep one second after every sample, waiting for a worker to be
    free; the sequential engine here has finished the sample by then, so the wait is pure delay (200 trials:
    206 s instead of a few). Only that module's view of ``time`` changes."""
    from nni.nas.strategy import hpo

    if hpo.time is time:
        hpo.time = _TimeWithoutSleep()


def _strategy(name: str, seed: int, trials: int):
    from nni.nas import strategy

    if name == "nni-evolution":
        population = max(8, min(32, trials // 3))
        return strategy.RegularizedEvolution(population_size=population, sample_size=max(2, population // 4),
                                             seed=seed, dedup=False)
    if name == "nni-random":
        return strategy.Random(seed=seed, dedup=False)
    if name == "nni-tpe":
        _no_idle_sleep()
        return strategy.TPE(seed=seed)
    raise BsnasError(f"unknown NNI sampler {name!r}; choose one of {', '.join(NNI_SAMPLERS)}")


def run_strategy(name: str, space: SearchSpace, seed: int, trials: int, evaluate: Callable[[dict], float | None],
                 keep_going: Callable[[], bool], feasible: Callable[[dict], bool]) -> None:
    """Drive NNI strategy ``name`` over ``space`` until ``keep_going()`` is false."""
    nni_nas()
    import nni
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.space import SimplifiedModelSpace
    from nni.nas.strategy.middleware import Chain, Filter

    class Engine(SequentialExecutionEngine):
        def budget_available(self) -> bool:
            return keep_going()

    def trial(model) -> None:
        score = evaluate(model.sample)
        if score is not None:
            nni.report_final_result(score)

    for logger in ("nni", "nni.nas", "nni.runtime", "nni.mutable"):
        logging.getLogger(logger).setLevel(logging.CRITICAL)  # bsnas prints one line per trial itself
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executable = SimplifiedModelSpace.from_model(model_space(space), FunctionalEvaluator(trial))
        chosen = Chain(_strategy(name, seed, trials), Filter(lambda m: feasible(m.sample),
                                                             metric_for_invalid=INVALID_SCORE))
        chosen.initialize(executable, Engine(continue_on_failure=True))
        chosen.run()
