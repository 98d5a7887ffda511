"""The metric registry: what an objective or a budget is, and how it is measured and normalised.

A :class:`Metric` is measured either *analytically*, from the architecture before any
evaluation (FLOPs and params by the exact cost model; a latency table would be another), or
by the *evaluator* (accuracy). Analytic metrics may carry a hard budget (``--max-<name>``),
checked before anything is evaluated. For the hypervolume and for successive halving every
objective is mapped to [0, 1] and minimised (:meth:`Metric.normalise`): a bounded,
maximised metric by its distance from the top of its range (error ``1 - accuracy``), an
unbounded one (a zero-cost score) by its distance from the top of the range a study observed,
a cost by its ratio to the space's largest value (:func:`space_scale`).

A search's first objective is its *quality*: the one evaluator metric it maximises (``accuracy``, or a
zero-cost score such as ``naswot`` with ``--evaluator zero-cost``); the others are analytic costs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from bsnas.arch.cost import Cost, count
from bsnas.arch.spec import Arch
from bsnas.errors import BsnasError, SearchError, unknown_name

__all__ = ["ANALYTIC", "EVALUATOR", "METRICS", "Frame", "Metric", "budget_metrics", "check_objectives",
           "get_metric", "measure", "normalised", "parse_amount", "quality_metrics", "register_metric", "space_scale"]

ANALYTIC, EVALUATOR = "analytic", "evaluator"
DIRECTIONS = ("maximize", "minimize")


def parse_amount(text: str | int | float | None) -> int | None:
    """``"50M"`` → 50_000_000; also K, G and plain integers.

    >>> parse_amount("50M"), parse_amount("1.5k"), parse_amount(2000)
    (50000000, 1500, 2000)
    """
    if text is None or (isinstance(text, int) and not isinstance(text, bool)):
        return text
    raw = str(text).strip().upper().replace("_", "")
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if scale > 1 else raw) * scale
    except ValueError:
        raise BsnasError(f"cannot read {text!r} as an amount; write e.g. 500K, 50M or 2G") from None
    if not math.isfinite(value) or value <= 0:
        raise BsnasError(f"a budget must be a positive number, but got {text!r}")
    return int(value)


class Frame:
    """What an analytic measurement reads: one architecture at the deployment input size.

    ``extras`` carries what a metric needs beyond the architecture (a latency table, say); the exact
    cost is counted once, however many metrics read it.
    """

    def __init__(self, arch: Arch, input_size: tuple[int, int, int], num_classes: int,
                 extras: Mapping[str, Any] | None = None):
        self.arch, self.input_size, self.num_classes = arch, tuple(input_size), num_classes
        self.extras = dict(extras or {})

    @cached_property
    def cost(self) -> Cost:
        return count(self.arch, self.input_size, self.num_classes)


@dataclass(frozen=True)
class Metric:
    """One objective or budget metric.

    ``measure(frame)`` gives an analytic metric's value; ``space_max(stats)`` the space's largest value
    (from :func:`bsnas.space.describe_space`'s statistics), which scales it for the hypervolume;
    ``budget`` says whether ``--max-<name>`` exists, read with ``parse``. An evaluator metric has
    ``bounds`` (every returned value must lie in them) and ``worst``, the value a trial that was never
    evaluated (over budget) reports. A maximised metric without ``bounds`` (a zero-cost score) is
    normalised by the range a study observed, passed as ``scale=(lo, hi)``. ``unit`` and
    ``display_scale`` label tables: ``mflops`` is ``flops / 1e6``.
    """

    name: str
    direction: str
    source: str
    description: str
    measure: Callable[[Frame], float] | None = None
    space_max: Callable[[Any], float] | None = None
    budget: bool = False
    parse: Callable[[Any], float | None] = parse_amount
    bounds: tuple[float, float] | None = None
    worst: float = 0.0
    unit: str | None = None
    display_scale: float = 1.0
    example: str = "50M"  # how a budget is written, for help texts

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise BsnasError(f"metric {self.name!r}: direction must be one of {', '.join(DIRECTIONS)}, but got "
                             f"{self.direction!r}")
        if self.source not in (ANALYTIC, EVALUATOR):
            raise BsnasError(f"metric {self.name!r}: source must be {ANALYTIC!r} (measured from the architecture) "
                             f"or {EVALUATOR!r}, but got {self.source!r}")
        if self.source == ANALYTIC and self.measure is None:
            raise BsnasError(f"metric {self.name!r} is analytic, so it needs measure(frame)")
        if self.budget and self.source != ANALYTIC:
            raise BsnasError(f"metric {self.name!r}: only analytic metrics can be budgets (checked before "
                             "evaluation)")
        if self.direction == "maximize" and self.bounds is None and self.source != EVALUATOR:
            raise BsnasError(f"metric {self.name!r} is maximised, so it needs bounds (lo, hi) to normalise it")

    @property
    def budget_option(self) -> str:
        """The :class:`~bsnas.study.config.SearchConfig` field (and ``--max-`` flag) of its budget."""
        return f"max_{self.name}"

    def normalise(self, values: Iterable[float], scale: float | None = None) -> np.ndarray:
        """``values`` mapped to [0, 1] and minimised: ``(hi - v) / (hi - lo)`` when maximised (``bounds``,
        or without them ``scale=(lo, hi)``, the observed range), else ``v / scale`` (``scale``: the
        space's largest value)."""
        v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
        if self.direction == "maximize":
            bounds = self.bounds or scale
            if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
                raise BsnasError(f"metric {self.name!r} has no bounds, so it needs the observed range (lo, hi) to "
                                 f"normalise, but got {scale!r}")
            lo, hi = map(float, bounds)
            return (hi - v) / (hi - lo) if hi > lo else np.zeros_like(v)
        if not scale or scale <= 0:
            raise BsnasError(f"metric {self.name!r} needs a positive scale to normalise, but got {scale!r}")
        return v / float(scale)

    def check_value(self, value: object, who: str) -> float:
        """``value`` as a float, or a one-line error naming ``who`` returned it and the rule."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BsnasError(f"{who} must return a finite number for {self.name!r}, but returned {value!r}")
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:
            raise BsnasError(f"{who} must return {self.name} in [{self.bounds[0]:g}, {self.bounds[1]:g}], but "
                             f"returned {value!r}")
        return float(value)


#: Every registered metric by name (accuracy, flops and params are registered on import).
METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric, replace: bool = False) -> Metric:
    """Add ``metric`` to the registry (``replace`` to redefine a name); return it."""
    if not isinstance(metric, Metric):
        raise BsnasError(f"register_metric takes a Metric, but got {type(metric).__name__}")
    if metric.name in METRICS and not replace:
        raise BsnasError(f"metric {metric.name!r} is already registered; pass replace=True to redefine it")
    METRICS[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise unknown_name("metric", name, sorted(METRICS))
    return METRICS[name]


def budget_metrics() -> list[Metric]:
    """The metrics a search can put a hard budget on, in registry order."""
    return [m for m in METRICS.values() if m.budget]


def quality_metrics() -> list[str]:
    """The metrics a search can maximise as its first objective: ``accuracy`` and the zero-cost scores."""
    return [n for n, m in METRICS.items() if m.source == EVALUATOR and m.direction == "maximize"]


def check_objectives(objectives: Iterable[str]) -> tuple[str, ...]:
    """The objectives of a search: one quality (``accuracy`` or a zero-cost score), then one or more
    registered cost metrics, no repeats."""
    names = tuple(objectives)
    costs = [n for n, m in METRICS.items() if m.source == ANALYTIC]
    if (names[:1] == () or names[0] not in quality_metrics() or len(names) < 2 or len(set(names)) != len(names)
            or not set(names[1:]) <= set(costs)):
        raise SearchError(f"objectives must be accuracy (or, with --evaluator zero-cost, a zero-cost score such as "
                          f"naswot) followed by one or more of {', '.join(costs)} (no repeats), e.g. "
                          f"accuracy,{','.join(costs)}, but got {','.join(names) or 'nothing'}")
    return names


def measure(names: Iterable[str], frame: Frame) -> dict[str, float]:
    """The analytic metrics among ``names``, measured on ``frame`` (evaluator metrics are skipped)."""
    out = {}
    for name in names:
        metric = get_metric(name)
        if metric.source == ANALYTIC:
            out[name] = metric.measure(frame)
    return out


def space_scale(names: Iterable[str], stats: Any) -> dict[str, float]:
    """The space's largest value of each analytic metric among ``names`` that defines one."""
    out = {}
    for name in names:
        metric = get_metric(name)
        if metric.space_max is not None:
            out[name] = float(metric.space_max(stats))
    return out


def normalised(columns: Mapping[str, Iterable[float]], objectives: Iterable[str],
               scale: Mapping[str, float]) -> np.ndarray:
    """Rows of normalised, minimised objectives (see :meth:`Metric.normalise`), one column per objective."""
    names = list(objectives)
    cols = [get_metric(n).normalise(columns[n], scale.get(n)) for n in names]
    return np.column_stack(cols) if cols and len(cols[0]) else np.zeros((0, len(names)))
