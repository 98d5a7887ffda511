"""Multi-objective architecture search with Optuna under exact FLOPs/params budgets.

Each trial samples an architecture (:func:`bsnas.space.sample_arch`),
counts it analytically, and only then trains it on the proxy task:

* over budget: recorded as infeasible through ``trial.set_constraint``,
  with no training, and the search goes on until ``trials`` architectures
  are trained;
* seen before in the study (same canonical string): its result is reused
  and the trial marked ``status=reused``;
* failing (exception, diverging loss, out of memory): the trial is FAIL
  with ``fail_reason`` in its user attributes, and the search goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from bsnas.codec import encode_arch
from bsnas.cost import count
from bsnas.data import ProxyData, load_data
from bsnas.errors import BsnasError, SearchError
from bsnas.proxy import ProxyConfig, resolve_device, train_proxy
from bsnas.space import SearchSpace, load_space, sample_arch
from bsnas.space_stats import describe_space
from bsnas.storage import open_storage, resolve_storage_url
from bsnas.version import __version__

__all__ = ["OBJECTIVES", "SAMPLERS", "SearchConfig", "parse_amount", "run_search", "trained_trials"]

OBJECTIVES = ("accuracy", "flops", "params")
SAMPLERS = ("tpe", "nsga2", "gp", "random")
#: Settings that define a study; a resumed run must repeat them exactly.
FINGERPRINT = ("space_hash", "data", "objectives", "max_flops", "max_params", "sampler", "seed", "epochs",
               "subset", "resolution", "batch_size", "val_size", "optimizer", "lr")
MAX_CONSECUTIVE_FAILURES = 10


def parse_amount(text: str | int | None) -> int | None:
    """``"50M"`` → 50_000_000; also K, G and plain integers."""
    if text is None or isinstance(text, int):
        return text
    raw = text.strip().upper().replace("_", "")
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if scale > 1 else raw) * scale
    except ValueError:
        raise BsnasError(f"cannot read {text!r} as an amount; write e.g. 500K, 50M or 2G") from None
    if not math.isfinite(value) or value <= 0:
        raise BsnasError(f"a budget must be a positive number, but got {text!r}")
    return int(value)


@dataclass(frozen=True)
class SearchConfig:
    space: str
    data: str = "digits"
    trials: int = 20
    objectives: tuple[str, ...] = ("accuracy", "flops")
    max_flops: int | None = None
    max_params: int | None = None
    sampler: str = "tpe"
    seed: int = 0
    study: str | None = None
    storage: str | None = None
    jobs: int = 1
    epochs: int = 10
    subset: int | None = None
    resolution: int | None = None
    batch_size: int = 64
    val_size: float = 0.2
    optimizer: str = "sgd"
    lr: float | None = None
    device: str = "auto"
    runs_dir: str = "runs"

    def __post_init__(self) -> None:
        if self.objectives[:1] != ("accuracy",) or len(self.objectives) < 2 or not set(self.objectives) <= set(
                OBJECTIVES) or len(set(self.objectives)) != len(self.objectives):
            raise SearchError(f"objectives must be accuracy followed by flops and/or params, e.g. "
                              f"accuracy,flops,params, but got {','.join(self.objectives)}")
        if self.sampler not in SAMPLERS:
            raise SearchError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        for name in ("trials", "jobs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SearchError(f"--{name} must be a positive integer, but got {value!r}")

    @property
    def study_name(self) -> str:
        return self.study or Path(self.space).stem

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.study_name

    def proxy(self) -> ProxyConfig:
        return ProxyConfig(epochs=self.epochs, subset=self.subset, batch_size=self.batch_size, seed=self.seed,
                           optimizer=self.optimizer, lr=self.lr, device=self.device)


def _space_hash(space_path: str) -> str:
    return hashlib.sha256(Path(space_path).read_bytes()).hexdigest()[:16]


def _fingerprint(cfg: SearchConfig, space: SearchSpace) -> dict:
    values = dataclasses.asdict(cfg) | {"space_hash": _space_hash(space.path), "objectives": list(cfg.objectives)}
    return {k: values[k] for k in FINGERPRINT}


def _make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _status(t: FrozenTrial) -> str | None:
    return t.user_attrs.get("status") if t.state == TrialState.COMPLETE else None


def _in_flight(t: FrozenTrial) -> bool:
    """Running and started in the last 6 hours (older ones belong to a worker that died)."""
    start = t.datetime_start
    return t.state == TrialState.RUNNING and start is not None and start.timestamp() > time.time() - 6 * 3600


def trained_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials that trained an architecture (not reused, not infeasible)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if _status(t) == "trained"]


class _Objective:
    def __init__(self, cfg: SearchConfig, space: SearchSpace, data: ProxyData):
        self.cfg, self.space, self.data = cfg, space, data
        self.proxy = cfg.proxy()
        self.failures, self.last_reason = 0, ""

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        try:
            values = self._run(trial)
        except Exception as err:
            self.failures += 1
            self.last_reason = f"{type(err).__name__}: {err}"[:2000]
            trial.set_user_attr("fail_reason", self.last_reason)
            raise
        self.failures = 0
        return values

    def _values(self, acc: float, flops: int, params: int) -> tuple[float, ...]:
        by_name = {"accuracy": acc, "flops": float(flops), "params": float(params)}
        return tuple(by_name[o] for o in self.cfg.objectives)

    def _run(self, trial: optuna.Trial) -> tuple[float, ...]:
        arch = sample_arch(trial, self.space)
        text = encode_arch(arch)
        cost = count(arch, self.data.input_size, self.data.num_classes)
        mix = arch.conv_mix()
        for key, value in {"arch": text, "flops": cost.flops, "params": cost.params,
                           "conv_mix": mix, "seed": self.cfg.seed}.items():
            trial.set_user_attr(key, value)
        over = {"flops": (cost.flops, self.cfg.max_flops), "params": (cost.params, self.cfg.max_params)}
        feasible = True
        for name, (value, limit) in over.items():
            if limit is not None:
                trial.set_constraint(name, value - limit)
                feasible &= value <= limit
        if not feasible:
            trial.set_user_attr("status", "infeasible")
            return self._values(0.0, cost.flops, cost.params)
        earlier = self._earlier(trial.study, text)
        if earlier is not None:
            for key in ("accuracy", "val_loss", "train_time", "images_per_sec", "epochs_run", "proxy"):
                trial.set_user_attr(key, earlier.user_attrs.get(key))
            trial.set_user_attr("status", "reused")
            trial.set_user_attr("reused_from", earlier.number)
            return self._values(earlier.user_attrs["accuracy"], cost.flops, cost.params)
        if self._surplus(trial):
            trial.set_user_attr("status", "surplus")
            raise optuna.TrialPruned("the study already has enough trained or running trials")
        result = train_proxy(arch, self.data, self.proxy)
        if result.diverged:
            raise BsnasError(f"training diverged: {result.diverged}")
        for key, value in {"accuracy": result.val_acc, "val_loss": result.val_loss,
                           "train_time": round(result.train_time, 3), "images_per_sec": round(result.images_per_sec, 1),
                           "epochs_run": result.epochs_run, "proxy": result.settings, "status": "trained"}.items():
            trial.set_user_attr(key, value)
        return self._values(result.val_acc, cost.flops, cost.params)

    def _surplus(self, trial: optuna.Trial) -> bool:
        """Parallel workers check the count, then start a trial; two can pass the check together.

        Trial numbers are handed out atomically by the storage, so the later
        one steps back: it trains only if fewer than ``trials`` earlier trials
        are trained or still running.
        """
        earlier = [t for t in trial.study.get_trials(deepcopy=False) if t.number < trial.number]
        return sum(_status(t) == "trained" or _in_flight(t) for t in earlier) >= self.cfg.trials

    @staticmethod
    def _earlier(study: optuna.Study, text: str) -> FrozenTrial | None:
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs.get("arch") == text and _status(t) == "trained":
                return t
        return None


def _open_study(cfg: SearchConfig, space: SearchSpace, url: str, create: bool, seed: int | None) -> optuna.Study:
    # Grouped TPE and metric names are experimental in Optuna; bsnas uses them on purpose.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _open_study_quietly(cfg, space, url, create, seed)


def _open_study_quietly(cfg: SearchConfig, space: SearchSpace, url: str, create: bool,
                        seed: int | None) -> optuna.Study:
    storage = open_storage(url)
    directions = ["maximize"] + ["minimize"] * (len(cfg.objectives) - 1)
    sampler = _make_sampler(cfg.sampler, seed)
    if not create:
        return optuna.load_study(study_name=cfg.study_name, storage=storage, sampler=sampler)
    study = optuna.create_study(study_name=cfg.study_name, storage=storage, sampler=sampler,
                                directions=directions, load_if_exists=True)
    fingerprint = _fingerprint(cfg, space)
    stored = study.user_attrs.get("bsnas_config")
    if stored is None:
        study.set_metric_names(list(cfg.objectives))
        study.set_user_attr("bsnas_config", fingerprint)
        study.set_user_attr("bsnas_version", __version__)
    elif stored != fingerprint:
        changed = [f"{k} {stored.get(k)!r} -> {fingerprint[k]!r}"
                   for k in FINGERPRINT if stored.get(k) != fingerprint[k]]
        raise SearchError(f"study {cfg.study_name!r} was created with other settings ({'; '.join(changed)}); "
                          "repeat the original settings to resume, or pick a new --study name")
    return study


def _load_data(cfg: SearchConfig) -> ProxyData:
    return load_data(cfg.data, resolution=cfg.resolution, val_size=cfg.val_size, seed=cfg.seed,
                     device=resolve_device(cfg.device))


def _worker(cfg: SearchConfig, url: str, worker: int, threads: int, data: ProxyData | None = None,
            on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None) -> None:
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(cfg.space)
    # Offset the seed by the trials already stored, so a resumed run does not replay earlier draws.
    existing = len(optuna.load_study(study_name=cfg.study_name, storage=open_storage(url)).get_trials(deepcopy=False))
    study = _open_study(cfg, space, url, create=False, seed=cfg.seed + worker + 7919 * existing)
    objective = _Objective(cfg, space, data if data is not None else _load_data(cfg))
    max_attempts = cfg.trials * 20 + 100
    callbacks = [on_trial] if on_trial else []
    while True:
        trials = study.get_trials(deepcopy=False)
        trained = sum(_status(t) == "trained" for t in trials)
        running = sum(_in_flight(t) for t in trials)
        if trained >= cfg.trials or len(trials) >= max_attempts:
            return
        if trained + running >= cfg.trials:  # wait for the trials in flight; they may fail
            optuna.storages.fail_stale_trials(study)
            time.sleep(0.5)
            continue
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=callbacks)
        if objective.failures >= MAX_CONSECUTIVE_FAILURES:
            raise SearchError(f"{objective.failures} trials in a row failed; the last said: {objective.last_reason}")


def _worker_process(cfg_dict: dict, url: str, worker: int, threads: int) -> None:
    cfg = SearchConfig(**{**cfg_dict, "objectives": tuple(cfg_dict["objectives"])})
    _worker(cfg, url, worker, threads)


def prepare(cfg: SearchConfig) -> tuple[SearchSpace, str, optuna.Study, ProxyData]:
    """Validate everything that can fail before any training, create or resume the study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(cfg.space)
    data = _load_data(cfg)
    stride = _first_arch(space).total_stride  # strides are fixed per stage, so every arch shares it
    if min(data.input_size[1:]) < stride:
        raise SearchError(f"resolution {data.input_size[1]}x{data.input_size[2]} is smaller than the space's "
                          f"total stride {stride}; raise --resolution")
    if cfg.subset is not None and cfg.subset > len(data.train_y):
        raise SearchError(f"--subset {cfg.subset} is larger than the {len(data.train_y)} training images; "
                          f"use --subset {len(data.train_y)} or less")
    stats = describe_space(space, data.input_size, data.num_classes)
    for name, smallest, limit in (("FLOPs", stats.min_flops, cfg.max_flops),
                                  ("params", stats.min_params, cfg.max_params)):
        if limit is not None and smallest > limit:
            raise SearchError(f"the smallest architecture of space {space.name!r} has {smallest:,} {name}, over the "
                              f"budget of {limit:,}; raise the budget or use a smaller space")
    resolve_device(cfg.device)
    url = resolve_storage_url(cfg.storage, cfg.run_dir)
    study = _open_study(cfg, space, url, create=True, seed=cfg.seed)
    study.set_user_attr("space_max", {"flops": stats.max_flops, "params": stats.max_params})
    study.set_user_attr("data_info", {"input_size": list(data.input_size), "num_classes": data.num_classes,
                                      "classes": list(data.classes)[:1000]})
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    resolved = dataclasses.asdict(cfg) | {"storage": url, "space_path": space.path, "space_hash": _space_hash(
        space.path), "input_size": list(data.input_size), "num_classes": data.num_classes,
        "bsnas_version": __version__}
    (cfg.run_dir / "config.json").write_text(json.dumps(resolved, indent=2) + "\n")
    return space, url, study, data


def _first_arch(space: SearchSpace):
    from optuna.trial import FixedTrial

    class _First(FixedTrial):
        def suggest_categorical(self, name, choices):
            return choices[0]

    return sample_arch(_First({}), space)


def run_search(cfg: SearchConfig, on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
               poll: float = 1.0) -> optuna.Study:
    """Run (or resume) the search until ``cfg.trials`` architectures are trained; return the study.

    ``on_trial(study, trial)`` is called for every finished trial, from this process.
    """
    _, url, study, data = prepare(cfg)
    cores = os.cpu_count() or 1
    if cfg.jobs == 1:
        _worker(cfg, url, 0, cores, data, on_trial)
        return study
    del data
    threads = max(1, cores // cfg.jobs)
    ctx = multiprocessing.get_context("spawn")
    cfg_dict = dataclasses.asdict(cfg)
    procs = [ctx.Process(target=_worker_process, args=(cfg_dict, url, w, threads), daemon=True)
             for w in range(cfg.jobs)]
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
        for p in procs:
            p.join(timeout=0 if not p.is_alive() else None)
    codes = [p.exitcode for p in procs]
    if any(codes):
        raise SearchError(f"worker processes exited with codes {codes}; rerun the same command to resume")
    return study
