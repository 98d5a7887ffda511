"""Run a search: validate everything before training, create or resume the study, drive the workers.

Each worker (:func:`bsnas.study.worker.run_worker`) asks the bookkeeping whether to train, wait or
stop. ``--jobs J`` starts J worker processes on one machine; several machines share a study through
one storage.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import pickle
import queue
import signal
import time
from collections.abc import Callable

import optuna
import torch
from optuna.trial import FrozenTrial

from bsnas import interrupt
from bsnas.data.split import ProxyData
from bsnas.errors import SearchError
from bsnas.evaluators import (
    AshaEvaluator,
    CallableEvaluator,
    Evaluator,
    ProxyEvaluator,
    TableEvaluator,
    ZeroCostEvaluator,
)
from bsnas.files import atomic_write_text
from bsnas.latency.search import latency_scale, search_latency_table
from bsnas.metrics import space_scale
from bsnas.samplers.factory import random_for_whole_budget
from bsnas.space.schema import SearchSpace, load_space
from bsnas.space.stats import describe_space
from bsnas.status import status_of
from bsnas.storage import backend_for, mask_url, resolve_storage_url, storage_lock
from bsnas.study.config import SearchConfig, load_search_data
from bsnas.study.fingerprint import fingerprint
from bsnas.study.objective import logger
from bsnas.study.screen import screened_count
from bsnas.study.studies import create_or_resume
from bsnas.study.warm_start import warm_start
from bsnas.study.worker import WorkerHooks, run_worker
from bsnas.training.engine import resolve_device
from bsnas.version import __version__

__all__ = ["build_evaluator", "prepare", "run_search", "target_met"]

OnTrial = Callable[[optuna.Study, FrozenTrial], None]
OnProgress = Callable[[int, dict], None]


def build_evaluator(cfg: SearchConfig, evaluator: Evaluator | None = None,
                    evaluate: Callable | None = None) -> Evaluator:
    """The search's evaluator: the user's ``evaluate`` function or ``evaluator`` object, else the one
    ``cfg.evaluator`` names (``proxy``; with ``fidelity="asha"``, proxy training judged at rungs)."""
    if evaluator is not None and evaluate is not None:
        raise SearchError("pass either evaluate= (a function) or evaluator= (an Evaluator), not both")
    own = evaluator if evaluator is not None else CallableEvaluator(evaluate) if evaluate is not None else None
    if own is not None:
        if not isinstance(own, Evaluator):
            raise SearchError(f"evaluator must be a bsnas.Evaluator, but got {type(own).__name__}; wrap a function "
                              "as evaluate=fn")
        if cfg.fidelity == "asha":
            raise SearchError("fidelity='asha' trains the proxy rung by rung and cannot judge your own evaluation; "
                              "drop fidelity='asha' (--fidelity), or leave out your evaluate function")
        return own
    if cfg.evaluator == "table":
        return TableEvaluator()
    if cfg.evaluator == "zero-cost":
        return ZeroCostEvaluator(cfg.objectives[0])
    if cfg.fidelity == "asha":
        return AshaEvaluator(cfg.training_proxy(), cfg.min_epochs, cfg.eta)
    return ProxyEvaluator(cfg.proxy)


def target_met(study: optuna.Study, target: int) -> bool:
    """Whether ``target`` trials of ``study`` count toward ``--trials`` (the workers' own rule)."""
    return sum(status_of(t).counts_toward_target for t in study.get_trials(deepcopy=False)) >= target


def _check_data(cfg: SearchConfig, space: SearchSpace, data: ProxyData) -> tuple[int, int, int]:
    """The deployment size of a search on ``data``, after the checks that need the data."""
    cost_size = cfg.cost_size(data)
    for what, size in (("resolution", data.input_size), ("--input-size", cost_size)):
        if min(size[1:]) < space.total_stride:
            raise SearchError(f"{what} {size[1]}x{size[2]} is smaller than the space's total stride "
                              f"{space.total_stride}; raise {what if what.startswith('-') else '--resolution'}")
    if cost_size[0] != data.input_size[0]:
        raise SearchError(f"--input-size has {cost_size[0]} channels, but the data has {data.input_size[0]}")
    if cfg.proxy.subset is not None and cfg.proxy.subset > len(data.train_y):
        raise SearchError(f"--subset {cfg.proxy.subset} is larger than the {len(data.train_y)} training images; "
                          f"use --subset {len(data.train_y)} or less")
    if cfg.num_classes is not None and cfg.num_classes != data.num_classes:
        raise SearchError(f"num_classes={cfg.num_classes} but the data has {data.num_classes} classes; leave "
                          "num_classes out when bsnas reads the data")
    return cost_size


def _frame(cfg: SearchConfig, space: SearchSpace, evaluator: Evaluator) -> tuple[ProxyData | None, dict]:
    """The search's data (None when the evaluator brings its own) and its data_info."""
    if cfg.data is None:
        size = cfg.input_size or evaluator.input_size
        classes = cfg.num_classes or evaluator.num_classes
        if not (isinstance(size, (tuple, list)) and len(size) == 3) or classes is None:
            raise SearchError("a search without data (your own evaluate function brings it) needs input_size "
                              f"(C, H, W) and num_classes, but got input_size={size!r}, "
                              f"num_classes={cfg.num_classes!r}")
        return None, {"input_size": list(size), "train_resolution": None, "num_classes": classes,
                      "classes": [str(i) for i in range(classes)][:1000], "preprocessing": None}
    data = load_search_data(cfg.data, cfg.resolution, cfg.val_size, cfg.seed, cfg.device, cfg.val_subset,
                            cfg.read_size)
    cost_size = _check_data(cfg, space, data)
    return data, {"input_size": list(cost_size), "train_resolution": list(data.input_size),
                  "num_classes": data.num_classes, "classes": list(data.classes)[:1000],
                  "preprocessing": {**data.preprocessing(), "input_size": list(cost_size)}}


def prepare(cfg: SearchConfig, evaluator: Evaluator, log: Callable[[str], None] | None = None
            ) -> tuple[SearchSpace, str, optuna.Study, ProxyData | None]:
    """Validate everything that can fail before any training, create or resume the study."""
    space = load_space(cfg.space)
    url = resolve_storage_url(cfg.storage, cfg.run_dir)
    backend = backend_for(url)
    if cfg.jobs > 1 and not backend.shared:
        raise SearchError(f"--jobs {cfg.jobs} needs a storage that processes share, but {mask_url(url)!r} is a "
                          f"{backend.kind} storage; use a file or database (--storage)")
    if cfg.jobs > 1:
        try:
            pickle.dumps(evaluator)
        except Exception as err:
            raise SearchError(f"--jobs {cfg.jobs} sends the evaluator to worker processes, but it cannot be pickled "
                              f"({type(err).__name__}: {err}); use a module-level function or class") from None
    data, info = _frame(cfg, space, evaluator)
    cost_size = tuple(info["input_size"])
    if min(cost_size[1:]) < space.total_stride:
        raise SearchError(f"input size {cost_size[1]}x{cost_size[2]} is smaller than the space's total stride "
                          f"{space.total_stride}")
    stats = describe_space(space, cost_size, info["num_classes"])
    if stats.size < cfg.trials:
        raise SearchError(f"space {space.name!r} has only {stats.size} architectures, fewer than --trials "
                          f"{cfg.trials}; ask for at most {stats.size} or widen the space")
    for name, limit in cfg.budgets.items():
        smallest = getattr(stats, f"min_{name}", None)
        if smallest is not None and smallest > limit:
            label = "FLOPs" if name == "flops" else name
            raise SearchError(f"the smallest architecture of space {space.name!r} has {smallest:,} {label}, over the "
                              f"budget of {limit:,}; raise the budget or use a smaller space")
    resolve_device(cfg.device)
    table, notes = search_latency_table(cfg)
    for note in notes:
        (log or logger.warning)(note)
    study = create_or_resume(cfg, url, fingerprint(cfg, space.path, cost_size,
                                                   data.content_hash() if data is not None else None,
                                                   evaluator.fingerprint(),
                                                   table.fingerprint if table is not None else None))
    scale = space_scale(("flops", "params", *[o for o in cfg.objectives[1:] if o != "latency"]), stats)
    if table is not None:
        study.set_user_attr("latency_fingerprint", table.fingerprint)
        stored = (study.user_attrs.get("space_max") or {}).get("latency")
        scale["latency"] = stored or latency_scale(table, space, cost_size, info["num_classes"], cfg.seed)
    study.set_user_attr("space_max", scale)
    study.set_user_attr("data_info", info)
    if cfg.warm_start:
        with storage_lock(url, cfg.study_name):
            for note in warm_start(study, space, cfg.warm_start, cost_size, info["num_classes"], cfg.budgets,
                                   extras={"latency_table": table} if table is not None else None,
                                   data=data, screened=screened_count(cfg.sampler, cfg.trials),
                                   cost=cfg.objectives[1], seed=cfg.seed, device=resolve_device(cfg.device)):
                if log:
                    log(note)
    held = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    note = random_for_whole_budget(cfg.sampler, cfg.trials, cfg.sampler_options, held)
    if note:
        (log or logger.warning)(note)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    resolved = dataclasses.asdict(cfg) | {"storage": mask_url(url), "space_path": space.path,
                                          "space_hash": study.user_attrs["bsnas_config"]["space_hash"],
                                          "input_size": list(cost_size), "train_resolution": info["train_resolution"],
                                          "num_classes": info["num_classes"], "rungs": list(cfg.rungs),
                                          "evaluator": evaluator.fingerprint(), "bsnas_version": __version__}
    atomic_write_text(cfg.run_dir / "config.json", json.dumps(resolved, indent=2, default=str) + "\n")
    return space, url, study, data


def run_search(cfg: SearchConfig, on_trial: OnTrial | None = None, poll: float = 1.0,
               log_failures: bool = False, log: Callable[[str], None] | None = None,
               evaluate: Callable | None = None, evaluator: Evaluator | None = None,
               on_progress: OnProgress | None = None,
               on_start: Callable[[optuna.Study], None] | None = None) -> optuna.Study:
    """Run (or resume) the search until ``cfg.trials`` trials count toward the target; return the study.

    ``on_trial(study, trial)`` is called for every finished trial, ``on_progress(number, progress)`` with
    the running trials' progress (epoch, epochs, images per second) and ``on_start(study)`` once the
    study is ready, all from this process. Each failed trial's traceback is logged (logger
    ``bsnas.search``) only with ``log_failures``; ``log`` receives one line per warm-start design, and the
    note that the sampler would sample the whole budget at random (without ``log``, a warning of logger
    ``bsnas.search``).
    ``evaluate(model, data, trial)`` (a function returning an accuracy or a dict of metrics) or
    ``evaluator`` (an :class:`~bsnas.evaluators.Evaluator`) replaces the proxy training; with ``jobs > 1``
    either must pickle (a module-level function or class).
    """
    level = optuna.logging.WARNING if log_failures else optuna.logging.ERROR
    optuna.logging.set_verbosity(level)
    logger.setLevel(level)
    chosen = build_evaluator(cfg, evaluator, evaluate)
    _, url, study, data = prepare(cfg, chosen, log)
    if on_start is not None:
        on_start(study)
    cores = os.cpu_count() or 1
    if target_met(study, cfg.trials):
        return study  # a finished study resumed: nothing to start
    if cfg.jobs == 1:
        with interrupt.handling():
            run_worker(cfg, url, 0, cores, chosen, data, WorkerHooks(on_trial, on_progress))
        return study
    del data
    threads = max(1, cores // cfg.jobs)
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    procs = [ctx.Process(target=_worker_process, args=(cfg.for_worker(w, gpus), url, w, threads, level, errors,
                                                       chosen), daemon=True) for w in range(cfg.jobs)]
    for p in procs:
        p.start()
    try:
        _watch(study, procs, poll, on_trial, on_progress)
    finally:
        _stop(procs)
    if target_met(study, cfg.trials):
        return study  # the target is met, even if a worker was killed on the way
    raise SearchError(_worker_failure(procs, errors))


def _watch(study: optuna.Study, procs: list, poll: float, on_trial: OnTrial | None,
           on_progress: OnProgress | None) -> None:
    """Until the workers end: report finished trials and the running ones' progress, from this process."""
    seen: set[int] = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    shown: dict[int, object] = {}
    while True:
        alive = any(p.is_alive() for p in procs)
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in seen:
                seen.add(t.number)
                if on_trial:
                    on_trial(study, t)
            beat = t.user_attrs.get("heartbeat")
            progress = beat.get("progress") if isinstance(beat, dict) and not t.state.is_finished() else None
            if on_progress and progress and shown.get(t.number) != progress:
                shown[t.number] = progress
                on_progress(t.number, progress)
        if not alive:
            return
        time.sleep(poll)


def _worker_process(cfg: SearchConfig, url: str, worker: int, threads: int, verbosity: int,
                    errors: multiprocessing.Queue, evaluator: Evaluator) -> None:
    """A ``--jobs`` worker: stops like Ctrl-C on SIGTERM; reports its error to the parent in one line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the workers
    optuna.logging.set_verbosity(verbosity)
    logger.setLevel(verbosity)
    try:
        with interrupt.handling((signal.SIGTERM,)):
            run_worker(cfg, url, worker, threads, evaluator)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as err:
        errors.put(f"worker {worker}: {err}" if isinstance(err, SearchError) else
                   f"worker {worker}: {type(err).__name__}: {(str(err).splitlines() or [''])[0]}")
        raise SystemExit(1) from None


def _stop(procs: list) -> None:
    """Stop workers still running (the parent failed or was interrupted): SIGTERM, then SIGKILL."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 30
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def _worker_failure(procs: list, errors) -> str:
    messages = []
    while True:
        try:
            messages.append(errors.get(timeout=0.1))
        except queue.Empty:
            break
    if messages:
        return "; ".join(messages)
    codes = [p.exitcode for p in procs]
    killed = [f"worker {i} by signal {-c}" for i, c in enumerate(codes) if c is not None and c < 0]
    how = f"were killed ({', '.join(killed)})" if killed else f"exited with codes {codes}"
    return f"the worker processes {how} before the target was met; rerun the same command to resume"
