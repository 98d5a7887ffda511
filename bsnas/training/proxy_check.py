"""Is the proxy faithful? Rank correlation between a cheap proxy and a longer reference run."""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import NamedTuple

import pandas as pd

from bsnas.arch.codec import encode_arch
from bsnas.arch.cost import count
from bsnas.arch.spec import Arch
from bsnas.data.split import load_data
from bsnas.errors import BsnasError
from bsnas.training.config import ProxyConfig
from bsnas.training.proxy import train_proxy

__all__ = ["Budget", "ProxyCheck", "compare", "measure", "parse_budget", "proxy_check"]


class Budget(NamedTuple):
    """One training budget: a resolution (None: native) and a proxy config."""

    resolution: int | None
    config: ProxyConfig


class ProxyCheck(NamedTuple):
    table: pd.DataFrame  # one row per architecture
    spearman: float
    kendall: float
    time_ratio: float  # proxy wall time / reference wall time
    flop_ratio: float  # proxy training FLOPs / reference training FLOPs


_KNOBS = {"epochs": int, "subset": int, "resolution": int, "batch_size": int, "seed": int, "lr": float,
          "optimizer": str, "schedule": str, "label_smoothing": float, "warmup": float}


def parse_budget(text: str, base: ProxyConfig | None = None) -> Budget:
    """``"epochs=2,subset=5000,resolution=16"`` to a :class:`Budget`."""
    values: dict = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key not in _KNOBS:
            raise BsnasError(f"budget item {item!r} in {text!r} must be KEY=VALUE with KEY one of "
                             f"{', '.join(_KNOBS)}")
        try:
            values[key] = _KNOBS[key](raw)
        except ValueError:
            raise BsnasError(f"budget item {item!r}: {raw!r} is not a valid {_KNOBS[key].__name__}") from None
    resolution = values.pop("resolution", None)
    return Budget(resolution, dataclasses.replace(base or ProxyConfig(), **values))


def _train_images(config: ProxyConfig, available: int) -> int:
    n = min(config.subset or available, available)
    batch = min(config.batch_size, n)
    return (n // batch) * batch * config.epochs


def measure(archs: list[Arch], spec: str, budget: Budget, val_size: float | int = 0.2, seed: int = 0,
            progress: bool = False) -> pd.DataFrame:
    """Train every architecture at ``budget``: one row each with acc, seconds and training FLOPs.

    The validation split depends only on ``spec``, ``val_size`` and ``seed``, so
    every budget is scored on the same images.
    """
    data = load_data(spec, resolution=budget.resolution, val_size=val_size, seed=seed)
    flops_per_image = lambda arch: 3 * count(arch, data.input_size, data.num_classes).flops  # noqa: E731
    rows = []
    for i, arch in enumerate(archs):
        start = time.perf_counter()
        result = train_proxy(arch, data, budget.config)
        rows.append({"arch": encode_arch(arch), "acc": result.val_acc, "seconds": time.perf_counter() - start,
                     "train_flops": flops_per_image(arch) * _train_images(budget.config, len(data.train_y))})
        if progress:
            print(f"[{i + 1}/{len(archs)}] acc {result.val_acc:.4f}  {rows[-1]['seconds']:.1f}s  "
                  f"{rows[-1]['arch']}", flush=True)
    return pd.DataFrame(rows)


def compare(proxy: pd.DataFrame, reference: pd.DataFrame) -> ProxyCheck:
    """Rank correlations and cost ratios of two :func:`measure` tables over the same architectures."""
    from scipy.stats import kendalltau, spearmanr

    table = proxy.add_prefix("proxy_").rename(columns={"proxy_arch": "arch"}).merge(
        reference.add_prefix("ref_").rename(columns={"ref_arch": "arch"}), on="arch")
    with warnings.catch_warnings():  # a constant column gives NaN, reported as "undefined"
        warnings.simplefilter("ignore")
        spearman = float(spearmanr(table.proxy_acc, table.ref_acc).statistic)
        kendall = float(kendalltau(table.proxy_acc, table.ref_acc).statistic)
    return ProxyCheck(table, spearman, kendall, table.proxy_seconds.sum() / table.ref_seconds.sum(),
                      table.proxy_train_flops.sum() / table.ref_train_flops.sum())


def proxy_check(archs: list[Arch], spec: str, proxy: Budget, reference: Budget, val_size: float | int = 0.2,
                seed: int = 0, progress: bool = False) -> ProxyCheck:
    """Train every architecture at both budgets on the same validation split and compare the rankings."""
    if len(archs) < 3:
        raise BsnasError(f"a rank correlation needs at least 3 architectures, but got {len(archs)}")
    return compare(measure(archs, spec, proxy, val_size, seed, progress),
                   measure(archs, spec, reference, val_size, seed, progress))
