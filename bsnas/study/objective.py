"""One search trial: sample, count, check the budget, claim the architecture, train it on the proxy.

* over budget: recorded as infeasible through ``trial.set_constraint``,
  with no training;
* trained before in the study (same canonical string): its result is
  reused and the trial marked ``status=reused``;
* being trained right now by another worker: the trial waits for that
  result and reuses it, so no architecture is ever trained twice;
* surplus (trained and running trials already reach the target): the trial
  steps back as PRUNED with ``status=surplus``; that is not a failure;
* with ``--fidelity asha`` a trial is judged at each rung and ends with
  ``status=stopped`` when it is not promoted (:mod:`bsnas.study.fidelity`);
* failing (exception, diverging loss, out of memory): the trial is FAIL
  with ``fail_reason`` and ``fail_kind=error``; Ctrl-C marks it FAIL with
  ``fail_reason`` "interrupted".

The checks and the claim (``status=training`` with the ``arch`` string)
happen under the storage's lock (:func:`bsnas.study.storage.storage_lock`),
so two workers can never both claim one architecture.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from bsnas import interrupt
from bsnas.arch.codec import encode_arch
from bsnas.arch.cost import count
from bsnas.arch.spec import Arch
from bsnas.data.split import ProxyData
from bsnas.errors import BsnasError
from bsnas.nn.model import build_model
from bsnas.space.schema import SearchSpace
from bsnas.study.bookkeeping import TRAINING_FAILURE, Rules, is_stale, steps_back, summarize
from bsnas.study.config import SearchConfig
from bsnas.study.liveness import Heartbeat, mark_dead
from bsnas.study.rung_training import RungTraining
from bsnas.study.writes import sample_and_store, set_user_attrs
from bsnas.training.proxy import train_proxy

__all__ = ["Objective", "SearchContext", "trained_trials"]

#: What a reused duplicate copies from the trial that trained its architecture.
RESULT_KEYS = ("accuracy", "val_loss", "train_time", "eval_time", "images_per_sec", "epochs_run", "proxy", "rung")
Lock = Callable[[], contextlib.AbstractContextManager]


def trained_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials that trained an architecture to full fidelity (not reused, infeasible or stopped)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("status") == "trained"]


@dataclass(frozen=True)
class SearchContext:
    """What every trial of one search shares: its config, space, data, rules and cost frame."""

    cfg: SearchConfig
    space: SearchSpace
    data: ProxyData
    rules: Rules
    cost_size: tuple[int, int, int]  # where budgets and costs are counted (the deployment size)
    num_classes: int
    scale: dict  # the space's largest FLOPs and params at cost_size, to normalise costs
    checkpoints: object  # pathlib.Path of the folder for rung checkpoints
    lock: Lock = contextlib.nullcontext
    poll: float = 0.5
    evaluate: Callable | None = None  # the user's evaluate(model, data, trial) -> accuracy, instead of the proxy


class Objective:
    """The Optuna objective of a search: returns (accuracy, flops[, params])."""

    def __init__(self, ctx: SearchContext):
        self.ctx, self.cfg = ctx, ctx.cfg

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        try:
            return self._run(trial)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            set_user_attrs(trial, {"fail_reason": "interrupted", "fail_kind": "interrupted"})
            raise
        except Exception as err:
            set_user_attrs(trial, {"fail_reason": f"{type(err).__name__}: {err}"[:2000], "fail_kind": TRAINING_FAILURE})
            raise

    def _values(self, acc: float, flops: int, params: int) -> tuple[float, ...]:
        by_name = {"accuracy": acc, "flops": float(flops), "params": float(params)}
        return tuple(by_name[o] for o in self.cfg.objectives)

    def _run(self, trial: optuna.Trial) -> tuple[float, ...]:
        ctx = self.ctx
        arch = sample_and_store(trial, ctx.space)
        text = encode_arch(arch)
        flops, params = count(arch, ctx.cost_size, ctx.num_classes)
        attrs = {"arch": text, "flops": flops, "params": params, "conv_mix": arch.conv_mix(), "seed": self.cfg.seed,
                 "sampler": self.cfg.sampler}
        feasible = True
        for name, value, limit in (("flops", flops, self.cfg.max_flops), ("params", params, self.cfg.max_params)):
            if limit is not None:
                trial.set_constraint(name, value - limit)
                feasible &= value <= limit
        if not feasible:
            set_user_attrs(trial, {**attrs, "status": "infeasible"})
            return self._values(0.0, flops, params)
        earlier = self._claim(trial, text, attrs)
        if earlier is not None:
            set_user_attrs(trial, {**attrs, **{k: earlier.user_attrs.get(k) for k in RESULT_KEYS},
                                   "status": "reused", "reused_from": earlier.number})
            return self._values(earlier.user_attrs["accuracy"], flops, params)
        with Heartbeat(trial.study, trial._trial_id):
            outcome = self._train(trial, arch, text, flops, params)
        set_user_attrs(trial, outcome)
        return self._values(outcome["accuracy"], flops, params)

    def _train(self, trial: optuna.Trial, arch: Arch, text: str, flops: int, params: int) -> dict:
        ctx = self.ctx
        if ctx.evaluate is not None:
            return self._evaluate_by_user(trial, arch)
        if self.cfg.fidelity == "asha":
            rungs = RungTraining(ctx, trial, arch, text, (flops, params))
            result, status = rungs.run(), rungs.status
        else:
            result, status = train_proxy(arch, ctx.data, self.cfg.proxy), "trained"
        if result.diverged:
            raise BsnasError(f"training diverged: {result.diverged}")
        train_flops = count(arch, ctx.data.input_size, ctx.num_classes).flops
        return {"accuracy": result.val_acc, "val_loss": result.val_loss, "train_time": round(result.train_time, 3),
                "eval_time": round(result.eval_time, 3), "images_per_sec": round(result.images_per_sec, 1),
                "epochs_run": result.epochs_run, "rung": result.epochs_run, "proxy": result.settings,
                "images_seen": result.images_seen, "train_flops": 3 * train_flops * result.images_seen,
                "status": status}

    def _evaluate_by_user(self, trial: optuna.Trial, arch: Arch) -> dict:
        """The user's own training and evaluation: ``evaluate(model, data, trial)`` returns the accuracy."""
        ctx = self.ctx
        torch.manual_seed(self.cfg.seed)  # the same architecture gets the same initial weights
        model = build_model(arch, ctx.num_classes, ctx.cost_size[0])
        start = time.perf_counter()
        accuracy = ctx.evaluate(model, ctx.data, trial)
        if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0.0 <= accuracy <= 1.0:
            raise BsnasError(f"evaluate must return an accuracy in [0, 1], but {_name(ctx.evaluate)} returned "
                             f"{accuracy!r}")
        return {"accuracy": float(accuracy), "train_time": round(time.perf_counter() - start, 3),
                "evaluated_by": _name(ctx.evaluate), "status": "trained"}

    def _claim(self, trial: optuna.Trial, text: str, attrs: dict) -> FrozenTrial | None:
        """Claim ``text`` for this trial (return None: train it) or return the trial whose result to reuse.

        Waits while another live trial holds the claim; steps back as surplus when the target is reached.
        """
        study, ctx = trial.study, self.ctx
        while True:
            with ctx.lock():
                trials = study.get_trials(deepcopy=False)
                same = [t for t in trials if t.number != trial.number and t.user_attrs.get("arch") == text]
                earlier = next((t for t in same if t.state == TrialState.COMPLETE
                                and t.user_attrs.get("status") in ("trained", "stopped")), None)
                if earlier is not None:
                    return earlier
                now = time.time()
                holders = [t for t in same if t.state == TrialState.RUNNING
                           and t.user_attrs.get("status") == "training"]
                live = [t for t in holders if not is_stale(summarize(t), ctx.rules, now)]
                if not live:
                    mark_dead(study, [t.number for t in holders])
                    if steps_back([summarize(t) for t in trials], trial.number, ctx.rules, now):
                        trial.set_user_attr("status", "surplus")
                        raise optuna.TrialPruned("the study already has enough trained or running trials")
                    set_user_attrs(trial, {**attrs, "status": "training"})
                    return None
            time.sleep(ctx.poll)  # another worker trains this architecture right now: wait for its result
            interrupt.check()


def _name(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"

