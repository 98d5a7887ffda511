"""One search trial: sample, count, check the budget, reuse a duplicate or train on the proxy.

* over budget: recorded as infeasible through ``trial.set_constraint``,
  with no training;
* seen before in the study (same canonical string): its result is reused
  and the trial marked ``status=reused``;
* surplus (parallel workers already reach the target): the trial steps back
  as PRUNED with ``status=surplus``; that is not a failure;
* failing (exception, diverging loss, out of memory): the trial is FAIL
  with ``fail_reason`` and ``fail_kind=error`` in its user attributes.
"""

from __future__ import annotations

import time

import optuna
from optuna.trial import FrozenTrial, TrialState

from bsnas.arch.codec import encode_arch
from bsnas.arch.cost import count
from bsnas.data.split import ProxyData
from bsnas.errors import BsnasError
from bsnas.space.choices import sample_arch
from bsnas.space.schema import SearchSpace
from bsnas.study.bookkeeping import TRAINING_FAILURE, Rules, steps_back, summarize
from bsnas.study.config import SearchConfig
from bsnas.training.proxy import train_proxy

__all__ = ["Objective", "trained_trials"]

#: What a reused duplicate copies from the trial that trained its architecture.
RESULT_KEYS = ("accuracy", "val_loss", "train_time", "images_per_sec", "epochs_run", "proxy")


def trained_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials that trained an architecture (not reused, not infeasible)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("status") == "trained"]


class Objective:
    """The Optuna objective of a search: returns (accuracy, flops[, params])."""

    def __init__(self, cfg: SearchConfig, space: SearchSpace, data: ProxyData, rules: Rules):
        self.cfg, self.space, self.data, self.rules = cfg, space, data, rules

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        try:
            return self._run(trial)
        except optuna.TrialPruned:
            raise
        except Exception as err:
            trial.set_user_attr("fail_reason", f"{type(err).__name__}: {err}"[:2000])
            trial.set_user_attr("fail_kind", TRAINING_FAILURE)
            raise

    def _values(self, acc: float, flops: int, params: int) -> tuple[float, ...]:
        by_name = {"accuracy": acc, "flops": float(flops), "params": float(params)}
        return tuple(by_name[o] for o in self.cfg.objectives)

    def _run(self, trial: optuna.Trial) -> tuple[float, ...]:
        arch = sample_arch(trial, self.space)
        text = encode_arch(arch)
        flops, params = count(arch, self.data.input_size, self.data.num_classes)
        for key, value in {"arch": text, "flops": flops, "params": params,
                           "conv_mix": arch.conv_mix(), "seed": self.cfg.seed}.items():
            trial.set_user_attr(key, value)
        feasible = True
        for name, value, limit in (("flops", flops, self.cfg.max_flops), ("params", params, self.cfg.max_params)):
            if limit is not None:
                trial.set_constraint(name, value - limit)
                feasible &= value <= limit
        if not feasible:
            trial.set_user_attr("status", "infeasible")
            return self._values(0.0, flops, params)
        earlier = self._earlier(trial.study, text)
        if earlier is not None:
            for key in RESULT_KEYS:
                trial.set_user_attr(key, earlier.user_attrs.get(key))
            trial.set_user_attr("status", "reused")
            trial.set_user_attr("reused_from", earlier.number)
            return self._values(earlier.user_attrs["accuracy"], flops, params)
        summaries = [summarize(t) for t in trial.study.get_trials(deepcopy=False)]
        if steps_back(summaries, trial.number, self.rules, time.time()):
            trial.set_user_attr("status", "surplus")
            raise optuna.TrialPruned("the study already has enough trained or running trials")
        result = train_proxy(arch, self.data, self.cfg.proxy)
        if result.diverged:
            raise BsnasError(f"training diverged: {result.diverged}")
        for key, value in {"accuracy": result.val_acc, "val_loss": result.val_loss,
                           "train_time": round(result.train_time, 3), "images_per_sec": round(result.images_per_sec, 1),
                           "epochs_run": result.epochs_run, "proxy": result.settings, "status": "trained"}.items():
            trial.set_user_attr(key, value)
        return self._values(result.val_acc, flops, params)

    @staticmethod
    def _earlier(study: optuna.Study, text: str) -> FrozenTrial | None:
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs.get("arch") == text and t.user_attrs.get("status") == "trained":
                return t
        return None
