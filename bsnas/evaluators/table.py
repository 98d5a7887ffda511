"""The table evaluator: answer a trial from NAS-Bench-Macro's 50-epoch results instead of training.

A trial gets one of the table's three training runs of its network, chosen from the search's seed and
the trial number, so a search sees real seed-to-seed noise; the mean of the three is stored beside it
(``mean_accuracy``). Nothing is trained, so a search of hundreds of trials takes seconds and goes through
the same sampling, bookkeeping, storage and front code as every other search. It answers for
architectures of the table only (``--space nas_bench_macro``), at CIFAR-10's 3×32×32 and 10 classes.
"""

from __future__ import annotations

import numpy as np

from bsnas.errors import BsnasError, SearchError
from bsnas.evaluators.base import EvalRequest, Evaluation, Evaluator
from bsnas.tables import nas_bench_macro

__all__ = ["TableEvaluator", "run_index"]


def run_index(seed: int, trial_number: int, runs: int = 3) -> int:
    """Which of the ``runs`` stored runs answers trial ``trial_number`` of a search seeded ``seed``."""
    return int(np.random.default_rng([seed, trial_number]).integers(runs))


class TableEvaluator(Evaluator):
    """NAS-Bench-Macro's stored test accuracies (see the module docstring)."""

    name = "table"
    #: The data the table's networks were trained on: a search with this evaluator loads none.
    input_size = (3, 32, 32)
    num_classes = 10

    def fingerprint(self) -> dict:
        return {"name": self.name, "table": "nas-bench-macro", "sha256": nas_bench_macro.table_hash()}

    def setup(self, ctx) -> None:
        if tuple(ctx.cost_size) != self.input_size or ctx.num_classes != self.num_classes:
            raise SearchError(f"the table evaluator answers for NAS-Bench-Macro's CIFAR-10 networks at 3x32x32 with "
                              f"10 classes, but the search counts at {ctx.cost_size} with {ctx.num_classes} classes; "
                              "leave out --data and --input-size")
        super().setup(ctx)
        nas_bench_macro.key_of_string("")  # index the table once per worker

    def evaluate(self, request: EvalRequest) -> Evaluation:
        key = nas_bench_macro.key_of_string(request.arch_string)
        if key is None:
            raise BsnasError(f"{request.arch_string!r} is not one of NAS-Bench-Macro's networks; the table evaluator "
                             "answers for --space nas_bench_macro only")
        row = nas_bench_macro.entry(key)
        run = run_index(self.ctx.seed, request.trial.number, len(row.accuracies))
        return Evaluation({"accuracy": row.accuracies[run], "mean_accuracy": row.mean},
                          {"table_key": key, "table_run": run, "table_std": row.std}, full_fidelity=True)
