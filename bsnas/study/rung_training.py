"""Training one trial rung by rung (MO-ASHA), with a checkpoint after every rung.

The trial trains with the full-fidelity schedule and stops at each rung
(:func:`bsnas.study.fidelity.rungs`) to record its validation accuracy and
ask whether it is promoted, against every trial of the study that reached
the rung so far. After each rung the trainer's whole state goes to
``runs/<study>/checkpoints/<arch hash>.pt`` (atomically); a trial whose
worker died is retried from that checkpoint instead of from scratch, and the
file is deleted when the trial ends.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import optuna
import torch

from bsnas.arch.spec import Arch
from bsnas.files import atomic_write
from bsnas.study.fidelity import is_promoted, rung_key
from bsnas.training.engine import Trainer, resolve_device
from bsnas.training.proxy import ProxyResult

__all__ = ["RungTraining", "checkpoint_path"]


def checkpoint_path(folder: Path, arch_string: str) -> Path:
    return Path(folder) / f"{hashlib.sha1(arch_string.encode()).hexdigest()[:16]}.pt"


class RungTraining:
    """Train ``arch`` for trial ``trial`` up to the rung where it is not promoted (``status`` says how it ended)."""

    def __init__(self, ctx, trial: optuna.Trial, arch: Arch, text: str, cost: tuple[int, int]):
        self.ctx, self.trial, self.arch, self.text, self.cost = ctx, trial, arch, text, cost
        self.checkpoint = checkpoint_path(ctx.checkpoints, text)
        self.status = "trained"

    def run(self) -> ProxyResult:
        ctx, cfg = self.ctx, self.ctx.cfg
        device = resolve_device(cfg.device)
        config = cfg.training_proxy()
        trainer = Trainer(self.arch, ctx.data, config, device)
        accs: dict[int, float] = {}
        if self.checkpoint.is_file():  # a retry of a trial whose worker died
            state = torch.load(self.checkpoint, weights_only=True, map_location=device)
            trainer.load_state_dict(state["trainer"])
            accs = {int(k): float(v) for k, v in state["rung_accs"].items()}
            self.trial.set_user_attr("resumed_from_epoch", trainer.epoch)
        acc, loss, train_loss = float("nan"), None, float("nan")
        for epochs in cfg.rungs:
            if epochs in accs and trainer.epoch > epochs:  # judged, and promoted, before the retry
                self.trial.set_user_attr(rung_key(epochs), accs[epochs])
                continue
            while trainer.epoch < epochs:
                train_loss, diverged = trainer.run_epoch()
                if diverged:
                    self._forget()
                    return ProxyResult(0.0, float("inf"), float("nan"), trainer.epoch, trainer.train_time,
                                       diverged=diverged, images_seen=trainer.seen)
            if epochs in accs:  # the checkpoint was taken at this very rung
                acc, loss = accs[epochs], None
            else:
                acc, loss = trainer.evaluate(ctx.data.val_x, ctx.data.val_y)
            accs[epochs] = acc
            self.trial.set_user_attr(rung_key(epochs), acc)
            if epochs == cfg.rungs[-1]:
                break
            self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.checkpoint, lambda p: torch.save(
                {"trainer": trainer.state_dict(), "rung_accs": {str(k): v for k, v in accs.items()}}, p))
            if not self._promoted(epochs, acc):
                self.status = "stopped"
                break
        self._forget()
        if loss is None:
            loss = trainer.evaluate(ctx.data.val_x, ctx.data.val_y)[1]
        settings = {"data": ctx.data.spec, "input_size": list(ctx.data.input_size), "train_images": len(trainer.y),
                    "val_images": len(ctx.data.val_y), "rungs": list(cfg.rungs), "eta": cfg.eta,
                    **dataclasses.asdict(config), "device": str(device)}
        return ProxyResult(acc, loss, train_loss, trainer.epoch, trainer.train_time,
                           trainer.seen / max(trainer.train_time, 1e-9), settings=settings, images_seen=trainer.seen,
                           eval_time=trainer.eval_time)

    def _forget(self) -> None:
        self.checkpoint.unlink(missing_ok=True)

    def _promoted(self, epochs: int, acc: float) -> bool:
        """Under the storage lock: is this trial in the top 1/eta of all trials that reached ``epochs``?"""
        ctx, key = self.ctx, rung_key(epochs)
        with ctx.lock():
            latest: dict[str, tuple[float, int, int]] = {}
            for t in self.trial.study.get_trials(deepcopy=False):
                a = t.user_attrs
                if key in a and t.number != self.trial.number and "arch" in a:
                    latest[a["arch"]] = (a[key], a["flops"], a["params"])
            latest[self.text] = (acc, *self.cost)
        names = list(latest)
        points = np.array([[1.0 - latest[n][0]] + [latest[n][1 + ("flops", "params").index(o)] / ctx.scale[o]
                                                   for o in ctx.cfg.objectives[1:]] for n in names])
        return is_promoted(points, names.index(self.text), ctx.cfg.eta)
