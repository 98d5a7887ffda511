"""What a search is asked to do: the space, data, budgets, sampler and the proxy recipe.

:class:`SearchConfig` holds a :class:`~bsnas.training.config.ProxyConfig`
for the training of each candidate. The settings that define a study are
its *fingerprint*, stored in the study; a resumed run must repeat them, and
the baseline evaluation rebuilds the same proxy and data from them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from bsnas.data.split import ProxyData, load_data
from bsnas.errors import BsnasError, SearchError
from bsnas.files import check_name, is_safe_name
from bsnas.training.config import ProxyConfig
from bsnas.training.engine import resolve_device

__all__ = ["FINGERPRINT", "OBJECTIVES", "SAMPLERS", "SearchConfig", "load_search_data", "make_sampler",
           "parse_amount", "proxy_from_fingerprint"]

OBJECTIVES = ("accuracy", "flops", "params")
SAMPLERS = ("tpe", "nsga2", "gp", "random")
#: The proxy settings a study records (and a resumed run must repeat).
PROXY_KEYS = ("epochs", "subset", "batch_size", "optimizer", "lr")
#: Settings that define a study; a resumed run must repeat them exactly.
FINGERPRINT = ("space_hash", "data", "objectives", "max_flops", "max_params", "sampler", "seed", "epochs",
               "subset", "resolution", "batch_size", "val_size", "optimizer", "lr")


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
    """A search: ``trials`` architectures of ``space`` trained on ``data`` with the ``proxy`` recipe.

    The proxy's ``seed`` also seeds the sampler and the validation split;
    its ``device`` is where training runs.
    """

    space: str
    data: str = "digits"
    trials: int = 20
    objectives: tuple[str, ...] = ("accuracy", "flops")
    max_flops: int | None = None
    max_params: int | None = None
    sampler: str = "tpe"
    study: str | None = None
    storage: str | None = None
    jobs: int = 1
    resolution: int | None = None
    val_size: float | int = 0.2
    runs_dir: str = "runs"
    proxy: ProxyConfig = field(default_factory=ProxyConfig)

    def __post_init__(self) -> None:
        if self.objectives[:1] != ("accuracy",) or len(self.objectives) < 2 or not set(self.objectives) <= set(
                OBJECTIVES) or len(set(self.objectives)) != len(self.objectives):
            raise SearchError(f"objectives must be accuracy followed by flops and/or params, e.g. "
                              f"accuracy,flops,params, but got {','.join(self.objectives)}")
        if self.sampler not in SAMPLERS:
            raise SearchError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        for name in ("trials", "jobs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SearchError(f"--{name} must be a positive integer, but got {value!r}")
        if not isinstance(self.proxy, ProxyConfig):
            raise SearchError(f"proxy must be a ProxyConfig, but got {type(self.proxy).__name__}")
        if self.study is None and not is_safe_name(Path(self.space).stem):
            raise SearchError(f"the study name defaults to the space's file name {Path(self.space).stem!r}, which "
                              "is not a safe name; pass --study NAME (letters, digits, '-', '_', '.')")
        check_name(self.study_name, "--study name")
        for name in ("max_flops", "max_params"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise SearchError(f"--{name.replace('_', '-')} must be a positive integer, but got {value!r}")
        if not isinstance(self.data, str) or not self.data:
            raise SearchError(f"--data must be a dataset spec such as digits, but got {self.data!r}")

    @classmethod
    def from_options(cls, **options) -> SearchConfig:
        """A config from flat keyword options; :class:`ProxyConfig`'s fields (``epochs``, ``subset``,
        ``seed``, ``device``, ...) go to the proxy recipe."""
        proxy_fields = {f.name for f in dataclasses.fields(ProxyConfig)}
        own = {f.name for f in dataclasses.fields(cls)} - {"proxy"}
        unknown = sorted(set(options) - proxy_fields - own)
        if unknown:
            raise SearchError(f"unknown search option {unknown[0]!r}; valid options are "
                              f"{', '.join(sorted(own | proxy_fields))}")
        proxy = ProxyConfig(**{k: v for k, v in options.items() if k in proxy_fields})
        return cls(**{k: v for k, v in options.items() if k in own}, proxy=proxy)

    @property
    def seed(self) -> int:
        return self.proxy.seed

    @property
    def device(self) -> str:
        return self.proxy.device

    @property
    def study_name(self) -> str:
        return self.study or Path(self.space).stem

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.study_name

    def fingerprint(self, space_path: str) -> dict:
        """The settings that define the study (see :data:`FINGERPRINT`)."""
        values = {**dataclasses.asdict(self), **{k: getattr(self.proxy, k) for k in PROXY_KEYS},
                  "seed": self.seed, "objectives": list(self.objectives),
                  "space_hash": hashlib.sha256(Path(space_path).read_bytes()).hexdigest()[:16]}
        return {k: values[k] for k in FINGERPRINT}


def proxy_from_fingerprint(stored: dict, device: str = "auto") -> ProxyConfig:
    """The proxy recipe a study was searched with, from its stored fingerprint."""
    return ProxyConfig(**{k: stored[k] for k in PROXY_KEYS}, seed=stored["seed"], device=device)


def load_search_data(spec: str, resolution: int | None, val_size: float | int, seed: int,
                     device: str = "auto") -> ProxyData:
    """The data of a search (or of its baselines): the validation split depends only on these settings."""
    return load_data(spec, resolution=resolution, val_size=val_size, seed=seed, device=resolve_device(device))


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name (see :data:`SAMPLERS`), seeded."""
    if name == "tpe":
        return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)
