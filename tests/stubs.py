"""Evaluators for tests of bookkeeping, storage and parallel search, where training is not what is tested.

They go through the same evaluator protocol as the proxy. Module-level classes, so ``--jobs`` worker
processes can unpickle them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time

from bsnas.evaluators import Evaluation, Evaluator


def arch_accuracy(arch_string: str) -> float:
    """A deterministic accuracy in [0.5, 1) from the architecture string (no training)."""
    return 0.5 + int(hashlib.sha1(arch_string.encode()).hexdigest()[:8], 16) / 2**33


class HashEvaluator(Evaluator):
    """Accuracy from the architecture string, after ``sleep`` seconds; counts its setups and evaluations
    (per process), fails architectures whose hash accuracy is below ``fail_below`` and judges those above
    ``stop_above`` below full fidelity (as successive halving's stopped trials)."""

    name = "hash"

    def __init__(self, sleep: float = 0.0, fail_below: float = 0.0, stop_above: float = 1.0):
        self.sleep, self.fail_below, self.stop_above = sleep, fail_below, stop_above
        self.setups, self.evaluated = 0, []

    def setup(self, ctx) -> None:
        super().setup(ctx)
        self.setups += 1

    def evaluate(self, request) -> Evaluation:
        if self.sleep:
            time.sleep(self.sleep)
        acc = arch_accuracy(request.arch_string)
        self.evaluated.append(request.arch_string)
        if acc < self.fail_below:
            raise RuntimeError(f"stub failure for accuracy {acc:.3f}")
        return Evaluation({"accuracy": acc, "val_loss": 1.0 - acc}, {"train_time": self.sleep, "pid": os.getpid()},
                          full_fidelity=acc <= self.stop_above, rung=2 if acc <= self.stop_above else 1)


@contextlib.contextmanager
def held_elsewhere(make_lock):
    """While the block runs, another thread holds the lock that ``make_lock()`` returns."""
    held, release = threading.Event(), threading.Event()

    def holder():
        with make_lock():
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join()
