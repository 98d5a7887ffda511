"""The BSConv paper's intra-kernel correlation analysis, for any PyTorch model.

Haase and Amthor motivate blueprint separable convolutions by looking inside
trained regular convolutions: a filter (one output channel) of a k×k conv with
M input channels holds M kernels of k×k, and those kernels turn out to be
strongly correlated, close to scaled copies of one "blueprint". This module
measures that, per filter:

* **PCA share.** The M kernels are M samples in R^(k·k). They are centred (the
  mean kernel is subtracted, as PCA does) and decomposed by SVD; ``pc1`` is the
  share of their variance along the first principal component, ``pc12`` along
  the first two. If the variance were spread evenly over all k·k directions,
  ``pc1`` would be 1/(k·k); a filter made of scaled copies of one kernel has 1.
* **Blueprint fit.** The best approximation of the (uncentred) M×(k·k) matrix W
  by "one k×k blueprint × one weight per input channel", the structure BSConv-U
  represents, is its rank-1 truncated SVD W₁ (Eckart–Young).
  ``blueprint_error`` is ``‖W − W₁‖_F / ‖W‖_F``: 0 for an exact blueprint.

Which convs are analysed: every ``nn.Conv2d`` with more than one weight per
kernel (k×k, k > 1), ``groups == 1`` and at least two input channels. The rest
are listed in :attr:`KernelStats.skipped` with the reason: ``1x1 kernel``,
``depthwise`` (``groups == in_channels``: a filter holds a single kernel, so
there is nothing to compare across input channels; the depthwise parts of
DSC, BSConv-U and BSConv-S layers are all of this kind), ``grouped`` (other
``groups > 1``), ``one input channel`` (e.g. the stem on grayscale images).

A filter whose kernels are all equal (no variance) or all zero gets NaN for
the affected numbers; it is counted as ``degenerate`` and left out of the
means and medians.

Summaries for the whole model (:attr:`KernelStats.summary`):

* ``*_mean``, ``*_median``: over all analysed filters, each filter counting once;
* ``*_weighted``: over all filters, each weighted by its number of weights
  (M·k·k), so every weight of the analysed convs counts once;
* ``blueprint_error_total``: ``sqrt(Σ‖W − W₁‖² / Σ‖W‖²)`` over all filters,
  the relative error of replacing every analysed filter by its best blueprint.

The control is the same architecture at initialisation (:func:`init_control`):
the bsnas initialisation draws i.i.d. Gaussian weights, so it shows what the
numbers are for the same M and k when no structure has been learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from bsnas.arch.record import ArchRecord
from bsnas.arch.spec import Arch
from bsnas.errors import BsnasError, require
from bsnas.nn.model import build_model

__all__ = ["KernelStats", "compare_layers", "filter_stats", "init_control", "initial_model", "kernel_stats",
           "plot_kernel_stats"]

LAYER_COLUMNS = ["layer", "kernel", "in_channels", "out_channels", "pc1_mean", "pc1_median", "pc12_mean",
                 "pc12_median", "blueprint_error_mean", "blueprint_error_median", "degenerate"]
FILTER_COLUMNS = ["layer", "filter", "pc1", "pc12", "blueprint_error"]
SKIPPED_COLUMNS = ["layer", "shape", "groups", "reason"]


@dataclass(frozen=True)
class KernelStats:
    """The analysis of one model, as plain data.

    ``layers``: one row per analysed conv (:data:`LAYER_COLUMNS`); ``filters``: one row per filter
    (:data:`FILTER_COLUMNS`); ``skipped``: every other ``nn.Conv2d`` with its reason
    (:data:`SKIPPED_COLUMNS`); ``summary``: the model-wide numbers described in the module docstring.
    """

    layers: pd.DataFrame
    filters: pd.DataFrame
    skipped: pd.DataFrame
    summary: dict[str, float | int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes ``None``; per-filter rows are left out (see ``filters``)."""
        return {"summary": _clean(self.summary), "layers": _records(self.layers),
                "skipped": _records(self.skipped)}


def filter_stats(weight: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pc1, pc12, blueprint_error)``, one value per filter, of a conv weight ``(out, M, kh, kw)``.

    Computed in float64. NaN where a filter's kernels have no variance (pc1, pc12) or all are zero
    (blueprint_error).
    """
    if weight.dim() != 4 or weight.shape[1] < 2 or weight.shape[2] * weight.shape[3] < 2:
        raise BsnasError(f"filter_stats needs a conv weight (out, M, kh, kw) with M >= 2 kernels of more than one "
                         f"weight, but got shape {tuple(weight.shape)}")
    w = weight.detach().to("cpu", torch.float64).flatten(2)  # (filters, M kernels, k·k)
    variance = torch.linalg.svdvals(w - w.mean(dim=1, keepdim=True)).square()
    total = variance.sum(dim=1)
    pc1 = variance[:, 0] / total
    pc12 = variance[:, :2].sum(dim=1) / total
    energy = torch.linalg.svdvals(w).square()  # squared singular values of the uncentred filter
    error = (energy[:, 1:].sum(dim=1) / energy.sum(dim=1)).sqrt()  # Eckart–Young: the tail is the rank-1 residual
    return pc1.numpy(), pc12.numpy(), error.numpy()


def _skip_reason(conv: nn.Conv2d) -> str | None:
    if isinstance(conv.weight, nn.parameter.UninitializedParameter):
        return "uninitialised (lazy)"
    kh, kw = conv.kernel_size
    if kh * kw == 1:
        return "1x1 kernel"
    if conv.groups > 1:
        return "depthwise" if conv.groups == conv.in_channels else f"grouped (groups={conv.groups})"
    if conv.in_channels < 2:
        return "one input channel"
    return None


def kernel_stats(model: nn.Module) -> KernelStats:
    """Intra-kernel correlation of every k×k, ``groups == 1`` conv of ``model`` (any ``nn.Module``).

    See the module docstring for what is measured, which convs are skipped and how the summary weighs
    filters. The model is only read.
    """
    if not isinstance(model, nn.Module):
        raise BsnasError(f"kernel_stats needs a torch.nn.Module, but got {type(model).__name__}; "
                         "build one with bsnas.create_model(path, weights)")
    layers, filters, skipped = [], [], []
    for name, conv in model.named_modules():
        if not isinstance(conv, nn.Conv2d):
            continue
        name = name or "(model)"
        reason = _skip_reason(conv)
        if reason is not None:
            shape = "x".join(map(str, conv.weight.shape)) if reason != "uninitialised (lazy)" else "?"
            skipped.append({"layer": name, "shape": shape, "groups": conv.groups, "reason": reason})
            continue
        pc1, pc12, error = filter_stats(conv.weight)
        kh, kw = conv.kernel_size
        filters.append(pd.DataFrame({"layer": name, "filter": np.arange(len(pc1)), "pc1": pc1, "pc12": pc12,
                                     "blueprint_error": error, "kernels": conv.in_channels,
                                     "weights": conv.in_channels * kh * kw, "energy": _energy(conv.weight)}))
        layers.append({"layer": name, "kernel": f"{kh}x{kw}", "in_channels": conv.in_channels,
                       "out_channels": conv.out_channels, **_centre(pc1, "pc1"), **_centre(pc12, "pc12"),
                       **_centre(error, "blueprint_error"), "degenerate": int(np.isnan(pc1).sum())})
    per_filter = pd.concat(filters, ignore_index=True) if filters else pd.DataFrame(
        columns=[*FILTER_COLUMNS, "kernels", "weights", "energy"])
    return KernelStats(pd.DataFrame(layers, columns=LAYER_COLUMNS), per_filter[FILTER_COLUMNS],
                       pd.DataFrame(skipped, columns=SKIPPED_COLUMNS), _summary(per_filter, len(layers), len(skipped)))


def _energy(weight: torch.Tensor) -> np.ndarray:
    """‖W‖²_F of each filter."""
    return weight.detach().to("cpu", torch.float64).flatten(1).square().sum(dim=1).numpy()


def _centre(values: np.ndarray, key: str) -> dict[str, float]:
    finite = values[~np.isnan(values)]
    if not len(finite):
        return {f"{key}_mean": math.nan, f"{key}_median": math.nan}
    return {f"{key}_mean": float(finite.mean()), f"{key}_median": float(np.median(finite))}


def _weighted(df: pd.DataFrame, key: str) -> float:
    ok = df[key].notna()
    weights = df.weights[ok].to_numpy(dtype=float)
    return float(np.average(df[key][ok].to_numpy(dtype=float), weights=weights)) if weights.sum() else math.nan


def _summary(df: pd.DataFrame, layers: int, skipped: int) -> dict[str, float | int]:
    summary: dict[str, float | int] = {"layers": layers, "filters": len(df), "kernels": int(df.kernels.sum()),
                                       "skipped": skipped, "degenerate": int(df.pc1.isna().sum())}
    for key in ("pc1", "pc12", "blueprint_error"):
        summary.update(_centre(df[key].to_numpy(dtype=float), key))
        summary[f"{key}_weighted"] = _weighted(df, key)
    ok = df.blueprint_error.notna()
    energy = df.energy[ok].to_numpy(dtype=float)
    residual = (df.blueprint_error[ok].to_numpy(dtype=float) ** 2 * energy).sum()
    summary["blueprint_error_total"] = float(math.sqrt(residual / energy.sum())) if energy.sum() else math.nan
    return summary


def initial_model(source: nn.Module | ArchRecord | Arch | str | Path, seed: int = 0) -> nn.Module:
    """A freshly initialised copy of ``source``, seeded: a bsnas model (it has ``.arch``), or anything
    :func:`bsnas.as_record` reads (an architecture, a record, a record file or a ``bsnas train`` folder).

    The global torch random state is left as it was.
    """
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        raise BsnasError(f"seed must be a non-negative integer, but got {seed!r}; pass 0 or larger")
    if isinstance(source, nn.Module):
        arch = getattr(source, "arch", None)
        if not isinstance(arch, Arch):
            raise BsnasError(f"the init control needs a bsnas model (one with .arch, from bsnas.create_model) or an "
                             f"architecture, but got a {type(source).__name__} without one; initialise a copy of "
                             "your model yourself and pass it to kernel_stats")
        first = next(m for m in source.modules() if isinstance(m, nn.Conv2d))  # the stem's first conv sees the input
        classifier = getattr(source, "classifier", None)
        classes = classifier.out_features if isinstance(classifier, nn.Linear) else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_model(arch, classes, first.in_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(source)


def init_control(source: nn.Module | ArchRecord | Arch | str | Path, seed: int = 0) -> KernelStats:
    """:func:`kernel_stats` of :func:`initial_model`: the same architecture before any training."""
    return kernel_stats(initial_model(source, seed))


def compare_layers(trained: KernelStats, init: KernelStats) -> pd.DataFrame:
    """The trained model's per-layer table with the init control's means beside it (``init_*`` columns)."""
    keep = ["layer", "pc1_mean", "pc12_mean", "blueprint_error_mean"]
    other = init.layers[keep].rename(columns={k: f"init_{k}" for k in keep[1:]})
    return trained.layers.merge(other, on="layer", how="left")


def plot_kernel_stats(trained: KernelStats, init: KernelStats | None, path: str | Path) -> Path:
    """A PNG: first-component variance share (top) and blueprint error (bottom) per layer, trained against
    initialisation, with the even share 1/(k·k) as reference."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise BsnasError(f"the kernel plot is a PNG, so its file must end in .png, but got {str(path)!r}; "
                         "name it e.g. kernels.png")
    if not len(trained.layers):
        raise BsnasError("nothing to plot: the model has no k×k conv with groups == 1 and 2 or more input channels")
    matplotlib = require("matplotlib", "plot", "--plot FILE.png")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = compare_layers(trained, init) if init is not None else trained.layers
    x = np.arange(len(df))
    even = [1.0 / (int(h) * int(w)) for h, w in (k.split("x") for k in df.kernel)]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(df) + 2), 7.0), sharex=True)
    top.plot(x, df.pc1_mean, "o-", color="#2ca02c", label="trained (mean over filters)")
    top.plot(x, df.pc1_median, "x", color="#2ca02c", label="trained (median)")
    if init is not None:
        top.plot(x, df.init_pc1_mean, "s--", color="#7f7f7f", label="initialisation (mean)")
    top.hlines(even, x - 0.4, x + 0.4, color="black", lw=1.0, label="even share 1/(k·k)")
    top.set_ylim(0, 1.02)
    top.set_ylabel("variance share of PC 1")
    top.set_title("intra-kernel correlation per layer")
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    bottom.plot(x, df.blueprint_error_mean, "o-", color="#1f77b4", label="trained (mean)")
    if init is not None:
        bottom.plot(x, df.init_blueprint_error_mean, "s--", color="#7f7f7f", label="initialisation (mean)")
    bottom.set_ylim(0, 1.02)
    bottom.set_ylabel("blueprint error ‖W−W₁‖/‖W‖")
    bottom.set_xticks(x, [f"{n} ({k})" for n, k in zip(df.layer, df.kernel, strict=True)], rotation=60,
                      ha="right", fontsize=7)
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(row) for row in df.to_dict(orient="records")]
