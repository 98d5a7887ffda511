"""The Pareto front of a study, as plain data (a pandas DataFrame)."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from bsnas.arch.names import OP_CODES
from bsnas.evaluators.successive_halving import rung_key
from bsnas.metrics import get_metric, normalised, quality_metrics
from bsnas.status import Status, status_of

__all__ = ["conv_mix_label", "cost_scale", "dominant_op", "hypervolume", "hypervolume_history",
           "normalised_hypervolume", "pareto_front", "quality_of", "trials_frame"]

COLUMNS = ["trial", "accuracy", "mflops", "mparams", "mix", "status", "arch"]


def quality_of(study: optuna.Study) -> str:
    """The study's quality, its first objective: ``accuracy``, or the zero-cost score it maximised
    (``--evaluator zero-cost``). Its column replaces ``accuracy`` in the frames below."""
    names = study.metric_names or []
    return names[0] if names and names[0] in quality_metrics() else "accuracy"


def conv_mix_label(mix: dict[str, int]) -> str:
    """``{"bsconv_u": 9, "dsc": 3, "regular": 1}`` → ``"bsu 9 / dsc 3 / reg 1"``."""
    items = sorted(((n, op) for op, n in (mix or {}).items() if n), key=lambda x: (-x[0], x[1]))
    return " / ".join(f"{OP_CODES.get(op, op)} {n}" for n, op in items)


def dominant_op(mix: dict[str, int]) -> str:
    """The conv type used by most blocks (ties go to the later of regular, dsc, bsconv_u, bsconv_s)."""
    order = list(OP_CODES)
    return max(order, key=lambda op: ((mix or {}).get(op, 0), order.index(op)))


#: The statuses of finished trials that hold a measured architecture (a row of :func:`trials_frame`).
_ROWS = (Status.TRAINED, Status.REUSED, Status.INFEASIBLE, Status.STOPPED, Status.REUSED_STOPPED)


def _extra_objectives(study: optuna.Study) -> list[str]:
    """Objectives beyond accuracy, FLOPs and params, and latency wherever a study measures it (a budget)."""
    extra = [o for o in (study.metric_names or [])[1:] if o not in ("flops", "params")]
    if study.user_attrs.get("latency_fingerprint") and "latency" not in extra:
        extra.append("latency")
    return extra


def _columns(extra: list[str], quality: str = "accuracy") -> list[str]:
    return [COLUMNS[0], quality, *COLUMNS[2:4], *extra, *COLUMNS[4:]]


def trials_frame(study: optuna.Study, rung: int | None = None) -> pd.DataFrame:
    """Every finished trial with a measured architecture (trained, reused, over budget, or stopped by
    successive halving), one row each, with its status.

    With ``rung`` (epochs of a successive-halving rung), only the trials that reached it, with their
    accuracy there. The quality column is named by :func:`quality_of` (``accuracy`` or a zero-cost score).
    """
    rows, extra, quality = [], _extra_objectives(study), quality_of(study)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        a, status = t.user_attrs, status_of(t)
        if "arch" not in a or status not in _ROWS or (rung is not None and rung_key(rung) not in a):
            continue
        value = a.get(quality, get_metric(quality).worst) if rung is None else a[rung_key(rung)]
        rows.append({"trial": t.number, quality: value or 0.0, "flops": a["flops"],
                     "params": a["params"], "mflops": a["flops"] / 1e6, "mparams": a["params"] / 1e6,
                     "mix": conv_mix_label(a.get("conv_mix", {})), "status": status.value, "arch": a["arch"],
                     "dominant": dominant_op(a.get("conv_mix", {})), **{o: a.get(o) for o in extra}})
    return pd.DataFrame(rows, columns=[*_columns(extra, quality), "flops", "params", "dominant"])


def pareto_front(study: optuna.Study, objectives: list[str] | None = None, rung: int | None = None) -> pd.DataFrame:
    """Feasible, evaluated trials that no other dominates (max accuracy, min FLOPs/params), by FLOPs.

    Reused duplicates are dropped: each architecture appears once, under the trial that trained it. With
    successive halving the front is of the trials trained to full fidelity, or with ``rung`` of all that
    reached that rung, at their accuracy there.
    """
    import moocore

    objectives = objectives or study.metric_names or ["accuracy", "flops"]
    df = trials_frame(study, rung)
    keep = [s.value for s in Status if (s.on_front if rung is None else s.has_result)]
    df = df[df.status.isin(keep)].drop_duplicates("arch")
    quality = quality_of(study)
    columns = [*_columns(_extra_objectives(study), quality), "flops", "params"]
    if df.empty:
        return df[columns].reset_index(drop=True)
    points = np.column_stack([df[o].to_numpy(dtype=float) * (-1.0 if get_metric(o).direction == "maximize" else 1.0)
                              for o in objectives])
    front = df[moocore.is_nondominated(points, keep_weakly=True)].sort_values(["flops", quality],
                                                                              ascending=[True, False])
    return front[columns].reset_index(drop=True)


def cost_scale(study: optuna.Study, df: pd.DataFrame | None = None) -> dict:
    """The space's largest value of each cost (FLOPs, params, ...: stored at search start), used to
    normalise them. Without it, the largest value among the trials (``df``, read from the study if not
    given). An unbounded quality (a zero-cost score) gets the (lowest, highest) value its evaluated
    trials reached."""
    stored = study.user_attrs.get("space_max") or {}
    df = trials_frame(study) if df is None else df
    costs = dict.fromkeys(("flops", "params", *_extra_objectives(study)))
    scale = {o: float(stored.get(o) or (df[o].max() if len(df) and o in df else 1.0) or 1.0) for o in costs}
    quality = quality_of(study)
    if get_metric(quality).bounds is None:
        seen = df[df.status == Status.TRAINED.value][quality] if len(df) else pd.Series(dtype=float)
        scale[quality] = (float(seen.min()), float(seen.max())) if len(seen) else (0.0, 1.0)
    return scale


def _trained_points(study: optuna.Study, objectives: list[str] | None) -> np.ndarray:
    objectives = objectives or study.metric_names or ["accuracy", "flops"]
    everything = trials_frame(study)
    df = everything[everything.status == Status.TRAINED.value].sort_values("trial")
    points = normalised({o: df[o].to_numpy(dtype=float) for o in objectives}, objectives,
                        cost_scale(study, everything))
    return points.reshape(len(df), len(objectives))


def normalised_hypervolume(points: np.ndarray) -> float:
    """Hypervolume of rows of minimised objectives in [0, 1] against the reference point (1, ..., 1)."""
    import moocore

    inside = points[np.all(points < 1.0, axis=1)]
    return float(moocore.hypervolume(inside, ref=np.ones(points.shape[1]))) if len(inside) else 0.0


def hypervolume(study: optuna.Study, objectives: list[str] | None = None) -> float:
    """Hypervolume of the front in normalised objectives, computed by ``moocore``.

    Each objective is mapped to [0, 1] and minimised: error ``1 - accuracy``,
    ``flops / max_flops`` and ``params / max_params``, where the maxima are the
    search space's largest architecture at the data's input size. The
    reference point is ``(1, 1[, 1])``: 0 means nothing found, 1 a perfect
    network at zero cost. A zero-cost score is mapped by the range the study's
    evaluated trials span (its best 0, its worst 1), so that hypervolume is
    relative to the study and compares the study's own progress, not studies.
    """
    return normalised_hypervolume(_trained_points(study, objectives))


def hypervolume_history(study: optuna.Study, objectives: list[str] | None = None) -> list[float]:
    """The hypervolume after each trained trial, in trial order."""
    points = _trained_points(study, objectives)
    return [normalised_hypervolume(points[:i]) for i in range(1, len(points) + 1)]
