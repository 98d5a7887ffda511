"""Accuracy-against-cost plots of Pareto fronts: interactive HTML (plotly) or PNG (matplotlib).

Both consume plain data from :mod:`bsnas.front`: every feasible trained
trial coloured by its dominant conv type, the front highlighted, optional
baselines and other studies' fronts, and the hypervolume over trials beside.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd

from bsnas.errors import BsnasError, require

__all__ = ["PlotData", "write_plot"]

COLOURS = {"regular": "#7f7f7f", "dsc": "#1f77b4", "bsconv_u": "#2ca02c", "bsconv_s": "#d62728"}


class PlotData(NamedTuple):
    study: str
    trials: pd.DataFrame  # trials_frame rows, trained only
    front: pd.DataFrame
    hypervolume: list[float]
    baselines: pd.DataFrame | None = None  # name, accuracy, flops, params
    others: dict[str, pd.DataFrame] | None = None  # other studies' fronts


def write_plot(data: PlotData, path: str | Path, x: str = "flops") -> Path:
    """Write ``path`` (``.html`` or ``.png``); ``x`` is ``flops`` or ``params``."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".png"):
        raise BsnasError(f"--plot must end in .html or .png, but got {str(path)!r}")
    if x not in ("flops", "params"):
        raise BsnasError(f"the x axis must be flops or params, but got {x!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    (_html if path.suffix.lower() == ".html" else _png)(data, path, x)
    return path


def _scale(df: pd.DataFrame, x: str):
    return df[x] / 1e6


def _floor(data: PlotData) -> float:
    """Lower accuracy limit: just under the searched trials, so far-off baselines do not squash the front."""
    acc = pd.concat([data.trials.accuracy, data.front.accuracy])
    return max(0.0, float(acc.min()) - 0.05) if len(acc) else 0.0


def _clip_baselines(data: PlotData) -> pd.DataFrame | None:
    if data.baselines is None or not len(data.baselines):
        return None
    b = data.baselines.copy()
    floor = _floor(data)
    below = b.accuracy < floor
    b["label"] = [n.removeprefix("cifar_") + (f" (acc {a:.2f}, below)" if low else "")
                  for n, a, low in zip(b["name"], b.accuracy, below, strict=True)]
    b["shown"] = b.accuracy.where(~below, floor)
    return b


def _html(data: PlotData, path: Path, x: str) -> None:
    go = require("plotly.graph_objects", "plot", "--plot FILE.html")
    make_subplots = require("plotly.subplots", "plot", "--plot FILE.html").make_subplots

    label = "MFLOPs" if x == "flops" else "M params"
    fig = make_subplots(rows=1, cols=2, column_widths=[0.68, 0.32],
                        subplot_titles=(f"{data.study}: accuracy vs {label}", "hypervolume over trials"))
    for op, colour in COLOURS.items():
        part = data.trials[data.trials.dominant == op]
        if len(part):
            fig.add_trace(go.Scatter(x=_scale(part, x), y=part.accuracy, mode="markers", name=f"mostly {op}",
                                     marker={"color": colour, "size": 8, "opacity": 0.7},
                                     text=[f"#{t} {m}<br>{a}"
                                           for t, m, a in zip(part.trial, part.mix, part.arch, strict=True)],
                                     hovertemplate="%{text}<br>acc %{y:.4f}, %{x:.3f} " + label), 1, 1)
    front = data.front.sort_values(x)
    fig.add_trace(go.Scatter(x=_scale(front, x), y=front.accuracy, mode="lines+markers", name="Pareto front",
                             line={"color": "black", "shape": "hv"}, marker={"size": 11, "symbol": "circle-open"},
                             text=front.arch, hovertemplate="%{text}<br>acc %{y:.4f}"), 1, 1)
    for name, other in (data.others or {}).items():
        other = other.sort_values(x)
        fig.add_trace(go.Scatter(x=_scale(other, x), y=other.accuracy, mode="lines+markers", name=f"front {name}",
                                 line={"shape": "hv", "dash": "dash"}, text=other.arch), 1, 1)
    b = _clip_baselines(data)
    if b is not None:
        fig.add_trace(go.Scatter(x=_scale(b, x), y=b.shown, mode="markers+text", name="paper baselines",
                                 text=b.label, textposition="top center", textfont={"size": 9},
                                 marker={"symbol": "diamond", "size": 10, "color": "#9467bd"}), 1, 1)
    fig.add_trace(go.Scatter(x=list(range(1, len(data.hypervolume) + 1)), y=data.hypervolume, mode="lines",
                             name="hypervolume", line={"color": "black"}), 1, 2)
    fig.update_xaxes(title_text=label, type="log", row=1, col=1)
    fig.update_yaxes(title_text="validation accuracy", range=[_floor(data) - 0.01, 1.0], row=1, col=1)
    fig.update_xaxes(title_text="trained architectures", row=1, col=2)
    fig.update_yaxes(title_text="hypervolume (normalised)", row=1, col=2)
    fig.update_layout(width=1200, height=520, template="plotly_white")
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def _png(data: PlotData, path: Path, x: str) -> None:
    matplotlib = require("matplotlib", "plot", "--plot FILE.png")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    label = "MFLOPs" if x == "flops" else "M params"
    fig, (ax, hv) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [2.1, 1]})
    for op, colour in COLOURS.items():
        part = data.trials[data.trials.dominant == op]
        if len(part):
            ax.scatter(_scale(part, x), part.accuracy, s=28, alpha=0.7, color=colour, label=f"mostly {op}")
    front = data.front.sort_values(x)
    ax.step(_scale(front, x), front.accuracy, where="post", color="black", lw=1.2)
    ax.scatter(_scale(front, x), front.accuracy, s=90, facecolors="none", edgecolors="black", label="Pareto front")
    for name, other in (data.others or {}).items():
        other = other.sort_values(x)
        ax.step(_scale(other, x), other.accuracy, where="post", ls="--", label=f"front {name}")
    b = _clip_baselines(data)
    if b is not None:
        ax.scatter(_scale(b, x), b.shown, marker="D", color="#9467bd", label="paper baselines")
        seen: dict[tuple, int] = {}
        for _, row in b.iterrows():
            spot = (row[x], row.shown)
            seen[spot] = seen.get(spot, -1) + 1  # stack labels of baselines drawn at the same point
            ax.annotate(row.label, (row[x] / 1e6, row.shown), fontsize=6, xytext=(3, 3 + 8 * seen[spot]),
                        textcoords="offset points")
    ax.set_ylim(_floor(data) - 0.005, 1.0)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(label)
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{data.study}: accuracy vs {label}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    hv.plot(range(1, len(data.hypervolume) + 1), data.hypervolume, color="black")
    hv.set_xlabel("trained architectures")
    hv.set_ylabel("hypervolume (normalised)")
    hv.set_title("hypervolume over trials")
    hv.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
