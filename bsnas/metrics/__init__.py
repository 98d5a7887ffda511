"""Objective and budget metrics: one registry entry per metric (name, direction, how measured, scale).

Accuracy, FLOPs and params are entries (:mod:`bsnas.metrics.builtin`). A new metric is one
:func:`register_metric` call with its measurement; the search, its budgets, the front, the
hypervolume, successive halving and the NNI scalarisation all read it from here.
"""

from __future__ import annotations

from bsnas.metrics import builtin as _builtin  # noqa: F401  (registers accuracy, flops and params)
from bsnas.metrics.base import (
    ANALYTIC,
    EVALUATOR,
    METRICS,
    Frame,
    Metric,
    budget_metrics,
    check_objectives,
    get_metric,
    measure,
    normalised,
    parse_amount,
    quality_metrics,
    register_metric,
    space_scale,
)

__all__ = ["ANALYTIC", "EVALUATOR", "METRICS", "Frame", "Metric", "budget_metrics", "check_objectives", "get_metric",
           "measure", "normalised", "parse_amount", "quality_metrics", "register_metric", "space_scale"]
