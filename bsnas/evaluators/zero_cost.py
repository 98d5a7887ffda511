"""The zero-cost evaluator: score the untrained network instead of training it.

A trial's quality is one zero-cost score (:mod:`bsnas.training.zero_cost`), the search's first objective:
``naswot`` by default, which ranks NAS-Bench-Macro's 50-epoch accuracies at Spearman 0.91 where the
trained proxy ranks them at chance (README, "Proxies against NAS-Bench-Macro"). The network is
initialised and its batch drawn from the search's seed, so an architecture always gets the same score.
One trial costs a forward pass (NASWOT) or a backward pass (the gradient scores) of one batch: seconds on
a CPU for a CIFAR network, where proxy training costs minutes. The front is of score against cost; train
its members (``bsnas train``) to learn their accuracy.
"""

from __future__ import annotations

import math

from bsnas.errors import BsnasError, SearchError
from bsnas.evaluators.base import EvalRequest, Evaluation, Evaluator
from bsnas.training.engine import resolve_device
from bsnas.training.zero_cost import ZERO_COST_SCORES, zero_cost_scores

__all__ = ["ZeroCostEvaluator"]


class ZeroCostEvaluator(Evaluator):
    """Score each architecture with ``score`` on ``batch_size`` images of the search's training data."""

    name = "zero-cost"

    def __init__(self, score: str = "naswot", batch_size: int = 64):
        if score not in ZERO_COST_SCORES:
            raise SearchError(f"unknown zero-cost score {score!r}; choose one of {', '.join(ZERO_COST_SCORES)}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 2:
            raise SearchError(f"the zero-cost batch size must be an integer >= 2, but got {batch_size!r}")
        self.score, self.batch_size = score, batch_size

    def fingerprint(self) -> dict:
        return {"name": self.name, "score": self.score, "batch_size": self.batch_size}

    def setup(self, ctx) -> None:
        if ctx.data is None:
            raise SearchError("the zero-cost evaluator scores networks on the search's training images, but the "
                              "search has none; pass --data")
        if ctx.objectives[0] != self.score:
            raise SearchError(f"the zero-cost evaluator returns {self.score}, but the search's first objective is "
                              f"{ctx.objectives[0]}; pass --objectives {self.score},{','.join(ctx.objectives[1:])}")
        super().setup(ctx)
        self.device = resolve_device(ctx.device)

    def evaluate(self, request: EvalRequest) -> Evaluation:
        out = zero_cost_scores(request.arch, self.ctx.data, [self.score], batch_size=self.batch_size,
                               seed=self.ctx.seed, device=self.device)
        value = out[self.score]
        if not math.isfinite(value):
            raise BsnasError(f"{self.score} is {value} for this network (its activations do not tell the images "
                             "apart); it cannot be ranked")
        return Evaluation({self.score: value}, {"zero_cost_seconds": out["seconds"],
                                                "zero_cost_batch": self.batch_size})
