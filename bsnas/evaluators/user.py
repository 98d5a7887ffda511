"""A user's own training as an evaluator: ``evaluate(model, data, trial)`` returns an accuracy or metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from bsnas.errors import BsnasError
from bsnas.evaluators.base import EvalRequest, Evaluation, Evaluator
from bsnas.metrics import get_metric
from bsnas.nn.model import build_model

__all__ = ["RESERVED", "CallableEvaluator", "callable_name"]

#: Attribute names bsnas keeps for itself; an evaluator's metrics may not take them.
RESERVED = ("arch", "status", "flops", "params", "conv_mix", "seed", "sampler", "evaluator", "heartbeat",
            "progress", "fail_reason", "fail_kind", "reused_from", "source", "warm_start", "retry_of")


def callable_name(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def check_metrics(metrics: object, who: str) -> dict[str, float]:
    """An evaluator's answer as ``{name: float}`` with ``accuracy`` in [0, 1], or a one-line error."""
    accuracy = get_metric("accuracy")
    if not isinstance(metrics, dict):
        if isinstance(metrics, bool) or not isinstance(metrics, (int, float)) or not (
                accuracy.bounds[0] <= metrics <= accuracy.bounds[1]):
            raise BsnasError(f"evaluate must return an accuracy in [0, 1], but {who} returned {metrics!r} (a dict of "
                             "metrics may hold it as 'accuracy')")
        return {"accuracy": float(metrics)}
    if "accuracy" not in metrics:
        raise BsnasError(f"evaluate must return an accuracy, or a dict with an 'accuracy' key, but {who} returned "
                         f"a dict with keys {sorted(map(str, metrics))}")
    taken = sorted(set(metrics) & set(RESERVED))
    if taken:
        raise BsnasError(f"evaluate {who} returned metric {taken[0]!r}, a name bsnas keeps for itself; rename it")
    out = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise BsnasError(f"evaluate {who} returned a metric named {name!r}; metric names are non-empty strings")
        out[name] = accuracy.check_value(value, f"evaluate {who}") if name == "accuracy" else _number(value, name, who)
    return out


def _number(value: object, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BsnasError(f"evaluate must return numbers as metrics, but {who} returned {name}={value!r}")
    return float(value)


class CallableEvaluator(Evaluator):
    """``fn(model, data, trial)`` gets each architecture as a freshly initialised ``BsnasNet`` (seeded with the
    search's seed, so one architecture always starts from the same weights) and returns its validation
    accuracy in [0, 1], or a dict of metrics with ``accuracy`` among them."""

    def __init__(self, fn: Callable):
        if not callable(fn):
            raise BsnasError(f"evaluate must be a function evaluate(model, data, trial), but got {fn!r}")
        self.fn = fn

    def fingerprint(self) -> dict:
        return {"name": f"user:{callable_name(self.fn)}"}

    def evaluate(self, request: EvalRequest) -> Evaluation:
        ctx = self.ctx
        torch.manual_seed(ctx.seed)  # the same architecture gets the same initial weights
        model = build_model(request.arch, ctx.num_classes, ctx.cost_size[0])
        start = time.perf_counter()
        metrics = check_metrics(self.fn(model, ctx.data, request.trial), callable_name(self.fn))
        return Evaluation(metrics, {"train_time": round(time.perf_counter() - start, 3),
                                    "evaluated_by": callable_name(self.fn)})
