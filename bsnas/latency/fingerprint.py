"""The machine a latency was measured on: what makes two measurements comparable.

A fingerprint names the processor (the CPU model, or the CUDA device's name), the library versions, the
backend, the thread count and the batch. A latency table carries the fingerprint it was built under; it
answers only where the fingerprint is the same (:func:`check_same`).
"""

from __future__ import annotations

import os
import platform
from functools import cache

import torch

from bsnas.errors import BsnasError

__all__ = ["COMPARED", "check_same", "cpu_model", "device_fingerprint", "differences", "describe"]

#: The fields that must agree for two latencies to be comparable.
COMPARED = ("device", "processor", "backend", "threads", "batch", "torch", "onnxruntime")


@cache
def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _onnxruntime_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def device_fingerprint(backend: str, threads: int, batch: int, device: str | torch.device = "cpu") -> dict:
    """The fingerprint of a measurement made now, on this machine, with these settings."""
    device = torch.device(device)
    if device.type == "cuda":
        processor = torch.cuda.get_device_name(device) if torch.cuda.is_available() else "no CUDA device here"
    else:
        processor = cpu_model()
    return {"device": device.type, "processor": processor, "machine": platform.machine(),
            "logical_cores": os.cpu_count(), "backend": backend, "threads": threads, "batch": batch,
            "torch": torch.__version__, "onnxruntime": _onnxruntime_version() if backend == "onnxruntime" else None}


def describe(fp: dict) -> str:
    """One line: ``torch on cpu Intel Xeon ..., 1 thread, batch 1, torch 2.13.0``."""
    libs = f"torch {fp.get('torch')}" + (f", onnxruntime {fp['onnxruntime']}" if fp.get("onnxruntime") else "")
    threads = fp.get("threads")
    return (f"{fp.get('backend')} on {fp.get('device')} {fp.get('processor')}, {threads} thread"
            f"{'' if threads == 1 else 's'}, batch {fp.get('batch')}, {libs}")


def differences(a: dict, b: dict) -> list[str]:
    """``field a -> b`` for each compared field that differs."""
    return [f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in COMPARED if a.get(k) != b.get(k)]


def check_same(table: dict, here: dict, what: str, allow_foreign: bool = False) -> list[str]:
    """Refuse a latency table built under another fingerprint (one line naming both); with ``allow_foreign``
    return the warning instead."""
    diff = differences(table, here)
    if not diff:
        return []
    message = (f"{what} was measured on another device or setup ({describe(table)}) than this one "
               f"({describe(here)}): {'; '.join(diff)}")
    if not allow_foreign:
        raise BsnasError(message + "; build a table here (bsnas latency-table build), or pass --allow-foreign-table "
                                   "to use it anyway")
    return [f"warning: {message}; using it anyway (--allow-foreign-table)"]
