"""Warm start: known designs as the first trials of a search.

``--warm-start baselines`` takes the paper's model families, ``--warm-start
FILE`` a file of architecture strings, record paths or baseline names (one
per line, ``#`` comments). Each that the space can express
(:func:`bsnas.space.choices.params_of`) and the budget allows is enqueued,
in order, with ``source=warm-start``; they count toward ``--trials``. It
happens once per study, under the storage lock, so a resumed or a second
process does not enqueue them again. ``--warm-start naswot:K`` screens K random
networks by a zero-cost score instead (:mod:`bsnas.study.screen`).
"""

from __future__ import annotations

from pathlib import Path

import optuna

from bsnas.arch.baselines import list_baselines
from bsnas.arch.codec import encode_arch
from bsnas.arch.resolve import as_record
from bsnas.data.split import ProxyData
from bsnas.errors import BsnasError, SpaceError
from bsnas.metrics import Frame, measure
from bsnas.space.choices import params_of
from bsnas.space.schema import SearchSpace
from bsnas.study.screen import parse_screen, zero_cost_warm_start
from bsnas.training.zero_cost import zero_cost_scores

__all__ = ["warm_start"]

DONE = "warm_start_done"


def _candidates(source: str) -> list[str]:
    if source == "baselines":
        return list_baselines()
    path = Path(source)
    if not path.is_file():
        raise BsnasError(f"--warm-start must be 'baselines', a file of architectures or SCORE:K (e.g. naswot:200), "
                         f"but {source!r} is none of them; check the path")
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def warm_start(study: optuna.Study, space: SearchSpace, source: str, cost_size: tuple[int, int, int],
               num_classes: int, budgets: dict[str, float], *, data: ProxyData | None = None, screened: int = 10,
               cost: str = "flops", seed: int = 0, device: str = "cpu", extras: dict | None = None) -> list[str]:
    """Enqueue the designs of ``source`` the space expresses within budget; return one note per design.
    A ``SCORE:K`` source screens K random networks on ``data`` and enqueues ``screened`` of them."""
    if study.user_attrs.get(DONE) is not None:
        return []
    screen = parse_screen(source)
    if screen is not None:
        if data is None:
            raise BsnasError(f"--warm-start {source} scores networks on the search's training data, but this search "
                             "has none (the table evaluator, or your own evaluate function); warm-start from a file")
        score = screen[0]

        def score_of(arch):
            return zero_cost_scores(arch, data, score, seed=seed, device=device)[score]

        notes = zero_cost_warm_start(study, space, source, screened, score_of, cost_size, num_classes, budgets,
                                     cost, seed, extras)
        study.set_user_attr(DONE, notes[:-1])
        return notes
    notes, seen = [], set()
    for name in _candidates(source):
        try:
            arch = as_record(name).arch
            params = params_of(space, arch)
        except SpaceError as err:
            if source != "baselines":  # a file's entries are meant to fit: say which do not
                notes.append(f"warm start {name}: skipped, {err}")
            continue
        text = encode_arch(arch)
        measured = measure(("flops", "params", *budgets), Frame(arch, cost_size, num_classes, extras))
        flops = measured["flops"]
        over = [n for n, limit in budgets.items() if measured[n] > limit]
        if over:
            costs = ", ".join(f"{measured[n]:,} {'FLOPs' if n == 'flops' else 'ms' if n == 'latency' else n}"
                              for n in dict.fromkeys(("flops", "params", *over)))
            notes.append(f"warm start {name}: skipped, over budget ({costs})")
            continue
        if text in seen:
            continue
        seen.add(text)
        study.enqueue_trial(params, user_attrs={"source": "warm-start", "warm_start": name})
        notes.append(f"warm start {name}: enqueued ({flops / 1e6:.2f} MFLOPs)")
    study.set_user_attr(DONE, [n for n in notes if n.endswith(")") and "enqueued" in n])
    return notes
