"""Proxy training judged at successive-halving rungs (MO-ASHA), with a checkpoint after every rung.

The trial trains with the full-fidelity schedule and stops at each rung
(:func:`bsnas.evaluators.successive_halving.rungs`) to record its validation accuracy and ask whether
it is promoted, against every trial of the study that reached the rung so far (under the study's
lock). A trial not promoted returns an :class:`~bsnas.evaluators.base.Evaluation` that is not at full
fidelity: it is stored as ``status=stopped``, PRUNED, so no sampler reads its low-rung accuracy as a
result. After each rung the trainer's whole state goes to
``<study checkpoints>/<arch hash>.pt`` (atomically), in a folder keyed by the study and its
fingerprint; a trial whose worker died is retried from that checkpoint instead of from scratch, and
the file is deleted when the trial ends.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch

from bsnas.arch.cost import count
from bsnas.errors import BsnasError, SearchError
from bsnas.evaluators.base import EvalRequest, Evaluation, Evaluator
from bsnas.evaluators.proxy import result_attrs
from bsnas.evaluators.successive_halving import is_promoted, rung_key, rungs
from bsnas.files import atomic_write
from bsnas.metrics import normalised
from bsnas.training.config import ProxyConfig
from bsnas.training.engine import Trainer, resolve_device
from bsnas.training.proxy import ProxyResult

__all__ = ["AshaEvaluator", "checkpoint_path"]


def checkpoint_path(folder: Path, arch_string: str) -> Path:
    return Path(folder) / f"{hashlib.sha1(arch_string.encode()).hexdigest()[:16]}.pt"


class AshaEvaluator(Evaluator):
    """Train with ``recipe`` (its ``epochs`` the top rung) and stop at the first rung of
    ``rungs(min_epochs, recipe.epochs, eta)`` where the trial is not promoted."""

    name = "asha"

    def __init__(self, recipe: ProxyConfig, min_epochs: int, eta: int):
        self.recipe, self.eta = recipe, eta
        self.rungs = rungs(min_epochs, recipe.epochs, eta)

    def fingerprint(self) -> dict:
        return {"name": self.name, "rungs": list(self.rungs), "eta": self.eta}

    def setup(self, ctx) -> None:
        if ctx.data is None:
            raise SearchError("successive halving trains on the search's data, but the search has none; pass --data")
        super().setup(ctx)
        self.recipe = dataclasses.replace(self.recipe, device=ctx.device)

    def evaluate(self, request: EvalRequest) -> Evaluation:
        ctx, trial = self.ctx, request.trial
        device = resolve_device(self.recipe.device)
        trainer = Trainer(request.arch, ctx.data, self.recipe, device)
        checkpoint = checkpoint_path(ctx.checkpoints, request.arch_string)
        accs: dict[int, float] = {}
        if checkpoint.is_file():  # a retry of a trial whose worker died
            state = torch.load(checkpoint, weights_only=True, map_location=device)
            trainer.load_state_dict(state["trainer"])
            accs = {int(k): float(v) for k, v in state["rung_accs"].items()}
            trial.set_user_attr("resumed_from_epoch", trainer.epoch)
        acc, loss, train_loss, promoted = float("nan"), None, float("nan"), True
        for epochs in self.rungs:
            if epochs in accs and trainer.epoch > epochs:  # judged, and promoted, before the retry
                trial.set_user_attr(rung_key(epochs), accs[epochs])
                continue
            while trainer.epoch < epochs:
                train_loss, diverged = trainer.run_epoch()
                if diverged:
                    checkpoint.unlink(missing_ok=True)
                    raise BsnasError(f"training diverged: {diverged}")
                request.report(epoch=trainer.epoch, epochs=self.rungs[-1], images_per_sec=trainer.images_per_sec)
            if epochs in accs:  # the checkpoint was taken at this very rung
                acc, loss = accs[epochs], None
            else:
                acc, loss = trainer.evaluate(ctx.data.val_x, ctx.data.val_y)
            accs[epochs] = acc
            trial.set_user_attr(rung_key(epochs), acc)
            if epochs == self.rungs[-1]:
                break
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(checkpoint, lambda p: torch.save(
                {"trainer": trainer.state_dict(), "rung_accs": {str(k): v for k, v in accs.items()}}, p))
            if not self._promoted(request, epochs, acc):
                promoted = False
                break
        checkpoint.unlink(missing_ok=True)
        if loss is None:
            loss = trainer.evaluate(ctx.data.val_x, ctx.data.val_y)[1]
        settings = {"data": ctx.data.spec, "input_size": list(ctx.data.input_size), "train_images": len(trainer.y),
                    "val_images": len(ctx.data.val_y), "rungs": list(self.rungs), "eta": self.eta,
                    **dataclasses.asdict(self.recipe), "device": str(device)}
        result = ProxyResult(acc, loss, train_loss, trainer.epoch, trainer.train_time, trainer.images_per_sec,
                             settings=settings, images_seen=trainer.seen, eval_time=trainer.eval_time)
        train_flops = count(request.arch, ctx.data.input_size, ctx.num_classes).flops
        return Evaluation({"accuracy": acc}, result_attrs(result, train_flops), full_fidelity=promoted,
                          rung=trainer.epoch)

    def _promoted(self, request: EvalRequest, epochs: int, acc: float) -> bool:
        """Under the study's lock: is this trial in the top 1/eta of all trials that reached ``epochs``?"""
        ctx, key, costs = self.ctx, rung_key(epochs), self.ctx.objectives[1:]
        with ctx.lock(ctx.study.study_name):
            latest: dict[str, list[float]] = {}
            for t in request.trial.study.get_trials(deepcopy=False):
                a = t.user_attrs
                if key in a and t.number != request.trial.number and "arch" in a:
                    latest[a["arch"]] = [a[key], *(a[o] for o in costs)]
            latest[request.arch_string] = [acc, *(request.measured[o] for o in costs)]
        names = list(latest)
        columns = {o: [latest[n][i] for n in names] for i, o in enumerate(ctx.objectives)}
        points = normalised(columns, ctx.objectives, ctx.scale)
        return is_promoted(np.asarray(points), names.index(request.arch_string), self.eta)
