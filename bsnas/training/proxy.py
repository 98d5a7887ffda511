"""Short, deterministic proxy training: the measurement behind every search trial."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from bsnas.arch.record import ArchRecord
from bsnas.arch.spec import Arch
from bsnas.data.split import ProxyData
from bsnas.training.config import ProxyConfig
from bsnas.training.engine import Trainer, progress_bar, resolve_device

__all__ = ["ProxyResult", "train_proxy"]


@dataclass
class ProxyResult:
    """What one proxy run measured; accuracy is 0 and ``diverged`` says why when the loss blew up."""

    val_acc: float
    val_loss: float
    train_loss: float
    epochs_run: int
    """Epochs finished (fewer than asked for when training diverged)."""
    train_time: float
    images_per_sec: float = 0.0
    diverged: str | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    """Test metrics, only when the data has a test split."""
    settings: dict = field(default_factory=dict)
    """The data and recipe the run used."""
    images_seen: int = 0
    eval_time: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def train_proxy(arch: ArchRecord | Arch | str, data: ProxyData, config: ProxyConfig | None = None,
                progress: bool = False, on_epoch: Callable[..., None] | None = None) -> ProxyResult:
    """Train ``arch`` on ``data`` with ``config`` and score it on the validation split.

    Same architecture, data, config and device give identical metrics on the
    CPU. A NaN or infinite loss stops training at once; the result then has
    ``diverged`` set and accuracy 0. ``on_epoch(epoch=, epochs=, images_per_sec=)`` is called after
    every epoch.
    """
    config = ProxyConfig() if config is None else config
    device = resolve_device(config.device)
    trainer = Trainer(arch, data, config, device)
    bar = progress_bar(progress, trainer.steps_per_epoch * config.epochs)
    diverged, train_loss = None, float("nan")
    for _ in range(config.epochs):
        train_loss, diverged = trainer.run_epoch(bar)
        if diverged:
            break
        if on_epoch is not None:
            on_epoch(epoch=trainer.epoch, epochs=config.epochs, images_per_sec=trainer.images_per_sec)
    if bar is not None:
        bar.close()
    settings = {"data": data.spec, "input_size": list(data.input_size), "train_images": len(trainer.y),
                "val_images": len(data.val_y), **asdict(config), "device": str(device)}
    speed = trainer.images_per_sec
    if diverged:
        return ProxyResult(0.0, float("inf"), float("nan"), trainer.epoch, trainer.train_time, speed, diverged,
                           settings=settings, images_seen=trainer.seen)
    val_acc, val_loss = trainer.evaluate(data.val_x, data.val_y)
    result = ProxyResult(val_acc, val_loss, train_loss, trainer.epoch, trainer.train_time, speed, settings=settings,
                         images_seen=trainer.seen, eval_time=trainer.eval_time)
    if data.test_x is not None:
        result.test_acc, result.test_loss = trainer.evaluate(data.test_x, data.test_y)
    return result
