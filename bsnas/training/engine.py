"""The training engine shared by the proxy and full training: device, schedule, trainer, evaluation."""

from __future__ import annotations

import contextlib
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from bsnas import interrupt
from bsnas.arch.record import ArchRecord
from bsnas.arch.resolve import as_record
from bsnas.arch.spec import Arch
from bsnas.arch.tally import activation_count, stage_costs
from bsnas.data.augment import augment_batch
from bsnas.data.split import ProxyData
from bsnas.errors import BsnasError
from bsnas.files import free_memory
from bsnas.nn.layers import reg_loss, regularized_modules
from bsnas.nn.model import build_model
from bsnas.training.config import ProxyConfig

__all__ = ["Trainer", "available_memory", "check_memory", "check_resolution", "eval_batch_size", "evaluate",
           "progress_bar", "resolve_device", "training_memory"]


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise BsnasError(f"unknown device {device!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BsnasError(f"device {device!r} was asked for, but CUDA is not available; use --device auto or cpu")
    return dev


def autocast(device: torch.device, amp: str | None):
    """Mixed precision for ``amp`` (``bf16`` or ``fp16``) on ``device``'s type, or nothing when None."""
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def available_memory(device: torch.device) -> int | None:
    """Bytes free for training on ``device`` (CUDA: free GPU memory; CPU: MemAvailable), or None if unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return free_memory()


def training_memory(arch: Arch, input_size: tuple[int, int, int], batch: int) -> int:
    """About the bytes one training step needs: every conv and BN output of the batch, kept for the
    backward pass with its gradient (float32), plus weights, gradients and two optimiser states."""
    params = sum(p for *_, p in stage_costs(arch, input_size, 1))
    return 2 * 4 * batch * activation_count(arch, input_size) + 16 * params


def check_memory(arch: Arch, input_size: tuple[int, int, int], batch: int, device: torch.device) -> None:
    """Refuse, before allocating anything, a network too large to train at this batch size."""
    need, free = training_memory(arch, input_size, batch), available_memory(device)
    if free is not None and need > free:
        raise BsnasError(f"training this architecture needs about {need / 1e9:.1f} GB at batch {batch} and "
                         f"{input_size[1]}x{input_size[2]} pixels, but {free / 1e9:.1f} GB are free on {device}; "
                         "lower --batch-size or --resolution, or pick a smaller architecture")


def _scheduler(opt: torch.optim.Optimizer, cfg: ProxyConfig, steps: int):
    warm = max(1, int(cfg.warmup * steps)) if cfg.warmup else 0

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, steps - warm)
        if cfg.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))  # one-cycle: warm-up, cosine down

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def eval_batch_size(device: torch.device) -> int:
    """Images per forward pass when scoring: 256 on the CPU, where larger batches overflow the caches and
    run slower (``python benchmarks/eval_batch.py``), 1024 on an accelerator."""
    return 256 if device.type == "cpu" else 1024


@torch.inference_mode()
def evaluate(model: nn.Module, data: ProxyData, x: torch.Tensor, y: torch.Tensor,
             channels_last: bool = True, batch_size: int | None = None, amp: str | None = None) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on uint8 images ``x``, ``batch_size`` images at a time
    (default: :func:`eval_batch_size`)."""
    batch_size = batch_size or eval_batch_size(x.device)
    model.eval()
    correct, loss = 0, 0.0
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for i in range(0, len(y), batch_size):
        with autocast(x.device, amp):
            logits = model(data.normalize(x[i:i + batch_size]).contiguous(memory_format=fmt)).float()
        loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum").item()
        correct += (logits.argmax(1) == y[i:i + batch_size]).sum().item()
    return correct / len(y), loss / len(y)


def check_resolution(arch: Arch, size: tuple[int, int, int]) -> None:
    """A one-line error when images of ``size`` (C, H, W) are smaller than the network's total stride."""
    if min(size[1:]) < arch.total_stride:
        raise BsnasError(f"resolution {size[1]}x{size[2]} is smaller than the network's total stride "
                         f"{arch.total_stride}; raise --resolution or use a space with fewer stride-2 blocks")


class Trainer:
    """One model, its optimiser, schedule and random state; trains epoch by epoch.

    Everything that decides the next epoch is in :meth:`state_dict`, so a run
    restored from it continues exactly as if it had never stopped.
    """

    def __init__(self, arch: ArchRecord | Arch | str, data: ProxyData, config: ProxyConfig,
                 device: torch.device):
        self.data, self.config, self.device = data, config, device
        record = as_record(arch, num_classes=data.num_classes, input_size=data.input_size)
        size = data.input_size
        check_resolution(record.arch, size)
        check_memory(record.arch, size, min(config.batch_size, len(data.train_y)), device)
        torch.manual_seed(config.seed)
        model = build_model(record)
        self.fmt = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = model.to(device=device, memory_format=self.fmt)
        self.x, self.y = data.train_x.to(device), data.train_y.to(device)
        if config.subset is not None:
            if config.subset > len(self.y):
                raise BsnasError(f"subset {config.subset} is larger than the {len(self.y)} training images; "
                                 f"use --subset {len(self.y)} or less")
            idx = data.train_subset(config.subset, config.seed).to(device)
            self.x, self.y = self.x[idx], self.y[idx]
        self.batch = min(config.batch_size, len(self.y))
        self.steps_per_epoch = max(1, len(self.y) // self.batch)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if config.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=config.peak_lr, momentum=0.9, nesterov=True,
                                       weight_decay=config.weight_decay)
        else:
            self.opt = torch.optim.AdamW(params, lr=config.peak_lr, weight_decay=config.weight_decay)
        self.sched = _scheduler(self.opt, config, self.steps_per_epoch * config.epochs)
        # fp16 needs loss scaling against underflowing gradients; bf16 has float32's range and does not
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
        self.reg_modules = regularized_modules(self.model)  # found once, not at every step
        self.pad = config.pad if config.pad is not None else max(1, size[1] // 8)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.epoch, self.seen, self.train_time = 0, 0, 0.0
        self.eval_time = 0.0  # seconds in evaluate(), over all its calls

    def run_epoch(self, bar=None) -> tuple[float, str | None]:
        """Train one epoch; return (mean training loss, divergence reason or None)."""
        cfg, data = self.config, self.data
        self.model.train()
        order = torch.randperm(len(self.y), generator=self.gen).to(self.device)
        loss_sum, start = 0.0, time.perf_counter()
        for step in range(self.steps_per_epoch):
            interrupt.check()
            sel = order[step * self.batch:(step + 1) * self.batch]
            xb = data.normalize(self.x[sel])
            if cfg.augment:
                xb = augment_batch(xb, self.pad, data.hflip, self.gen)
            with autocast(self.device, cfg.amp):
                loss = F.cross_entropy(self.model(xb.contiguous(memory_format=self.fmt)), self.y[sel],
                                       label_smoothing=cfg.label_smoothing)
            if self.reg_modules:  # the orthonormality loss in full precision
                loss = loss.float() + reg_loss(self.model, cfg.alpha, self.reg_modules)
            value = loss.item()
            if not math.isfinite(value):
                self.train_time += time.perf_counter() - start
                return float("nan"), (f"loss became {value} at epoch {self.epoch + 1}, step {step + 1}; "
                                      "lower the learning rate")
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self.sched.step()
            self.seen += len(sel)
            loss_sum += value
            if bar is not None:
                bar.set_postfix(epoch=self.epoch + 1, loss=f"{value:.3f}", refresh=False)
                bar.update()
        self.train_time += time.perf_counter() - start
        self.epoch += 1
        return loss_sum / self.steps_per_epoch, None

    @property
    def images_per_sec(self) -> float:
        return self.seen / max(self.train_time, 1e-9)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        start = time.perf_counter()
        result = evaluate(self.model, self.data, x, y, self.config.channels_last, amp=self.config.amp)
        self.eval_time += time.perf_counter() - start
        return result

    def state_dict(self) -> dict:
        """Everything the next epoch depends on, dropout's random state included (tensors and numbers only)."""
        state = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": self.sched.state_dict(), "generator": self.gen.get_state(),
                 "torch_rng": torch.get_rng_state(), "epoch": self.epoch, "seen": self.seen,
                 "train_time": self.train_time, "scaler": self.scaler.state_dict()}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        self.epoch, self.seen, self.train_time = int(state["epoch"]), int(state["seen"]), float(state["train_time"])


def progress_bar(enabled: bool, total: int):
    """A tqdm bar over training steps, or None when ``enabled`` is false."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="step", leave=False, dynamic_ncols=True)
