"""Training: the recipe, the engine of the proxy and of full training, the proxy check, zero-cost scores."""

from __future__ import annotations

from bsnas.training.config import OPTIMIZERS, SCHEDULES, ProxyConfig
from bsnas.training.engine import Trainer, evaluate, progress_bar, resolve_device
from bsnas.training.full import train
from bsnas.training.proxy import ProxyResult, train_proxy
from bsnas.training.zero_cost import ZERO_COST_SCORES, zero_cost_scores

__all__ = ["OPTIMIZERS", "SCHEDULES", "ProxyConfig", "ProxyResult", "Trainer", "evaluate", "progress_bar",
           "resolve_device", "train", "train_proxy", "ZERO_COST_SCORES", "zero_cost_scores"]
