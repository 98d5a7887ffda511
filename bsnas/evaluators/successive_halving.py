"""The rules of multi-objective asynchronous successive halving (MO-ASHA, stopping variant).

Optuna's pruners refuse multi-objective studies, so bsnas keeps the rung
logic itself. With ``--fidelity asha --min-epochs 1 --max-epochs 9
--eta 3`` a trial trains with a learning-rate schedule defined over the
maximum budget (9 epochs) and stops to be judged at the rungs 1, 3 and 9
epochs (:func:`rungs`). At each rung it records its validation accuracy
(user attribute ``acc_e<epochs>``) and goes on only if it ranks in the top
1/eta of all trials that reached that rung so far (:func:`is_promoted`):
non-dominated sorting on (error, cost), ties within a front broken by the
hypervolume contribution, both from ``moocore``. A trial not promoted ends
with ``status=stopped`` (state PRUNED) and its last rung's accuracy
(:class:`bsnas.evaluators.asha.AshaEvaluator` trains it). Because the schedule
is the maximum budget's, a promoted trial simply trains on from where it
stopped, and one that reaches the top rung has trained exactly as a
full-fidelity trial would have.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FIDELITIES", "is_promoted", "promotion_order", "rung_key", "rungs"]

FIDELITIES = ("none", "asha")


def rungs(min_epochs: int, max_epochs: int, eta: int) -> tuple[int, ...]:
    """The epochs at which a trial is judged: ``min_epochs * eta**k`` below ``max_epochs``, then ``max_epochs``.

    >>> rungs(1, 9, 3), rungs(1, 4, 2), rungs(2, 10, 3)
    ((1, 3, 9), (1, 2, 4), (2, 6, 10))
    """
    out, epochs = [], min_epochs
    while epochs < max_epochs:
        out.append(epochs)
        epochs *= eta
    return (*out, max_epochs)


def rung_key(epochs: int) -> str:
    """The user attribute holding a trial's validation accuracy at the rung of ``epochs``."""
    return f"acc_e{epochs}"


def promotion_order(points: np.ndarray) -> np.ndarray:
    """Indices of ``points`` (rows of minimised objectives in [0, 1]), best first: Pareto rank, then the
    hypervolume contribution within the rank, larger first."""
    import moocore

    points = np.asarray(points, dtype=float)
    rank = moocore.pareto_rank(points)
    contribution = np.zeros(len(points))
    ref = np.full(points.shape[1], 1.1)
    for r in np.unique(rank):
        members = np.flatnonzero(rank == r)
        contribution[members] = moocore.hv_contributions(points[members], ref=ref)
    return np.lexsort((np.arange(len(points)), -contribution, rank))


def is_promoted(points: np.ndarray, mine: int, eta: int) -> bool:
    """Whether row ``mine`` is among the top ``ceil(n / eta)`` of the ``n`` trials that reached the rung."""
    top = math.ceil(len(points) / eta)
    return mine in promotion_order(points)[:top]
