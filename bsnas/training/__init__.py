"""Training: the recipe, the engine both the proxy and full training use, and the proxy's faithfulness check."""

from __future__ import annotations

from bsnas.training.config import OPTIMIZERS, SCHEDULES, ProxyConfig
from bsnas.training.engine import Trainer, evaluate, progress_bar, resolve_device
from bsnas.training.full import train
from bsnas.training.proxy import ProxyResult, train_proxy

__all__ = ["OPTIMIZERS", "SCHEDULES", "ProxyConfig", "ProxyResult", "Trainer", "evaluate", "progress_bar",
           "resolve_device", "train", "train_proxy"]
