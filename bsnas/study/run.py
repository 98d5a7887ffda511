"""Run a search: validate everything before training, create or resume the study, drive the workers.

Each worker asks :func:`bsnas.study.bookkeeping.next_step` whether to
train, wait or stop, and trains one trial at a time through
:class:`~bsnas.study.objective.Objective`. ``--jobs J`` starts J worker
processes on one machine; several machines share a study through one
storage.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import multiprocessing
import os
import queue
import signal
import time
import warnings
from collections.abc import Callable

import optuna
import torch
from optuna.trial import FrozenTrial

from bsnas import interrupt
from bsnas.data.split import ProxyData
from bsnas.errors import SearchError
from bsnas.files import atomic_write_text
from bsnas.nni.strategy import NNI_SAMPLERS
from bsnas.space.schema import SearchSpace, load_space
from bsnas.space.stats import describe_space
from bsnas.study.bookkeeping import STOP, WAIT, Rules, next_step, summarize
from bsnas.study.config import FINGERPRINT, SearchConfig, load_search_data, make_sampler
from bsnas.study.liveness import mark_dead, stale_after
from bsnas.study.objective import Objective, SearchContext, trained_trials
from bsnas.study.storage import mask_url, open_storage, resolve_storage_url, storage_lock
from bsnas.study.warm_start import warm_start
from bsnas.training.engine import resolve_device
from bsnas.version import __version__

__all__ = ["prepare", "run_search"]

MAX_CONSECUTIVE_FAILURES = 10
OnTrial = Callable[[optuna.Study, FrozenTrial], None]
Evaluate = Callable[..., float]


def max_attempts(trials: int) -> int:
    """Trials of any kind (infeasible, reused, failed) a search may make before it gives up."""
    return trials * 20 + 100


def open_study(cfg: SearchConfig, space: SearchSpace, url: str, create: bool, seed: int | None,
               cost_size: tuple[int, int, int] | None = None) -> optuna.Study:
    """Create (checking the stored fingerprint) or load the study of ``cfg``."""
    # Grouped TPE and metric names are experimental in Optuna; bsnas uses them on purpose.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = open_storage(url)
        sampler = make_sampler(cfg.sampler, seed)
        if not create:
            return optuna.load_study(study_name=cfg.study_name, storage=storage, sampler=sampler)
        directions = ["maximize"] + ["minimize"] * (len(cfg.objectives) - 1)
        fingerprint = cfg.fingerprint(space.path, cost_size)
        with storage_lock(url):  # two processes starting the same new study: one creates, the other resumes
            study = optuna.create_study(study_name=cfg.study_name, storage=storage, sampler=sampler,
                                        directions=directions, load_if_exists=True)
            stored = study.user_attrs.get("bsnas_config")
            if stored is None:
                study.set_metric_names(list(cfg.objectives))
                study.set_user_attr("bsnas_config", fingerprint)
                study.set_user_attr("bsnas_version", __version__)
        if stored is not None and stored != fingerprint:
            changed = [f"{k} {stored.get(k)!r} -> {fingerprint[k]!r}"
                       for k in FINGERPRINT if stored.get(k) != fingerprint[k]]
            raise SearchError(f"study {cfg.study_name!r} was created with other settings ({'; '.join(changed)}); "
                              "repeat the original settings to resume, or pick a new --study name")
        return study


def _search_data(cfg: SearchConfig) -> ProxyData:
    return load_search_data(cfg.data, cfg.resolution, cfg.val_size, cfg.seed, cfg.device, cfg.val_subset,
                            cfg.read_size)


def _worker(cfg: SearchConfig, url: str, worker: int, threads: int, data: ProxyData | None = None,
            on_trial: OnTrial | None = None, evaluate: Evaluate | None = None) -> None:
    torch.set_num_threads(threads)
    space = load_space(cfg.space)
    # Offset the seed by the trials already stored, so a resumed run does not replay earlier draws.
    existing = len(optuna.load_study(study_name=cfg.study_name, storage=open_storage(url)).get_trials(deepcopy=False))
    study = open_study(cfg, space, url, create=False, seed=cfg.seed + worker + 7919 * existing)
    rules = Rules(target=cfg.trials, max_attempts=max_attempts(cfg.trials), max_failures=MAX_CONSECUTIVE_FAILURES,
                  stale_after=stale_after(), since=existing)
    if data is None and cfg.data is not None:
        data = _search_data(cfg)
    attrs = study.user_attrs
    objective = Objective(SearchContext(cfg, space, data, rules, tuple(attrs["data_info"]["input_size"]),
                                        attrs["data_info"]["num_classes"], attrs["space_max"],
                                        cfg.run_dir / "checkpoints", functools.partial(storage_lock, url),
                                        evaluate=evaluate))
    callbacks = [on_trial] if on_trial else []
    if cfg.sampler in NNI_SAMPLERS:
        from bsnas.study.nni_driver import drive_nni

        drive_nni(study, objective, callbacks, worker)
        return
    while True:
        interrupt.check()
        step = next_step([summarize(t) for t in study.get_trials(deepcopy=False)], rules, time.time())
        mark_dead(study, step.stale)
        if step.action == STOP:
            if step.reason == "target":
                return
            raise SearchError(step.message)
        if step.action == WAIT:  # the trials in flight may fail
            time.sleep(0.5)
            continue
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=callbacks)


def _worker_process(cfg: SearchConfig, url: str, worker: int, threads: int, verbosity: int,
                    errors: multiprocessing.Queue, evaluate: Evaluate | None) -> None:
    """A ``--jobs`` worker: stops like Ctrl-C on SIGTERM; reports its error to the parent in one line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the workers
    optuna.logging.set_verbosity(verbosity)
    try:
        with interrupt.handling((signal.SIGTERM,)):
            _worker(cfg, url, worker, threads, evaluate=evaluate)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as err:
        errors.put(f"worker {worker}: {err}" if isinstance(err, SearchError) else
                   f"worker {worker}: {type(err).__name__}: {(str(err).splitlines() or [''])[0]}")
        raise SystemExit(1) from None


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


def _frame(cfg: SearchConfig, space: SearchSpace) -> tuple[ProxyData | None, dict]:
    """The search's data (None when the user's ``evaluate`` brings its own) and its data_info."""
    if cfg.data is None:
        size = cfg.input_size
        if not (isinstance(size, (tuple, list)) and len(size) == 3) or cfg.num_classes is None:
            raise SearchError("a search without data (your own evaluate function brings it) needs input_size "
                              f"(C, H, W) and num_classes, but got input_size={size!r}, "
                              f"num_classes={cfg.num_classes!r}")
        return None, {"input_size": list(size), "train_resolution": None, "num_classes": cfg.num_classes,
                      "classes": [str(i) for i in range(cfg.num_classes)][:1000], "preprocessing": None}
    data = _search_data(cfg)
    cost_size = _check_data(cfg, space, data)
    return data, {"input_size": list(cost_size), "train_resolution": list(data.input_size),
                  "num_classes": data.num_classes, "classes": list(data.classes)[:1000],
                  "preprocessing": {**data.preprocessing(), "input_size": list(cost_size)}}


def prepare(cfg: SearchConfig, log: Callable[[str], None] | None = None) -> tuple[SearchSpace, str, optuna.Study,
                                                                                  ProxyData | None]:
    """Validate everything that can fail before any training, create or resume the study."""
    space = load_space(cfg.space)
    data, info = _frame(cfg, space)
    cost_size = tuple(info["input_size"])
    if min(cost_size[1:]) < space.total_stride:
        raise SearchError(f"input size {cost_size[1]}x{cost_size[2]} is smaller than the space's total stride "
                          f"{space.total_stride}")
    stats = describe_space(space, cost_size, info["num_classes"])
    if stats.size < cfg.trials:
        raise SearchError(f"space {space.name!r} has only {stats.size} architectures, fewer than --trials "
                          f"{cfg.trials}; ask for at most {stats.size} or widen the space")
    for name, smallest, limit in (("FLOPs", stats.min_flops, cfg.max_flops),
                                  ("params", stats.min_params, cfg.max_params)):
        if limit is not None and smallest > limit:
            raise SearchError(f"the smallest architecture of space {space.name!r} has {smallest:,} {name}, over the "
                              f"budget of {limit:,}; raise the budget or use a smaller space")
    resolve_device(cfg.device)
    url = resolve_storage_url(cfg.storage, cfg.run_dir)
    study = open_study(cfg, space, url, create=True, seed=cfg.seed, cost_size=cost_size)
    study.set_user_attr("space_max", {"flops": stats.max_flops, "params": stats.max_params})
    study.set_user_attr("data_info", info)
    if cfg.warm_start:
        with storage_lock(url):
            for note in warm_start(study, space, cfg.warm_start, cost_size, info["num_classes"], cfg.max_flops,
                                   cfg.max_params):
                if log:
                    log(note)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    resolved = dataclasses.asdict(cfg) | {"storage": mask_url(url), "space_path": space.path,
                                          "space_hash": cfg.fingerprint(space.path, cost_size)["space_hash"],
                                          "input_size": list(cost_size), "train_resolution": info["train_resolution"],
                                          "num_classes": info["num_classes"], "rungs": list(cfg.rungs),
                                          "bsnas_version": __version__}
    atomic_write_text(cfg.run_dir / "config.json", json.dumps(resolved, indent=2) + "\n")
    return space, url, study, data


def run_search(cfg: SearchConfig, on_trial: OnTrial | None = None, poll: float = 1.0,
               log_failures: bool = False, log: Callable[[str], None] | None = None,
               evaluate: Evaluate | None = None) -> optuna.Study:
    """Run (or resume) the search until ``cfg.trials`` architectures are trained; return the study.

    ``on_trial(study, trial)`` is called for every finished trial, from this process. Optuna's own
    warning (with a traceback) for each failed trial is shown only with ``log_failures``; ``log``
    receives one line per warm-start design. ``evaluate(model, data, trial) -> accuracy`` replaces the
    proxy training (see :class:`~bsnas.study.objective.Objective`); with ``jobs > 1`` it must be a
    module-level function (worker processes import it).
    """
    verbosity = optuna.logging.WARNING if log_failures else optuna.logging.ERROR
    optuna.logging.set_verbosity(verbosity)
    _, url, study, data = prepare(cfg, log)
    cores = os.cpu_count() or 1
    if cfg.jobs == 1:
        with interrupt.handling():
            _worker(cfg, url, 0, cores, data, on_trial, evaluate)
        return study
    del data
    threads = max(1, cores // cfg.jobs)
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    procs = [ctx.Process(target=_worker_process, args=(cfg.for_worker(w, gpus), url, w, threads, verbosity, errors,
                                                       evaluate), daemon=True) for w in range(cfg.jobs)]
    for p in procs:
        p.start()
    seen: set[int] = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    try:
        while True:
            alive = any(p.is_alive() for p in procs)
            for t in study.get_trials(deepcopy=False):
                if t.state.is_finished() and t.number not in seen:
                    seen.add(t.number)
                    if on_trial:
                        on_trial(study, t)
            if not alive:
                break
            time.sleep(poll)
    finally:
        _stop(procs)
    if len(trained_trials(study)) >= cfg.trials:
        return study  # the target is met, even if a worker was killed on the way
    raise SearchError(_worker_failure(procs, errors))


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
    how = f"killed ({', '.join(killed)})" if killed else f"exited with codes {codes}"
    return f"the worker processes were {how} before the target was met; rerun the same command to resume"
