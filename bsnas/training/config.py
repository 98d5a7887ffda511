"""The training recipe: fidelity knobs and optimiser settings, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bsnas.errors import BsnasError

__all__ = ["AMP", "OPTIMIZERS", "SCHEDULES", "ProxyConfig"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "linear")
#: Mixed precision for training and evaluation (autocast; fp16 adds loss scaling).
AMP = ("bf16", "fp16")
#: Fields the command line sets with a flag of the same name.
_FLAGS = ("epochs", "batch_size", "subset", "seed", "optimizer", "lr", "label_smoothing", "device", "amp")


def _is_int(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ProxyConfig:
    """Fidelity knobs (``epochs``, ``subset``, ``batch_size``, ``seed``) and the recipe.

    ``lr=None`` picks 0.1 for SGD (Nesterov, momentum 0.9) and 3e-3 for AdamW.
    ``warmup`` is the fraction of steps spent warming up. ``alpha`` weighs
    the BSConv-S orthonormality loss, added whenever the model has one.
    ``pad=None`` pads crops by resolution // 8.
    """

    epochs: int = 10
    subset: int | None = None
    batch_size: int = 64
    seed: int = 0
    optimizer: str = "sgd"
    lr: float | None = None
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup: float = 0.15
    label_smoothing: float = 0.0
    alpha: float = 0.1
    augment: bool = True
    pad: int | None = None
    channels_last: bool = True
    device: str = "auto"
    amp: str | None = None

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> BsnasError:
            flag = f" (--{name.replace('_', '-')})" if name in _FLAGS else ""
            return BsnasError(f"{name}{flag} must be {rule}, but got {getattr(self, name)!r}")

        for name in ("epochs", "batch_size"):
            if not _is_int(getattr(self, name), 1):
                raise bad(name, "a positive integer")
        if self.subset is not None and not _is_int(self.subset, 2):
            raise bad("subset", "an integer >= 2 (or None for all training images)")
        if not _is_int(self.seed, 0):
            raise bad("seed", "a non-negative integer")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"one of {', '.join(SCHEDULES)}")
        if self.lr is not None and not (_is_number(self.lr) and self.lr > 0):
            raise bad("lr", "a positive, finite learning rate (or None for the optimiser's default)")
        for name in ("weight_decay", "alpha"):
            if not (_is_number(getattr(self, name)) and getattr(self, name) >= 0):
                raise bad(name, "a finite number >= 0")
        for name in ("warmup", "label_smoothing"):
            if not (_is_number(getattr(self, name)) and 0.0 <= getattr(self, name) < 1.0):
                raise bad(name, "a number in [0, 1)")
        if self.pad is not None and not _is_int(self.pad, 0):
            raise bad("pad", "an integer >= 0 (or None for resolution // 8)")
        for name in ("augment", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "True or False")
        if not isinstance(self.device, str):
            raise bad("device", "a string such as auto, cpu or cuda:0")
        if self.amp is not None and self.amp not in AMP:
            raise bad("amp", f"one of {', '.join(AMP)} (or None for full precision)")

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else (0.1 if self.optimizer == "sgd" else 3e-3)
