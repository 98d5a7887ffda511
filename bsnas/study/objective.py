"""One search trial: sample, measure, check the budgets, claim the architecture, evaluate it, store it.

The trial's heartbeat starts first, so a trial that waits for a duplicate is never taken for dead.
Then (statuses in :mod:`bsnas.status`):

* the architecture is sampled and its analytic metrics measured (FLOPs, params and any other
  registered in :mod:`bsnas.metrics`);
* over a budget: stored as ``infeasible`` through ``trial.set_constraint``, never evaluated;
* its architecture claimed (:mod:`bsnas.study.claim`): a result already in the study is reused
  (``reused``, or ``reused-stopped`` for a result successive halving stopped), another worker's
  live claim is waited for, and a trial past the target steps back (``surplus``);
* evaluated by the search's :class:`~bsnas.evaluators.Evaluator`: ``trained``, or ``stopped`` for a
  result below the top fidelity;
* a failing evaluation (exception, diverging loss, out of memory) is ``failed`` with ``fail_reason``;
  Ctrl-C is ``interrupted``.

:class:`Objective` returns an :class:`Outcome`: the status, and the objective values where the
status's Optuna state has them (COMPLETE); the worker tells Optuna. A trial that another worker
finished meanwhile (it was taken for dead) returns ``gone`` and the worker goes on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import NamedTuple

import optuna

from bsnas.arch.codec import encode_arch
from bsnas.errors import BsnasError
from bsnas.evaluators import EvalRequest, Evaluator
from bsnas.metrics import EVALUATOR, Frame, get_metric, measure
from bsnas.samplers import sample_and_store
from bsnas.space.schema import SearchSpace
from bsnas.status import FAIL_KIND, Status
from bsnas.storage import set_user_attrs
from bsnas.study.claim import Claims, Surplus
from bsnas.study.config import SearchConfig
from bsnas.study.liveness import Heartbeat

__all__ = ["Objective", "Outcome", "SearchContext", "logger"]

logger = logging.getLogger("bsnas.search")
#: What a reused duplicate copies from the trial that evaluated its architecture, beside its metrics.
RESULT_KEYS = ("val_loss", "train_time", "eval_time", "images_per_sec", "epochs_run", "proxy", "rung")
#: Analytic metrics every trial records, whatever its objectives (the front and exports read them).
ALWAYS_MEASURED = ("flops", "params")


class Outcome(NamedTuple):
    status: Status | None  # None: another worker finished the trial first (``gone``)
    values: list[float] | None = None

    @property
    def gone(self) -> bool:
        return self.status is None


@dataclasses.dataclass
class SearchContext:
    """What every trial of one worker shares."""

    cfg: SearchConfig
    space: SearchSpace
    evaluator: Evaluator
    claims: Claims
    cost_size: tuple[int, int, int]  # where budgets and costs are counted (the deployment size)
    num_classes: int
    on_progress: Callable[[int, dict], None] | None = None
    frame_extras: dict = dataclasses.field(default_factory=dict)


class Objective:
    """The trial flow of a search (see the module docstring)."""

    def __init__(self, ctx: SearchContext):
        self.ctx, self.cfg = ctx, ctx.cfg
        self.names = tuple(dict.fromkeys((*ALWAYS_MEASURED, *self.cfg.objectives, *self.cfg.budgets)))

    def __call__(self, trial: optuna.Trial) -> Outcome:
        hook = self.ctx.on_progress
        beat = Heartbeat(trial.study._storage, trial._trial_id,
                         on_progress=(lambda p: hook(trial.number, p)) if hook else None)
        with beat:
            try:
                return self._run(trial, beat)
            except optuna.exceptions.UpdateFinishedTrialError:
                return Outcome(None)  # another worker failed it (took it for dead): go on to the next trial
            except KeyboardInterrupt:
                self._fail(trial, "interrupted", Status.INTERRUPTED)
                raise
            except Exception as err:
                logger.warning("trial %d failed", trial.number, exc_info=True)
                return self._fail(trial, f"{type(err).__name__}: {err}"[:2000], Status.FAILED)

    def _fail(self, trial: optuna.Trial, reason: str, status: Status) -> Outcome:
        try:
            set_user_attrs(trial, {"fail_reason": reason, FAIL_KIND: status.value})
        except optuna.exceptions.UpdateFinishedTrialError:
            return Outcome(None)
        return Outcome(status)

    def _values(self, metrics: dict, measured: dict) -> list[float]:
        return [float(metrics[o] if get_metric(o).source == EVALUATOR else measured[o]) for o in self.cfg.objectives]

    def _run(self, trial: optuna.Trial, beat: Heartbeat) -> Outcome:
        ctx, cfg = self.ctx, self.cfg
        arch = sample_and_store(trial, ctx.space)
        text = encode_arch(arch)
        measured = measure(self.names, Frame(arch, ctx.cost_size, ctx.num_classes, ctx.frame_extras))
        attrs = {"arch": text, **measured, "conv_mix": arch.conv_mix(), "seed": cfg.seed, "sampler": cfg.sampler,
                 "evaluator": ctx.evaluator.fingerprint()["name"]}
        feasible = True
        for name, limit in cfg.budgets.items():
            trial.set_constraint(name, measured[name] - limit)
            feasible &= measured[name] <= limit
        worst = {o: get_metric(o).worst for o in cfg.objectives}
        if not feasible:
            set_user_attrs(trial, {**attrs, "status": Status.INFEASIBLE.value})
            return Outcome(Status.INFEASIBLE, self._values(worst, measured))
        claims = ctx.claims
        try:
            earlier = claims.claim(trial, text, attrs)
        except Surplus:
            set_user_attrs(trial, {"status": Status.SURPLUS.value, **self._claim_times()})
            return Outcome(Status.SURPLUS)
        if earlier is not None:
            return self._reuse(trial, attrs, earlier, measured)
        evaluation = ctx.evaluator.evaluate(EvalRequest(arch, text, trial, measured, beat.report))
        quality = cfg.objectives[0]
        if not isinstance(getattr(evaluation, "metrics", None), dict) or quality not in evaluation.metrics:
            raise BsnasError(f"the evaluator {ctx.evaluator.fingerprint()['name']} must return an Evaluation with "
                             f"metrics holding {quality!r}, but returned {evaluation!r}")
        status = Status.TRAINED if evaluation.full_fidelity else Status.STOPPED
        metrics = {k: float(v) for k, v in evaluation.metrics.items()}
        set_user_attrs(trial, {**evaluation.attrs, **metrics, "metrics": sorted(metrics), **self._claim_times(),
                               **({"rung": evaluation.rung} if evaluation.rung is not None else {}),
                               "status": status.value})
        return Outcome(status, self._values(metrics, measured) if status.state.name == "COMPLETE" else None)

    def _reuse(self, trial: optuna.Trial, attrs: dict, earlier, measured: dict) -> Outcome:
        a = earlier.user_attrs
        status = Status.REUSED if a.get("status") == Status.TRAINED.value else Status.REUSED_STOPPED
        keys = (*a.get("metrics", ("accuracy",)), *RESULT_KEYS, "zero_cost_seconds", "zero_cost_batch")
        set_user_attrs(trial, {**attrs, **{k: a[k] for k in keys if k in a}, **self._claim_times(),
                               "status": status.value, "reused_from": earlier.number})
        if status is Status.REUSED_STOPPED:
            return Outcome(status)
        return Outcome(status, self._values({k: a[k] for k in a.get("metrics", ("accuracy",))}, measured))

    def _claim_times(self) -> dict:
        return {"claim_wait": round(self.ctx.claims.wait, 4), "claim_held": round(self.ctx.claims.held, 4)}
