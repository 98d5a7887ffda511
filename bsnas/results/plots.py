"""Accuracy- (or zero-cost score-) against-cost plots of Pareto fronts: interactive HTML (plotly) or PNG (matplotlib).

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

#: Cost axes and their labels (FLOPs and params in millions, latency in ms).
AXES = {"flops": "MFLOPs", "params": "M params", "latency": "latency (ms)"}
COLOURS = {"regular": "#7f7f7f", "dsc": "#1f77b4", "bsconv_u": "#2ca02c", "bsconv_s": "#d62728"}


class PlotData(NamedTuple):
    study: str
    trials: pd.DataFrame  # trials_frame rows, trained only
    front: pd.DataFrame
    hypervolume: list[float]
    baselines: pd.DataFrame | None = None  # name, accuracy (or the quality), flops, params
    others: dict[str, pd.DataFrame] | None = None  # other studies' fronts
    quality: str = "accuracy"  # the y axis: the studies' first objective (accuracy or a zero-cost score)

    @property
    def y_label(self) -> str:
        return "validation accuracy" if self.quality == "accuracy" else f"{self.quality} (zero-cost score)"

    @property
    def x_label_hv(self) -> str:
        return "trained architectures" if self.quality == "accuracy" else "scored architectures"


def write_plot(data: PlotData, path: str | Path, x: str = "flops") -> Path:
    """Write ``path`` (``.html`` or ``.png``); ``x`` is ``flops``, ``params`` or ``latency`` (ms, from the
    study's latency table)."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".png"):
        raise BsnasError(f"--plot must end in .html or .png, but got {str(path)!r}")
    if x not in AXES:
        raise BsnasError(f"the x axis must be one of {', '.join(AXES)}, but got {x!r}")
    if x == "latency" and "latency" not in data.trials:
        raise BsnasError(f"study {data.study!r} measured no latency; --x latency needs a search with a latency "
                         "objective or budget (--objectives accuracy,latency, --max-latency)")
    path.parent.mkdir(parents=True, exist_ok=True)
    (_html if path.suffix.lower() == ".html" else _png)(data, path, x)
    return path


def _scale(df: pd.DataFrame, x: str):
    return df[x] if x == "latency" else df[x] / 1e6


def _floor(data: PlotData) -> float:
    """Lower y limit: just under the searched trials, so far-off baselines do not squash the front (for an
    unbounded score, a twentieth of the trials' range under them)."""
    q = data.quality
    acc = pd.concat([data.trials[q], data.front[q]])
    if not len(acc):
        return 0.0
    if q != "accuracy":
        return float(acc.min()) - 0.05 * (float(acc.max() - acc.min()) or 1.0)
    return max(0.0, float(acc.min()) - 0.05)


def _y_range(data: PlotData) -> tuple[float, float]:
    """The y axis: from just under the trials to 1 for accuracy; the trials' range with a margin for a score."""
    lo = _floor(data)
    if data.quality == "accuracy":
        return lo - 0.01, 1.0
    shown = [data.trials[data.quality], data.front[data.quality]]
    if data.baselines is not None and len(data.baselines):
        shown.append(data.baselines[data.quality])  # a score has no top: room for baselines above the trials
    hi = pd.concat(shown).max()
    return lo, float(hi) + (float(hi) - lo) * 0.05 + 1e-9


def _clip_baselines(data: PlotData) -> pd.DataFrame | None:
    if data.baselines is None or not len(data.baselines):
        return None
    b = data.baselines.copy()
    floor = _floor(data)
    q = data.quality
    below = b[q] < floor
    shown = (lambda a: f"acc {a:.2f}") if q == "accuracy" else (lambda a: f"{q} {a:.4g}")
    b["label"] = [n.removeprefix("cifar_") + (f" ({shown(a)}, below)" if low else "")
                  for n, a, low in zip(b["name"], b[q], below, strict=True)]
    b["shown"] = b[q].where(~below, floor)
    b = b.sort_values(["flops", "shown"]).reset_index(drop=True)
    b["key"] = [f"B{i + 1}" for i in range(len(b))]  # short marks on the plot, full names in the legend
    return b


def _x_range(values: pd.Series) -> tuple[float, float]:
    """Log-axis limits with a margin, so that no point or label touches the frame."""
    lo, hi = float(values.min()), float(values.max())
    lo, hi = (lo, hi) if hi > lo else (lo / 2, hi * 2)
    span = (hi / lo) ** 0.08
    return lo / span, hi * span


def _html(data: PlotData, path: Path, x: str) -> None:
    go = require("plotly.graph_objects", "plot", "--plot FILE.html")
    make_subplots = require("plotly.subplots", "plot", "--plot FILE.html").make_subplots

    label = AXES[x]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.68, 0.32],
                        subplot_titles=(f"{data.study}: {data.quality} vs {label}", "hypervolume over trials"))
    for op, colour in COLOURS.items():
        part = data.trials[data.trials.dominant == op]
        if len(part):
            fig.add_trace(go.Scatter(x=_scale(part, x), y=part[data.quality], mode="markers", name=f"mostly {op}",
                                     marker={"color": colour, "size": 8, "opacity": 0.7},
                                     text=[f"#{t} {m}<br>{a}"
                                           for t, m, a in zip(part.trial, part.mix, part.arch, strict=True)],
                                     hovertemplate="%{text}<br>%{y:.4f}, %{x:.3f} " + label), 1, 1)
    front = data.front.sort_values(x)
    fig.add_trace(go.Scatter(x=_scale(front, x), y=front[data.quality], mode="lines+markers", name="Pareto front",
                             line={"color": "black", "shape": "hv"}, marker={"size": 11, "symbol": "circle-open"},
                             text=front.arch, hovertemplate="%{text}<br>%{y:.4f}"), 1, 1)
    for name, other in (data.others or {}).items():
        other = other.sort_values(x)
        fig.add_trace(go.Scatter(x=_scale(other, x), y=other[data.quality], mode="lines+markers", name=f"front {name}",
                                 line={"shape": "hv", "dash": "dash"}, text=other.arch), 1, 1)
    b = _clip_baselines(data)
    if b is not None:
        spots = b[x].astype(str) + "/" + b.shown.astype(str)  # baselines drawn at one spot share one mark
        marks = [("/".join(b.key[spots == spot]) if spots.tolist().index(spot) == i else "")
                 for i, spot in enumerate(spots)]
        fig.add_trace(go.Scatter(x=_scale(b, x), y=b.shown, mode="markers+text", name="paper baselines",
                                 text=marks, textposition="top right", textfont={"size": 9},
                                 customdata=b.key + " " + b.label, hovertemplate="%{customdata}<br>%{y:.4f}",
                                 marker={"symbol": "diamond", "size": 10, "color": "#9467bd"}), 1, 1)
        key = "<br>".join(f"{k} {lab}" for k, lab in zip(b.key, b.label, strict=True))
        fig.add_annotation(text=key, xref="paper", yref="paper", x=0.0, y=-0.16, xanchor="left", yanchor="top",
                           align="left", showarrow=False, font={"size": 10})
    fig.add_trace(go.Scatter(x=list(range(1, len(data.hypervolume) + 1)), y=data.hypervolume, mode="lines",
                             name="hypervolume", line={"color": "black"}), 1, 2)
    fig.update_xaxes(title_text=label, type="log", row=1, col=1)
    fig.update_yaxes(title_text=data.y_label, range=list(_y_range(data)), row=1, col=1)
    fig.update_xaxes(title_text=data.x_label_hv, row=1, col=2)
    fig.update_yaxes(title_text="hypervolume (normalised)", row=1, col=2)
    extra = 0 if b is None else 15 * len(b)  # room for the baselines' key under the plot
    fig.update_layout(width=1200, height=520 + extra, margin={"b": 80 + extra}, template="plotly_white")
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def _png(data: PlotData, path: Path, x: str) -> None:
    matplotlib = require("matplotlib", "plot", "--plot FILE.png")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    label = AXES[x]
    fig, (ax, hv) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [2.2, 1]})
    for op, colour in COLOURS.items():
        part = data.trials[data.trials.dominant == op]
        if len(part):
            ax.scatter(_scale(part, x), part[data.quality], s=28, alpha=0.7, color=colour, label=f"mostly {op}")
    front = data.front.sort_values(x)
    ax.step(_scale(front, x), front[data.quality], where="post", color="black", lw=1.2)
    ax.scatter(_scale(front, x), front[data.quality], s=90, facecolors="none", edgecolors="black", label="Pareto front")
    for name, other in (data.others or {}).items():
        other = other.sort_values(x)
        ax.step(_scale(other, x), other[data.quality], where="post", ls="--", label=f"front {name}")
    shown = [_scale(f, x) for f in (data.trials, data.front, *(data.others or {}).values()) if len(f)]
    b = _clip_baselines(data)
    if b is not None:
        shown.append(_scale(b, x))
        ax.scatter(_scale(b, x), b.shown, marker="D", color="#9467bd")
        for i, row in b.iterrows():
            # alternate above and below, and stack marks that share a spot, so that no two overlap
            dy = (6 if i % 2 == 0 else -11) + 9 * sum(abs(b[x].iloc[:i] / row[x] - 1) < 0.12)
            spot = row[x] / 1e6 if x != "latency" else row[x]
            ax.annotate(row.key, (spot, row.shown), fontsize=7, xytext=(4, dy), textcoords="offset points",
                        color="#5b3a85")
            ax.scatter([], [], marker="D", color="#9467bd", label=f"{row.key} {row.label}")
    if shown:
        ax.set_xlim(*_x_range(pd.concat(shown)))
    ax.set_ylim(*_y_range(data))
    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    compact = ticker.FuncFormatter(lambda v, _: f"{v:.3g}")
    ax.xaxis.set_major_formatter(compact)
    if hi / lo < 100:  # under two decades, label 2s and 5s (and 3s) too: the majors alone may be 0 or 1 ticks
        ax.xaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 3.0, 5.0) if hi / lo < 20 else (2.0, 5.0)))
        ax.xaxis.set_minor_formatter(compact)
        ax.tick_params(axis="x", which="minor", labelsize=8)
    else:
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(f"{label} (log scale)")
    ax.set_ylabel(data.y_label)
    ax.set_title(f"{data.study}: {data.quality} vs {label}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # outside: covers nothing
    trials = range(1, len(data.hypervolume) + 1)
    hv.plot(trials, data.hypervolume, color="black", marker="o" if len(data.hypervolume) < 30 else None, ms=3)
    hv.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    hv.set_xlabel(data.x_label_hv)
    hv.set_ylabel("hypervolume (normalised)")
    hv.set_title("hypervolume over trials")
    hv.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
