"""The Pareto front of a study, as plain data (a pandas DataFrame)."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from bsnas.codec import OP_CODES

__all__ = ["conv_mix_label", "pareto_front", "trials_frame"]

COLUMNS = ["trial", "accuracy", "mflops", "mparams", "mix", "status", "arch"]


def conv_mix_label(mix: dict[str, int]) -> str:
    """``{"bsconv_u": 9, "dsc": 3, "regular": 1}`` → ``"bsu 9 / dsc 3 / reg 1"``."""
    items = sorted(((n, op) for op, n in (mix or {}).items() if n), key=lambda x: (-x[0], x[1]))
    return " / ".join(f"{OP_CODES.get(op, op)} {n}" for n, op in items)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """Every completed trial with its stored attributes, one row each."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        a = t.user_attrs
        if "arch" not in a:
            continue
        rows.append({"trial": t.number, "accuracy": a.get("accuracy", 0.0) or 0.0, "flops": a["flops"],
                     "params": a["params"], "mflops": a["flops"] / 1e6, "mparams": a["params"] / 1e6,
                     "mix": conv_mix_label(a.get("conv_mix", {})), "status": a.get("status"), "arch": a["arch"]})
    return pd.DataFrame(rows, columns=[*COLUMNS, "flops", "params"])


def _non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask of rows no other row dominates (all columns minimised)."""
    keep = np.ones(len(points), dtype=bool)
    for i, p in enumerate(points):
        dominated = np.all(points <= p, axis=1) & np.any(points < p, axis=1)
        keep[i] = not dominated.any()
    return keep


def pareto_front(study: optuna.Study, objectives: list[str] | None = None) -> pd.DataFrame:
    """Feasible, evaluated trials that no other dominates (max accuracy, min FLOPs/params), by FLOPs.

    Reused duplicates are dropped: each architecture appears once, under the trial that trained it.
    """
    objectives = objectives or study.metric_names or ["accuracy", "flops"]
    df = trials_frame(study)
    df = df[df.status == "trained"].drop_duplicates("arch")
    if df.empty:
        return df[COLUMNS].reset_index(drop=True)
    points = np.column_stack([-df.accuracy.to_numpy(dtype=float)] + [df[o].to_numpy(dtype=float)
                                                                     for o in objectives[1:]])
    front = df[_non_dominated(points)].sort_values(["flops", "accuracy"], ascending=[True, False])
    return front[COLUMNS].reset_index(drop=True)
