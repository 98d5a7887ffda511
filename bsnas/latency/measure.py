"""End-to-end latency of one network: the built model in eval mode, timed as :mod:`bsnas.latency.timing` says."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bsnas.arch.resolve import as_record
from bsnas.arch.spec import Arch
from bsnas.latency.fingerprint import device_fingerprint
from bsnas.latency.timing import Timing, check_settings, time_module
from bsnas.nn.model import BsnasNet
from bsnas.training.engine import check_resolution, resolve_device

__all__ = ["Latency", "measure_latency", "network_ms"]


@dataclass(frozen=True)
class Latency:
    """A network's measured latency with the fingerprint it was measured under."""

    name: str
    timing: Timing
    fingerprint: dict
    input_size: tuple[int, int, int]

    def to_dict(self) -> dict:
        return {"name": self.name, **self.timing.to_dict(), "input_size": list(self.input_size),
                "fingerprint": self.fingerprint}


def measure_latency(arch, *, backend: str = "torch", threads: int = 1, batch: int = 1,
                    input_size: tuple[int, int, int] | int | None = None, num_classes: int | None = None,
                    device: str = "cpu", warmup: int = 10, min_runs: int = 50, min_time: float = 0.5) -> Latency:
    """Measure ``arch`` (anything :func:`bsnas.as_record` reads: a string, a baseline name, a record) end to
    end, freshly initialised, at ``input_size`` (default: the record's) with ``batch`` images.

    >>> lat = measure_latency("cifar_resnet20", min_runs=3, min_time=0.0)
    >>> lat.timing.median_ms > 0 and lat.fingerprint["backend"] == "torch"
    True
    """
    dev = resolve_device(device)
    check_settings(backend, threads, batch, dev.type)
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        channels = as_record(arch).input_size[0]
        input_size = (channels, input_size, input_size)
    record = as_record(arch, num_classes=num_classes, input_size=input_size)
    check_resolution(record.arch, record.input_size)
    torch.manual_seed(0)
    model = BsnasNet(record.arch, record.num_classes, record.input_size[0], input_size=record.input_size)
    timing = time_module(model, (batch, *record.input_size), backend=backend, threads=threads, device=dev,
                         warmup=warmup, min_runs=min_runs, min_time=min_time)
    return Latency(record.name or "arch", timing, device_fingerprint(backend, threads, batch, dev),
                   tuple(record.input_size))


def network_ms(arch: Arch, input_size: tuple[int, int, int], num_classes: int, fingerprint: dict,
               device: str = "cpu", **timing) -> float:
    """The end-to-end median latency in ms of ``arch`` under ``fingerprint``'s backend, threads and batch."""
    return measure_latency(arch, backend=fingerprint["backend"], threads=fingerprint["threads"],
                           batch=fingerprint["batch"], input_size=input_size, num_classes=num_classes,
                           device=device, **timing).timing.median_ms
