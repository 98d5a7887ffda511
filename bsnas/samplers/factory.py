"""Samplers by name: Optuna's, seeded and sized to the search's budget, and the names of the NNI strategies
that choose architectures instead.

Optuna's TPE and GP sample their first ``n_startup_trials`` (10) at random, and NSGA-II its first
generation of ``population_size`` (50): a search shorter than that is a random search. bsnas sizes both
to ``--trials`` (:func:`random_start`, :func:`population`), and a search that would still be random from
start to end says so (:func:`random_for_whole_budget`). Every default can be overridden with
``sampler_options`` (the keyword arguments of the Optuna sampler's constructor; ``--sampler-option
KEY=VALUE`` on the command line).
Trials the study already holds (a warm start, a resumed run) count toward the random start, as Optuna
counts them.
"""

from __future__ import annotations

import inspect
from typing import Any

import optuna

from bsnas.errors import SearchError
from bsnas.nni.strategy import NNI_SAMPLERS
from bsnas.samplers.tpe import SnapshotTPESampler

__all__ = ["SAMPLERS", "make_sampler", "random_for_whole_budget", "random_start", "sampler_options"]

SAMPLERS = ("tpe", "nsga2", "gp", "random", *NNI_SAMPLERS)

_CLASSES = {"tpe": SnapshotTPESampler, "nsga2": optuna.samplers.NSGAIISampler, "gp": optuna.samplers.GPSampler,
            "random": optuna.samplers.RandomSampler}
#: Set by bsnas, whatever the options: the seed (the search's ``seed``).
_OWN = ("seed",)


def random_start(trials: int | None) -> int:
    """Random trials before TPE or GP model the study: Optuna's 10, or half of a budget under 20 (at least 4),
    so a short search is not random throughout. On NAS-Bench-Macro (``benchmarks/sampler_quality.py``) 10
    beat a tenth of the budget at 25 evaluations and tied it at 50; budgets under 20 were not measured."""
    return 10 if trials is None else max(4, min(10, trials // 2))


def population(trials: int | None) -> int:
    """NSGA-II's population: a fifth of the budget, at least 8 and at most 50 (Optuna's default)."""
    return 50 if trials is None else max(8, min(50, trials // 5))


def sampler_options(name: str, trials: int | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments sampler ``name`` is built with for a search of ``trials`` architectures:
    bsnas's defaults, then ``options`` over them. Unknown options are refused with the accepted ones."""
    if name not in _CLASSES:
        if options:
            raise SearchError(f"sampler {name!r} takes no sampler options, but got {sorted(options)}; NNI "
                              "strategies are sized to --trials by bsnas")
        return {}
    defaults: dict[str, Any] = {}
    if name == "tpe":
        defaults = {"multivariate": True, "group": True, "constant_liar": True,
                    "n_startup_trials": random_start(trials)}
    elif name == "gp":
        defaults = {"n_startup_trials": random_start(trials)}
    elif name == "nsga2":
        defaults = {"population_size": population(trials)}
    accepted = [p for p in inspect.signature(_CLASSES[name]).parameters if p not in _OWN and p != "self"]
    unknown = sorted(set(options or {}) - set(accepted))
    if unknown:
        raise SearchError(f"sampler {name!r} takes no option {unknown[0]!r}; its options are "
                          f"{', '.join(accepted) or 'none (it has no settings)'}")
    merged = {**defaults, **(options or {})}
    for key, low in (("n_startup_trials", 0), ("population_size", 2)):
        value = merged.get(key, low)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise SearchError(f"sampler option {key} must be an integer >= {low}, but got {value!r}")
    return merged


def make_sampler(name: str, seed: int | None, trials: int | None = None,
                 options: dict[str, Any] | None = None) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name (see :data:`SAMPLERS`), seeded, sized to ``trials`` (see the module
    docstring). The ``nni-*`` names choose architectures through an NNI strategy instead
    (:mod:`bsnas.samplers.nni`); their study gets a random sampler."""
    kwargs = sampler_options(name, trials, options)
    cls = _CLASSES.get(name, optuna.samplers.RandomSampler)
    try:
        return cls(seed=seed, **kwargs)
    except (TypeError, ValueError) as err:
        raise SearchError(f"sampler {name!r} refused its options {kwargs}: {err}") from None


def random_for_whole_budget(name: str, trials: int, options: dict[str, Any] | None = None,
                            existing: int = 0) -> str | None:
    """One line saying so when sampler ``name`` would sample all ``trials`` at random (None otherwise);
    ``existing`` trials already in the study count toward its random start."""
    kwargs = sampler_options(name, trials, options)
    if name in ("tpe", "gp"):
        start, what = kwargs["n_startup_trials"], "n_startup_trials"
    elif name == "nsga2":
        start, what = kwargs["population_size"], "population_size"
    else:
        return None
    if existing + trials > start:
        return None
    return (f"note: {name} samples its first {start} trials at random ({what}), so this search of {trials} is a "
            f"random search; ask for more --trials or set --sampler-option {what}=N")
