"""The Python API that mirrors the command line: search, front, export, train.

Each returns data (an ``optuna.Study``, a ``pandas.DataFrame``, a dict of what was written or
measured) and raises :class:`bsnas.BsnasError` with a one-line message on bad input::

    import bsnas
    study = bsnas.search("tiny", data="digits", trials=8, epochs=5, max_flops="1M")
    print(bsnas.front(study))
    bsnas.export(study, trial=int(bsnas.front(study).trial[0]), out="runs/api-export")
    bsnas.train(bsnas.front(study).arch[0], data="digits", epochs=3, out="runs/api-train")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import optuna
import pandas as pd

from bsnas.arch.record import ArchRecord
from bsnas.arch.spec import Arch
from bsnas.errors import BsnasError
from bsnas.evaluators import Evaluator
from bsnas.metrics import budget_metrics
from bsnas.results.export import export_front, export_trial
from bsnas.results.front import pareto_front
from bsnas.storage import load_existing_study
from bsnas.study.config import SearchConfig
from bsnas.study.run import run_search
from bsnas.training.full import train as _train

__all__ = ["export", "front", "search", "train"]

Callback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def search(space: str, data: str | None = "digits", trials: int = 20, *, evaluate: Callable | None = None,
           evaluator: Evaluator | str | None = None, callbacks: Iterable[Callback] = (), **options) -> optuna.Study:
    """Run (or resume) a search like ``bsnas search`` and return its Optuna study.

    ``options`` are :class:`~bsnas.study.config.SearchConfig`'s fields (``max_flops``, ``sampler``,
    ``study``, ``storage``, ``jobs``, ``fidelity``, ``warm_start``, ...) and the proxy's
    (``epochs``, ``subset``, ``seed``, ``optimizer``, ``device``, ...); budgets may be written ``"50M"``.

    ``evaluate(model, data, trial) -> accuracy`` brings your own training: it gets each sampled
    architecture as a freshly initialised ``BsnasNet``, the search's data (a
    :class:`~bsnas.data.split.ProxyData`, or ``None`` with ``data=None``, when you also pass
    ``input_size=(C, H, W)`` and ``num_classes``) and the Optuna trial, and returns a validation
    accuracy in [0, 1] or a dict of metrics with ``accuracy`` among them. ``evaluator`` takes an
    :class:`~bsnas.evaluators.Evaluator` object instead (it gets the architecture itself, and may keep
    state across trials), or the name of a built-in one as ``bsnas search --evaluator`` takes it:
    ``"zero-cost"`` scores each untrained network by NASWOT (or the zero-cost score first in
    ``objectives``), ``"table"`` answers from NAS-Bench-Macro. bsnas keeps the sampling, budget, dedupe,
    storage and front.
    ``callbacks`` are called as ``fn(study, trial)`` for every finished trial.
    """
    for metric in budget_metrics():
        if isinstance(options.get(metric.budget_option), str):
            options[metric.budget_option] = metric.parse(options[metric.budget_option])
    if isinstance(evaluator, str):
        options["evaluator"], evaluator = evaluator, None
    cfg = SearchConfig.from_options(space=str(space), data=data, trials=trials, **options)
    hooks = list(callbacks)

    def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        for hook in hooks:
            hook(study, trial)

    return run_search(cfg, on_trial=on_trial if hooks else None, evaluate=evaluate, evaluator=evaluator)


def _study(study: optuna.Study | str, storage: str | None, runs_dir: str | Path) -> optuna.Study:
    return study if isinstance(study, optuna.Study) else load_existing_study(study, storage, runs_dir)


def front(study: optuna.Study | str, *, rung: int | None = None, storage: str | None = None,
          runs_dir: str | Path = "runs") -> pd.DataFrame:
    """The Pareto front of a study (a study object or its name) as a DataFrame sorted by FLOPs."""
    return pareto_front(_study(study, storage, runs_dir), rung=rung)


def export(study: optuna.Study | str, trial: int | None = None, out: str | Path = "runs/export", *,
           formats: str | Iterable[str] = "json", weights: str | Path | None = None, force: bool = False,
           storage: str | None = None, runs_dir: str | Path = "runs", allow_stopped: bool = False) -> dict | Path:
    """Export one trial (``trial``) or, with ``trial=None``, the whole front with an ``index.json``.

    Returns what was written for a trial, or the index path for a front. A trial that successive
    halving stopped below the top rung is refused unless ``allow_stopped``.
    """
    study = _study(study, storage, runs_dir)
    if trial is None:
        if weights is not None:
            raise BsnasError("weights belong to one trained architecture: pass trial=N with weights")
        return export_front(study, out, formats, force=force)
    return export_trial(study, trial, out, formats, weights, force=force, allow_stopped=allow_stopped)


def train(arch: ArchRecord | Arch | str | Path, data: str = "digits", epochs: int = 30,
          out: str | Path = "runs/train", **options) -> dict:
    """Train one architecture at full length like ``bsnas train`` (checkpoints in ``out``); return the
    metrics. ``options``: ``test_spec``, ``resume``, ``seed``, ``batch_size``, ``lr``, ``resolution``,
    ``val_size``, ``device``, ``amp``."""
    return _train(arch, data, epochs, out, **options)
