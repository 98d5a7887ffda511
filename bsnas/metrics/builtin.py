"""The built-in metrics: validation accuracy (from the evaluator), FLOPs and params (exact, analytic), and
latency in ms, predicted by the search's latency table (:class:`bsnas.latency.LatencyTable`, carried in the
frame's extras as ``latency_table``)."""

from __future__ import annotations

import math
import re

from bsnas.errors import BsnasError, SearchError
from bsnas.metrics.base import ANALYTIC, EVALUATOR, Frame, Metric, register_metric
from bsnas.training.zero_cost import ZERO_COST_SCORES

__all__ = ["ACCURACY", "FLOPS", "LATENCY", "PARAMS", "ZERO_COST", "parse_duration"]

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(us|µs|ms|s)?\s*$", re.IGNORECASE)
_UNIT_MS = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, None: 1.0}


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
#: The zero-cost scores (:data:`bsnas.training.zero_cost.ZERO_COST_SCORES`), each a search's quality with
#: ``--evaluator zero-cost``: maximised, unbounded (normalised by the range a study observed); a trial never
#: scored (over budget) reports minus infinity.
ZERO_COST = {name: register_metric(Metric(name, "maximize", EVALUATOR, f"zero-cost score {name} of the untrained "
                                          "network (bsnas zero-cost)", worst=-math.inf))
             for name in ZERO_COST_SCORES}
FLOPS = register_metric(Metric("flops", "minimize", ANALYTIC, "FLOPs at the deployment size, fvcore's convention",
                               measure=_flops, space_max=_max_flops, budget=True, unit="mflops", display_scale=1e6))
PARAMS = register_metric(Metric("params", "minimize", ANALYTIC, "parameters, sum(p.numel())", measure=_params,
                                space_max=_max_params, budget=True, unit="mparams", display_scale=1e6))


def parse_duration(text: str | int | float | None) -> float | None:
    """A latency budget in ms: ``"2ms"`` → 2.0, ``"500us"`` → 0.5, ``"0.01s"`` → 10.0; a bare number is ms.

    >>> parse_duration("2ms"), parse_duration("500us"), parse_duration(3)
    (2.0, 0.5, 3.0)
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _DURATION.match(str(text))
        if match is None:
            raise BsnasError(f"cannot read {text!r} as a latency; write e.g. 2ms, 500us or 0.01s")
        value = float(match.group(1)) * _UNIT_MS[match.group(2) and match.group(2).lower()]
    if not math.isfinite(value) or value <= 0:
        raise BsnasError(f"a latency budget must be a positive duration, but got {text!r}")
    return value


def _latency(frame: Frame) -> float:
    table = frame.extras.get("latency_table")
    if table is None:
        raise SearchError("latency needs a latency table: pass --latency-table FILE (from bsnas latency-table build), "
                          "or --latency-backend torch|onnxruntime to measure blocks as the search meets them")
    return round(table.predict(frame.arch, frame.input_size, frame.num_classes), 6)


LATENCY = register_metric(Metric("latency", "minimize", ANALYTIC, "inference latency in ms, predicted by the "
                                 "search's latency table", measure=_latency, budget=True, parse=parse_duration,
                                 unit="ms", display_scale=1.0, example="2ms"))
