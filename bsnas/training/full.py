"""Full-length training of one architecture, with per-epoch checkpoints and exact resume.

``bsnas train`` writes into ``--out DIR``:

* ``record.json``: the architecture record, with final metrics once done;
* ``model.safetensors``: the weights after the last finished epoch;
* ``trainer_state.pt``: optimiser, schedule and random state (read back with
  ``torch.load(weights_only=True)``, never a general unpickle);
* ``metrics.jsonl``: one JSON line per epoch.

A run killed at any point resumes with ``--resume`` from its last finished
epoch and ends with the same weights and metrics as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from bsnas import interrupt
from bsnas.arch.record import ArchRecord, load_record
from bsnas.arch.resolve import RECORD_FILE as RECORD
from bsnas.arch.resolve import as_record
from bsnas.arch.spec import Arch
from bsnas.data.split import ProxyData, load_data
from bsnas.errors import BsnasError
from bsnas.files import atomic_write
from bsnas.nn.model import WEIGHTS_FILE as WEIGHTS
from bsnas.nn.model import save_weights
from bsnas.training.config import ProxyConfig
from bsnas.training.engine import Trainer, progress_bar, resolve_device
from bsnas.version import __version__

__all__ = ["train"]

STATE, METRICS = "trainer_state.pt", "metrics.jsonl"


def train(arch: ArchRecord | Arch | str | Path, data_spec: str, epochs: int, out: str | Path, *,
          test_spec: str | None = None, resume: bool = False, seed: int = 0, batch_size: int = 64,
          lr: float | None = None, resolution: int | None = None, val_size: float | int = 0.1, device: str = "auto",
          amp: str | None = None, progress: bool = False, stop_after: int | None = None) -> dict:
    """Train ``arch`` (anything :func:`bsnas.as_record` reads) for ``epochs`` epochs (cosine schedule, weight
    decay, crop+flip, label smoothing 0.1, BSConv-S regulariser); ``stop_after`` ends early after that many
    epochs (tests). With ``resume``, a finished run only reports its metrics, and a larger ``epochs``
    continues it."""
    record = as_record(arch)
    out = Path(out)
    state_path = out / STATE
    if state_path.exists() and not resume:
        raise BsnasError(f"{out} already holds a training run; pass --resume to continue it or pick another --out")
    if resume and not state_path.exists():
        raise BsnasError(f"nothing to resume in {out} (no {STATE}); run without --resume to start")
    config = ProxyConfig(epochs=epochs, seed=seed, batch_size=batch_size, lr=lr, label_smoothing=0.1,
                         warmup=0.05, device=device, amp=amp)
    dev = resolve_device(device)
    data = load_data(data_spec, resolution=resolution, val_size=val_size, seed=seed, test_spec=test_spec,
                     device=dev)
    record = dataclasses.replace(record, input_size=data.input_size, num_classes=data.num_classes)
    settings = {"arch": record.arch_string, "data": data_spec, "resolution": resolution, "val_size": val_size,
                **dataclasses.asdict(config)}
    settings.pop("device")
    state = _resumable_state(out, settings, dev) if resume else None
    trainer = Trainer(record.arch, data, config, dev)
    out.mkdir(parents=True, exist_ok=True)
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        _truncate_metrics(out / METRICS, trainer.epoch)
    else:
        ArchRecord(record.arch, record.input_size, record.num_classes, record.name,
                   {**record.extra, "preprocessing": data.preprocessing(), "training": settings}).save(out / RECORD)
        (out / METRICS).unlink(missing_ok=True)
    bar = progress_bar(progress, trainer.steps_per_epoch * (epochs - trainer.epoch))
    with interrupt.handling():
        _train_epochs(trainer, data, epochs, out, settings, bar, stop_after)
    if bar is not None:
        bar.close()
    val_acc, val_loss = trainer.evaluate(data.val_x, data.val_y)
    summary = {"epochs_run": trainer.epoch, "val_acc": val_acc, "val_loss": val_loss,
               "train_time": trainer.train_time, "bsnas_version": __version__}
    if data.test_x is not None:
        summary["test_acc"], summary["test_loss"] = trainer.evaluate(data.test_x, data.test_y)
    if trainer.epoch == epochs:
        saved = load_record(out / RECORD)
        ArchRecord(saved.arch, saved.input_size, saved.num_classes, saved.name,
                   {**saved.extra, "training": settings, "metrics": summary}).save(out / RECORD)
    return summary


def _train_epochs(trainer: Trainer, data: ProxyData, epochs: int, out: Path, settings: dict, bar,
                  stop_after: int | None) -> None:
    """Train epoch by epoch; after each, append its metrics and save the weights and the checkpoint atomically."""
    while trainer.epoch < epochs:
        loss, diverged = trainer.run_epoch(bar)
        if diverged:
            raise BsnasError(f"training diverged: {diverged}")
        val_acc, val_loss = trainer.evaluate(data.val_x, data.val_y)
        line = {"epoch": trainer.epoch, "train_loss": loss, "val_acc": val_acc, "val_loss": val_loss,
                "lr": trainer.opt.param_groups[0]["lr"], "train_time": trainer.train_time}
        with open(out / METRICS, "a") as f:
            f.write(json.dumps(line) + "\n")
        save_weights(trainer.model, out / WEIGHTS)
        atomic_write(out / STATE, lambda p: torch.save({"trainer": trainer.state_dict(), "settings": settings}, p))
        if stop_after is not None and trainer.epoch >= stop_after:
            break


def _resumable_state(out: Path, settings: dict, device: torch.device) -> dict:
    """The checkpoint to resume from; ``--epochs`` may grow (the cosine schedule stretches to the new total)."""
    try:
        state = torch.load(out / STATE, weights_only=True, map_location=device)
    except Exception as err:  # a truncated or foreign file
        raise BsnasError(f"cannot read the checkpoint {out / STATE} ({type(err).__name__}); it is not a "
                         "`bsnas train` checkpoint: remove the folder or pick another --out") from None
    stored = state.get("settings", {})
    changed = sorted(k for k in settings if k != "epochs" and stored.get(k) != settings[k])
    if changed:
        raise BsnasError(f"{out} was trained with other settings ({', '.join(changed)}); resume with the "
                         "original ones or pick another --out")
    done = int(state["trainer"]["epoch"])
    if settings["epochs"] < done:
        raise BsnasError(f"{out} already holds {done} trained epochs, more than --epochs {settings['epochs']}; "
                         f"pass --epochs {done} or more")
    return state


def _truncate_metrics(path: Path, epochs: int) -> None:
    """Drop lines of epochs after the checkpoint (written just before a kill)."""
    if path.exists():
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["epoch"] <= epochs]
        path.write_text("".join(ln + "\n" for ln in lines))
