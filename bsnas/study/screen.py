"""A zero-cost warm start: screen many random networks without training, and start the search from the best.

``--warm-start naswot:K`` draws K distinct random architectures of the space within the budgets, scores
each with a zero-cost score (:func:`bsnas.zero_cost_scores`, on the search's training data, at the
training resolution) and enqueues N of them by Pareto rank of (score, first cost objective): the
networks that no other screened network beats on both score and cost (FLOPs by default) first, then the
next rank (:func:`pareto_picks`). N is the sampler's own random start (:func:`screened_count`), so the
screened networks take the place of the random trials TPE and GP begin with and of NSGA-II's first
generation; they count toward ``--trials``. The rule was chosen on NAS-Bench-Macro, where NASWOT ranks
networks of equal cost far better than FLOPs do (``benchmarks/zero_cost_vs_table.py``): the best-scored
network of each of N FLOPs bands gave a start no better than random, because within a band NASWOT
prefers the band's dearer networks (``benchmarks/zero_cost_warmup.py``). This is the "warm-up" use of
zero-cost proxies (Abdelfattah et al., ICLR 2021, "Zero-Cost Proxies for Lightweight NAS").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import moocore
import numpy as np
import optuna

from bsnas.arch.codec import encode_arch
from bsnas.arch.spec import Arch
from bsnas.errors import SearchError
from bsnas.metrics import Frame, measure
from bsnas.samplers.factory import population, random_start
from bsnas.space.choices import params_of, random_archs
from bsnas.space.schema import SearchSpace
from bsnas.training.zero_cost import ZERO_COST_SCORES

__all__ = ["pareto_picks", "parse_screen", "screened_count", "zero_cost_warm_start"]

_PATTERN = re.compile(r"^([a-z_]+):(\d+)$")
#: The most networks a screen may score (NASWOT takes about 3 s per CIFAR network on one core).
MAX_SCREEN = 100_000


def parse_screen(source: str | None) -> tuple[str, int] | None:
    """``"naswot:200"`` → ``("naswot", 200)``; None for a warm start that is not a screen (baselines, a file).
    A known score with a bad count, or ``name:K`` naming no score, is a one-line error."""
    match = _PATTERN.match(source or "")
    if match is None:
        return None
    score, k = match.group(1), int(match.group(2))
    if score not in ZERO_COST_SCORES:
        raise SearchError(f"--warm-start {source!r} names no zero-cost score; write SCORE:K with SCORE one of "
                          f"{', '.join(ZERO_COST_SCORES)} (naswot is the one measured to help), e.g. naswot:200")
    if not 1 <= k <= MAX_SCREEN:
        raise SearchError(f"--warm-start {source!r}: K (networks to screen) must be between 1 and {MAX_SCREEN:,}, "
                          f"but got {k}")
    return score, k


def screened_count(sampler: str, trials: int) -> int:
    """How many screened networks a search starts with: the sampler's random start (NSGA-II: its first
    generation), never more than the search's trials."""
    n = population(trials) if sampler == "nsga2" else random_start(trials)
    return max(1, min(n, trials))


def pareto_picks(scores: Sequence[float], costs: Sequence[float], n: int) -> list[int]:
    """Indices of ``n`` networks by Pareto rank of (score, maximised; cost, minimised): the networks no other
    beats on both first, then the next rank, each rank cheapest first. With fewer networks, all of them."""
    scores, costs = np.asarray(scores, float), np.asarray(costs, float)
    if len(scores) != len(costs):
        raise SearchError(f"pareto_picks needs one cost per score, but got {len(scores)} scores and {len(costs)} "
                          "costs")
    if not len(scores):
        return []
    ranks = moocore.pareto_rank(np.column_stack([scores, costs]), maximise=[True, False])
    return [int(i) for i in np.lexsort((np.arange(len(costs)), costs, ranks))[:n]]


def zero_cost_warm_start(study: optuna.Study, space: SearchSpace, source: str, n: int,
                         score_of: Callable[[Arch], float], cost_size: tuple[int, int, int], num_classes: int,
                         budgets: dict[str, float], cost: str = "flops", seed: int = 0,
                         extras: dict | None = None) -> list[str]:
    """Screen the networks ``source`` (``SCORE:K``) asks for with ``score_of`` and enqueue the ``n`` picks
    (see the module docstring); return one note per pick and one summary line."""
    score, k = parse_screen(source)
    names = tuple(dict.fromkeys(("flops", "params", cost, *budgets)))
    pool: dict[str, tuple[Arch, dict]] = {}
    for arch in random_archs(space, k * 4, seed=seed):
        measured = measure(names, Frame(arch, cost_size, num_classes, extras))
        if all(measured[b] <= limit for b, limit in budgets.items()):
            pool.setdefault(encode_arch(arch), (arch, measured))
        if len(pool) == k:
            break
    if not pool:
        raise SearchError(f"--warm-start {source}: no random network of space {space.name!r} is within the budgets "
                          f"{budgets}; raise them or warm-start another way")
    texts = list(pool)
    values = [float(score_of(pool[t][0])) for t in texts]
    picks = pareto_picks(values, [pool[t][1][cost] for t in texts], n)
    notes = []
    for i in picks:
        arch, measured = pool[texts[i]]
        study.enqueue_trial(params_of(space, arch),
                            user_attrs={"source": "zero-cost", "warm_start": f"{score}-screen", score: values[i]})
        notes.append(f"warm start {score} pick {texts[i]}: enqueued ({measured['flops'] / 1e6:.2f} MFLOPs, "
                     f"{score} {values[i]:.4g})")
    notes.append(f"warm start {source}: scored {len(texts)} networks, enqueued {len(picks)}, the Pareto set of "
                 f"{score} against {cost} first")
    return notes
