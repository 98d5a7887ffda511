"""The built-in metrics: validation accuracy (from the evaluator), FLOPs and params (exact, analytic)."""

from __future__ import annotations

from bsnas.metrics.base import ANALYTIC, EVALUATOR, Frame, Metric, register_metric

__all__ = ["ACCURACY", "FLOPS", "PARAMS"]


def _flops(frame: Frame) -> int:
    return frame.cost.flops


def _params(frame: Frame) -> int:
    return frame.cost.params


def _max_flops(stats) -> int:
    return stats.max_flops


def _max_params(stats) -> int:
    return stats.max_params


ACCURACY = register_metric(Metric("accuracy", "maximize", EVALUATOR, "validation accuracy of the evaluator",
                                  bounds=(0.0, 1.0), worst=0.0))
FLOPS = register_metric(Metric("flops", "minimize", ANALYTIC, "FLOPs at the deployment size, fvcore's convention",
                               measure=_flops, space_max=_max_flops, budget=True, unit="mflops", display_scale=1e6))
PARAMS = register_metric(Metric("params", "minimize", ANALYTIC, "parameters, sum(p.numel())", measure=_params,
                                space_max=_max_params, budget=True, unit="mparams", display_scale=1e6))
