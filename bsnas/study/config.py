"""What a search is asked to do: the space, data, objectives and budgets, sampler, evaluator and recipe.

:class:`SearchConfig` holds a :class:`~bsnas.training.config.ProxyConfig` for the training of each
candidate. The settings that define a study are its *fingerprint* (:mod:`bsnas.study.fingerprint`),
stored in the study; a resumed run must repeat them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from bsnas.data.split import ProxyData, load_data
from bsnas.errors import SearchError
from bsnas.evaluators import EVALUATORS
from bsnas.evaluators.successive_halving import FIDELITIES, rungs
from bsnas.files import check_name, is_safe_name
from bsnas.latency.timing import BACKENDS
from bsnas.metrics import budget_metrics, check_objectives
from bsnas.samplers import SAMPLERS
from bsnas.samplers.factory import sampler_options
from bsnas.study.screen import parse_screen
from bsnas.training.config import ProxyConfig
from bsnas.training.engine import resolve_device

__all__ = ["SearchConfig", "load_search_data", "worker_device"]


@dataclass(frozen=True)
class SearchConfig:
    """A search: ``trials`` architectures of ``space`` evaluated on ``data`` by ``evaluator`` (``proxy``:
    trained with the ``proxy`` recipe; with ``fidelity="asha"`` judged at successive-halving rungs).

    The proxy's ``seed`` also seeds the sampler and the validation split; its ``device`` is where
    training runs. ``max_<metric>`` are hard budgets on the registered budget metrics (FLOPs, params).
    """

    space: str
    data: str | None = "digits"
    trials: int = 20
    objectives: tuple[str, ...] | None = None  # default: accuracy,flops (naswot,flops with evaluator zero-cost)
    max_flops: int | None = None
    max_params: int | None = None
    max_latency: float | None = None
    sampler: str = "tpe"
    sampler_options: dict | None = None
    study: str | None = None
    storage: str | None = None
    jobs: int = 1
    resolution: int | None = None
    val_size: float | int = 0.2
    runs_dir: str = "runs"
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    input_size: tuple[int, int, int] | int | None = None
    val_subset: int | None = None
    fidelity: str = "none"
    min_epochs: int = 1
    max_epochs: int | None = None
    eta: int = 3
    warm_start: str | None = None
    num_classes: int | None = None
    devices: tuple[int, ...] | None = None
    evaluator: str = "proxy"
    latency_table: str | None = None
    latency_backend: str | None = None
    latency_threads: int = 1
    allow_foreign_table: bool = False

    def __post_init__(self) -> None:
        if self.objectives is None:
            quality = "naswot" if self.evaluator == "zero-cost" else "accuracy"
            object.__setattr__(self, "objectives", (quality, "flops"))
        object.__setattr__(self, "objectives", check_objectives(self.objectives))
        if self.sampler not in SAMPLERS:
            raise SearchError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.sampler_options is not None and not isinstance(self.sampler_options, dict):
            raise SearchError(f"sampler_options must be a dict of the sampler's keyword arguments, but got "
                              f"{self.sampler_options!r}")
        sampler_options(self.sampler, self.trials, self.sampler_options)  # refuses unknown options
        if self.evaluator not in EVALUATORS:
            raise SearchError(f"unknown evaluator {self.evaluator!r}; choose one of {', '.join(EVALUATORS)} (or pass "
                              "an Evaluator object or an evaluate function from Python)")
        self._check_quality()
        if self.evaluator == "table" and self.data is not None:
            raise SearchError(f"the table evaluator answers from NAS-Bench-Macro's CIFAR-10 results and trains "
                              f"nothing, but got data={self.data!r}; leave out --data (data=None)")
        if self.evaluator == "table" and self.fidelity != "none":
            raise SearchError(f"the table evaluator answers at full fidelity (50 epochs), so fidelity="
                              f"{self.fidelity!r} has nothing to halve; leave out --fidelity")
        if parse_screen(self.warm_start) is not None and self.data is None:
            raise SearchError(f"--warm-start {self.warm_start} scores networks on the search's training data, but "
                              "this search has none (the table evaluator or your own data); warm-start from a file "
                              "of architectures instead")
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
        for metric in budget_metrics():
            value = getattr(self, metric.budget_option, None)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise SearchError(f"--{metric.budget_option.replace('_', '-')} must be a positive number, but got "
                                  f"{value!r}")
        if self.data is not None and (not isinstance(self.data, str) or not self.data):
            raise SearchError(f"--data must be a dataset spec such as digits, but got {self.data!r}")
        if self.num_classes is not None and not (_positive(self.num_classes) and self.num_classes >= 2):
            raise SearchError(f"num_classes must be an integer >= 2, but got {self.num_classes!r}")
        self._check_fidelity()
        self._check_latency()
        size = self.input_size
        if size is not None and not (_positive(size) or (isinstance(size, (tuple, list)) and len(size) == 3
                                                         and all(map(_positive, size)))):
            raise SearchError(f"--input-size must be H (a square image) or C,H,W of positive integers, but got "
                              f"{size!r}")
        if self.devices is not None and not (isinstance(self.devices, (tuple, list)) and self.devices and
                                             all(isinstance(d, int) and d >= 0 for d in self.devices)):
            raise SearchError(f"--devices must list GPU numbers such as 0,1, but got {self.devices!r}")
        if self.val_subset is not None and not _positive(self.val_subset):
            raise SearchError(f"--val-subset must be a positive integer, but got {self.val_subset!r}")

    def _check_quality(self) -> None:
        """The first objective is what the evaluator returns: a zero-cost score for ``zero-cost``, else accuracy."""
        quality = self.objectives[0]
        if self.evaluator != "zero-cost":
            if quality != "accuracy":
                raise SearchError(f"the objective {quality} is a zero-cost score, which only --evaluator zero-cost "
                                  f"returns; pass --evaluator zero-cost, or put accuracy first in --objectives")
            return
        if quality == "accuracy":
            raise SearchError("--evaluator zero-cost scores untrained networks and returns no accuracy; put a "
                              "zero-cost score first in --objectives, e.g. naswot,flops (the default)")
        if self.data is None:
            raise SearchError("--evaluator zero-cost scores networks on the search's training images; pass --data")
        if self.fidelity != "none":
            raise SearchError(f"--evaluator zero-cost trains nothing, so fidelity={self.fidelity!r} has no epochs to "
                              "halve; leave out --fidelity")
        if self.sampler.startswith("nni"):
            raise SearchError(f"the NNI strategies scalarise objectives with fixed bounds, and a zero-cost score has "
                              f"none; with --evaluator zero-cost use an Optuna sampler (tpe, nsga2, gp, random), "
                              f"not {self.sampler}")

    def _check_latency(self) -> None:
        if self.latency_backend is not None and self.latency_backend not in BACKENDS:
            raise SearchError(f"unknown latency backend {self.latency_backend!r}; choose one of {', '.join(BACKENDS)}")
        if not _positive(self.latency_threads):
            raise SearchError(f"--latency-threads must be a positive integer, but got {self.latency_threads!r}")
        if self.uses_latency and self.latency_table is None and self.latency_backend is None:
            raise SearchError("latency (an objective or --max-latency) needs a latency table: pass --latency-table "
                              "FILE (bsnas latency-table build), or --latency-backend torch|onnxruntime to measure "
                              "blocks as the search meets them")
        if not self.uses_latency and (self.latency_table is not None or self.latency_backend is not None):
            raise SearchError("--latency-table/--latency-backend are set, but latency is neither an objective nor a "
                              "budget; add it to --objectives (accuracy,latency) or pass --max-latency")

    @property
    def uses_latency(self) -> bool:
        """Whether the search measures latency (an objective or a budget)."""
        return "latency" in self.objectives or self.max_latency is not None

    def _check_fidelity(self) -> None:
        if self.fidelity not in FIDELITIES:
            raise SearchError(f"--fidelity must be one of {', '.join(FIDELITIES)}, but got {self.fidelity!r}")
        if self.fidelity == "none":
            return
        if not _positive(self.min_epochs):
            raise SearchError(f"--min-epochs must be a positive integer, but got {self.min_epochs!r}")
        if self.max_epochs is not None and not _positive(self.max_epochs):
            raise SearchError(f"--max-epochs must be a positive integer, but got {self.max_epochs!r}")
        if self.top_epochs <= self.min_epochs:
            raise SearchError(f"--max-epochs must exceed --min-epochs {self.min_epochs}, but got {self.top_epochs}")
        if not (_positive(self.eta) and self.eta >= 2):
            raise SearchError(f"--eta must be an integer >= 2, but got {self.eta!r}")

    @property
    def budgets(self) -> dict[str, float]:
        """The hard budgets set, by metric name (``{"flops": 20_000_000}``)."""
        return {m.name: getattr(self, m.budget_option) for m in budget_metrics()
                if getattr(self, m.budget_option, None) is not None}

    @property
    def top_epochs(self) -> int:
        """Epochs of a full-fidelity trial: ``max_epochs`` with ASHA (default: the proxy's), else the proxy's."""
        return self.max_epochs if self.fidelity == "asha" and self.max_epochs is not None else self.proxy.epochs

    @property
    def rungs(self) -> tuple[int, ...]:
        """The epochs at which trials are judged (one rung, the proxy's epochs, without ASHA)."""
        if self.fidelity == "none":
            return (self.proxy.epochs,)
        return rungs(self.min_epochs, self.top_epochs, self.eta)

    @property
    def read_size(self) -> int:
        """The size image folders are read at (the deployment size): ``input_size``'s height, else 32."""
        size = self.input_size
        return 32 if size is None else (size if isinstance(size, int) else size[1])

    def for_worker(self, worker: int, gpus: int) -> SearchConfig:
        """This config for ``--jobs`` worker ``worker`` of a machine with ``gpus`` visible GPUs: on CUDA the
        workers go round robin over ``devices`` (default: every visible GPU)."""
        device = worker_device(self.device, self.devices, worker, gpus)
        return dataclasses.replace(self, proxy=dataclasses.replace(self.proxy, device=device))

    def training_proxy(self) -> ProxyConfig:
        """The recipe each trial trains with: the proxy's, its schedule over the full-fidelity epochs."""
        return dataclasses.replace(self.proxy, epochs=self.top_epochs)

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

    def cost_size(self, data: ProxyData) -> tuple[int, int, int]:
        """The input size budgets, costs and the front refer to: ``input_size``, else the data's native size."""
        c = data.input_size[0]
        size = self.input_size
        if size is None:
            return tuple(data.native_size or data.input_size)
        return (c, size, size) if isinstance(size, int) else tuple(size)


def load_search_data(spec: str, resolution: int | None, val_size: float | int, seed: int, device: str = "auto",
                     val_subset: int | None = None, read_size: int | None = None) -> ProxyData:
    """The data of a search (or of its baselines): the validation split (and its scored subset, when
    ``val_subset`` is given) depends only on these settings."""
    data = load_data(spec, resolution=resolution, val_size=val_size, seed=seed, device=resolve_device(device),
                     read_size=read_size)
    return data.with_val_subset(val_subset, seed)


def worker_device(device: str, devices: tuple[int, ...] | None, worker: int, gpus: int) -> str:
    """The device of ``--jobs`` worker ``worker``: ``cuda:<i>`` round robin over ``devices`` (or all ``gpus``)
    when training on CUDA, else ``device`` unchanged.

    >>> [worker_device("cuda", None, w, 2) for w in range(3)], worker_device("auto", (1, 3), 1, 4)
    (['cuda:0', 'cuda:1', 'cuda:0'], 'cuda:3')
    >>> worker_device("auto", None, 1, 0), worker_device("cpu", (0, 1), 1, 2)
    ('auto', 'cpu')
    """
    on_cuda = device == "cuda" or (device == "auto" and gpus > 0) or (device.startswith("cuda:") and devices)
    if not on_cuda or (not devices and gpus < 1):
        return device
    ids = devices or tuple(range(gpus))
    return f"cuda:{ids[worker % len(ids)]}"


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
