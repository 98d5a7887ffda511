"""The evaluator protocol: turn one architecture into named metrics.

An :class:`Evaluator` is what a search trial asks for a number: proxy training
(:class:`~bsnas.evaluators.proxy.ProxyEvaluator`), proxy training judged at successive-halving rungs
(:class:`~bsnas.evaluators.asha.AshaEvaluator`) or a user's own function
(:class:`~bsnas.evaluators.user.CallableEvaluator`). A new kind (a lookup table of trained networks,
zero-cost scores, a weight-sharing supernet) is one subclass in one module:

* :meth:`Evaluator.setup` is called once in each worker process before its first trial, with the
  :class:`EvalContext` every evaluation of that worker shares. State kept on the instance (a loaded
  table, a supernet) lives for all of that worker's trials;
* :meth:`Evaluator.evaluate` gets an :class:`EvalRequest` and returns an :class:`Evaluation`: named
  metrics (``accuracy`` and any others), extra attributes to store, and whether the result is at
  full fidelity;
* :meth:`Evaluator.fingerprint` says what defines the evaluator; it is part of the study's
  fingerprint, so a study resumed with another evaluator is refused.

Before :meth:`~Evaluator.setup` the instance must pickle (``--jobs`` sends it to each worker process).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import optuna

from bsnas.arch.spec import Arch
from bsnas.data.split import ProxyData

__all__ = ["EvalContext", "EvalRequest", "Evaluation", "Evaluator", "Progress"]

#: ``report(epoch=..., epochs=..., images_per_sec=...)``: the progress of a long evaluation.
Progress = Callable[..., None]


@dataclass(frozen=True)
class EvalContext:
    """What every evaluation in one worker shares.

    ``data`` is the search's data (None when a user's evaluator brings its own); ``cost_size`` the
    deployment size costs are counted at; ``objectives`` and ``scale`` normalise objectives (see
    :func:`bsnas.metrics.normalised`); ``lock(name)`` is the storage's shared lock; ``checkpoints`` a
    folder of this study's own (keyed by study and fingerprint) for state an evaluation must keep
    across a worker's death.
    """

    study: optuna.Study
    data: ProxyData | None
    cost_size: tuple[int, int, int]
    num_classes: int
    seed: int
    device: str
    objectives: tuple[str, ...]
    scale: dict[str, float]
    checkpoints: Path
    lock: Callable[[str], contextlib.AbstractContextManager] = lambda name="": contextlib.nullcontext()


@dataclass
class EvalRequest:
    """One architecture to evaluate: its dataclass and canonical string, the running trial, the analytic
    metrics already measured at the deployment size (``flops``, ``params``, ...) and a progress hook."""

    arch: Arch
    arch_string: str
    trial: optuna.Trial
    measured: dict[str, float]
    report: Progress = lambda **progress: None


@dataclass
class Evaluation:
    """An evaluator's answer: ``metrics`` by name (``accuracy`` among them), ``attrs`` to store beside them
    (times, settings), and ``full_fidelity=False`` for a result judged below the top fidelity (a trial that
    successive halving stopped), which the samplers and the front then leave out."""

    metrics: dict[str, float]
    attrs: dict[str, Any] = field(default_factory=dict)
    full_fidelity: bool = True
    rung: int | None = None


class Evaluator(abc.ABC):
    """Base class of evaluators (see the module docstring)."""

    #: The name a study records; defaults to the class's qualified name.
    name: ClassVar[str] = ""
    #: An evaluator that brings its own answers (a table of networks trained on one dataset) names that data's
    #: input size and class count; a search with it then loads no data. None: the search's data decides.
    input_size: ClassVar[tuple[int, int, int] | None] = None
    num_classes: ClassVar[int | None] = None

    def fingerprint(self) -> dict:
        """What defines this evaluator (stored with the study; a resumed run must give the same)."""
        return {"name": self.name or f"{type(self).__module__}.{type(self).__qualname__}"}

    def setup(self, ctx: EvalContext) -> None:
        """Called once per worker process before its first trial; keeps ``ctx`` as ``self.ctx``."""
        self.ctx = ctx

    @abc.abstractmethod
    def evaluate(self, request: EvalRequest) -> Evaluation:
        """Evaluate one architecture; raise to fail the trial (the message becomes its ``fail_reason``)."""
