"""The proxy evaluator: train the architecture briefly on the search's data and score it on validation."""

from __future__ import annotations

import dataclasses

from bsnas.arch.cost import count
from bsnas.errors import BsnasError, SearchError
from bsnas.evaluators.base import EvalRequest, Evaluation, Evaluator
from bsnas.training.config import ProxyConfig
from bsnas.training.proxy import ProxyResult, train_proxy

__all__ = ["ProxyEvaluator", "result_attrs"]


def result_attrs(result: ProxyResult, train_flops: int) -> dict:
    """The attributes a trained trial stores beside its accuracy."""
    return {"val_loss": result.val_loss, "train_time": round(result.train_time, 3),
            "eval_time": round(result.eval_time, 3), "images_per_sec": round(result.images_per_sec, 1),
            "epochs_run": result.epochs_run, "rung": result.epochs_run, "proxy": result.settings,
            "images_seen": result.images_seen, "train_flops": 3 * train_flops * result.images_seen}


class ProxyEvaluator(Evaluator):
    """Train with ``recipe`` (:func:`bsnas.training.train_proxy`) on the search's data; a diverging loss
    fails the trial with the reason."""

    name = "proxy"

    def __init__(self, recipe: ProxyConfig):
        self.recipe = recipe

    def setup(self, ctx) -> None:
        if ctx.data is None:
            raise SearchError("the proxy evaluator trains on the search's data, but the search has none; pass "
                              "--data, or bring your own evaluate function")
        super().setup(ctx)
        self.recipe = dataclasses.replace(self.recipe, device=ctx.device)

    def evaluate(self, request: EvalRequest) -> Evaluation:
        data = self.ctx.data
        result = train_proxy(request.arch, data, self.recipe, on_epoch=request.report)
        if result.diverged:
            raise BsnasError(f"training diverged: {result.diverged}")
        train_flops = count(request.arch, data.input_size, self.ctx.num_classes).flops
        return Evaluation({"accuracy": result.val_acc}, result_attrs(result, train_flops), rung=result.epochs_run)
