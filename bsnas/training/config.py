"""The training recipe: fidelity knobs and optimiser settings, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

from bsnas.errors import BsnasError

__all__ = ["OPTIMIZERS", "SCHEDULES", "ProxyConfig"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "linear")


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

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise BsnasError(f"{name} must be a positive integer, but got {value!r}")
        if self.subset is not None and (not isinstance(self.subset, int) or self.subset < 2):
            raise BsnasError(f"subset must be an integer >= 2 (or None for all), but got {self.subset!r}")
        if self.optimizer not in OPTIMIZERS:
            raise BsnasError(f"optimizer must be one of {OPTIMIZERS}, but got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise BsnasError(f"schedule must be one of {SCHEDULES}, but got {self.schedule!r}")
        if not 0.0 <= self.warmup < 1.0 or not 0.0 <= self.label_smoothing < 1.0:
            raise BsnasError(f"warmup and label_smoothing must lie in [0, 1), but got "
                             f"{self.warmup!r} and {self.label_smoothing!r}")

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else (0.1 if self.optimizer == "sgd" else 3e-3)
