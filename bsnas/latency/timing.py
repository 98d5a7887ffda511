"""Timing one module's inference the way careful benchmarks do, on PyTorch eager or ONNX Runtime.

* **torch**: eval mode, ``torch.inference_mode``, channels-last memory format, the intra-op thread count
  pinned to ``threads`` for the measurement (and restored after it). On CUDA each call is timed with CUDA
  events after a synchronisation, so the GPU's asynchronous launches are counted in full.
* **onnxruntime**: the module exported to ONNX (torch's TorchScript exporter, in memory, which is far
  faster per block than the dynamo exporter of ``bsnas export``) and run by the CPU execution
  provider with ``intra_op_num_threads = threads``, one inter-op thread, sequential execution and every
  graph optimisation (conv + BN + activation fusion among them).

Each call is timed alone (``time.perf_counter``). After ``warmup`` calls, calls are timed until at least
``min_runs`` calls and ``min_time`` seconds, at most ``max_runs``; the result is the median with the first
and third quartiles, in milliseconds.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from bsnas.errors import BsnasError, require

__all__ = ["BACKENDS", "Timing", "call_times", "check_settings", "event_call", "onnx_session", "time_module",
           "torch_threads"]

BACKENDS = ("torch", "onnxruntime")


@dataclass(frozen=True)
class Timing:
    """A latency measurement: median and quartiles of the per-call times in ms, and how many calls."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    runs: int

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    def to_dict(self) -> dict:
        return {**asdict(self), "iqr_ms": self.iqr_ms}

    @classmethod
    def of(cls, seconds: list[float] | np.ndarray) -> Timing:
        """The median and quartiles of per-call times given in seconds."""
        q1, median, q3 = (float(v) * 1e3 for v in np.percentile(seconds, [25, 50, 75]))
        if not all(math.isfinite(v) and v >= 0 for v in (q1, median, q3)):
            raise BsnasError(f"latency timing gave no finite time ({median!r} ms); please report this")
        return cls(median, q1, q3, len(seconds))


def check_settings(backend: str, threads: object, batch: object, device: str = "cpu") -> None:
    """One-line errors for an unknown backend, a thread count or batch that is not a positive integer, and
    ONNX Runtime asked for a GPU."""
    if backend not in BACKENDS:
        raise BsnasError(f"unknown latency backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    for name, value in (("threads", threads), ("batch", batch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BsnasError(f"--{name} must be a positive integer, but got {value!r}")
    if backend == "onnxruntime" and str(device) != "cpu":
        raise BsnasError(f"the onnxruntime backend measures on the CPU execution provider, but got --device "
                         f"{device}; use --backend torch for a GPU")


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Pin torch's intra-op thread count for a block of code, then restore it."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _collect(call: Callable[[], float], warmup: int, min_runs: int, min_time: float, max_runs: int) -> list[float]:
    for _ in range(warmup):
        call()
    times: list[float] = []
    enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection inside a timed call is not the network's time
    try:
        start = time.perf_counter()
        while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < min_time):
            times.append(call())
    finally:
        if enabled:
            gc.enable()
    return times


def event_call(run: Callable[[], object], new_event: Callable[[], object],
               synchronize: Callable[[], None]) -> Callable[[], float]:
    """A timed call of ``run`` for an asynchronous device: synchronise, record an event, run, record another,
    synchronise, and return the events' elapsed time in seconds (CUDA: ``torch.cuda.Event(enable_timing=True)``
    and ``torch.cuda.synchronize``)."""
    begin, end = new_event(), new_event()

    def call() -> float:
        synchronize()
        begin.record()
        run()
        end.record()
        synchronize()
        return begin.elapsed_time(end) / 1e3

    return call


def _torch_call(module: nn.Module, x: torch.Tensor) -> Callable[[], float]:
    if x.device.type == "cuda":
        return event_call(lambda: module(x), lambda: torch.cuda.Event(enable_timing=True),
                          lambda: torch.cuda.synchronize(x.device))

    def call() -> float:
        t0 = time.perf_counter()
        module(x)
        return time.perf_counter() - t0

    return call


def onnx_session(module: nn.Module, x: torch.Tensor, threads: int):
    """An ONNX Runtime CPU session of ``module`` traced on ``x`` (see the module docstring)."""
    ort = require("onnxruntime", "onnx", "--backend onnxruntime")
    buffer = io.BytesIO()
    for name in ("torch.onnx", "torch.jit"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buffer, dynamo=False, input_names=["input"], output_names=["output"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def time_module(module: nn.Module, input_shape: tuple[int, ...], *, backend: str = "torch", threads: int = 1,
                device: str | torch.device = "cpu", warmup: int = 10, min_runs: int = 30, min_time: float = 0.2,
                max_runs: int = 10_000) -> Timing:
    """The inference latency of ``module`` on an input of ``input_shape`` (batch first), see the module
    docstring. The module is put in eval mode."""
    return Timing.of(call_times(module, input_shape, backend=backend, threads=threads, device=device,
                                warmup=warmup, min_runs=min_runs, min_time=min_time, max_runs=max_runs))


def call_times(module: nn.Module, input_shape: tuple[int, ...], *, backend: str = "torch", threads: int = 1,
               device: str | torch.device = "cpu", warmup: int = 10, min_runs: int = 30, min_time: float = 0.2,
               max_runs: int = 10_000) -> list[float]:
    """The per-call times in seconds that :func:`time_module` summarises (to pool rounds taken apart)."""
    check_settings(backend, threads, 1, str(torch.device(device).type if backend == "torch" else device))
    module = module.eval()
    x = torch.randn(*input_shape, generator=torch.Generator().manual_seed(0))
    if backend == "onnxruntime":
        with torch.inference_mode(False):
            session = onnx_session(module, x, threads)
        feed = {session.get_inputs()[0].name: x.numpy()}

        def call() -> float:
            t0 = time.perf_counter()
            session.run(None, feed)
            return time.perf_counter() - t0

        return _collect(call, warmup, min_runs, min_time, max_runs)
    device = torch.device(device)
    fmt = torch.channels_last if x.dim() == 4 else torch.contiguous_format
    module = module.to(device=device, memory_format=fmt)
    x = x.to(device=device, memory_format=fmt)
    with torch_threads(threads), torch.inference_mode():
        return _collect(_torch_call(module, x), warmup, min_runs, min_time, max_runs)
