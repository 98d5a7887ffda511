"""Claiming an architecture: no two workers evaluate the same one, and no trial evaluates past the target.

A trial *claims* its architecture (``status=training`` with its ``arch`` string) under a lock of the
storage (:meth:`bsnas.storage.StorageBackend.lock`). Under the lock it reads the study's trials:

* an earlier trial of the same architecture has a result → reuse it;
* a live trial holds the claim → release the lock, wait, and look again (the waiting trial keeps its
  heartbeat, so nobody takes it for dead);
* holders that stopped showing signs of life are failed (and retried by whoever fails them);
* the trial's earlier trials already reach the target → step back as surplus;
* otherwise the claim is written, and the trial evaluates.

The lock is one per architecture (``BSNAS_CLAIM_LOCK=architecture``, the default): claims of
different architectures never wait for each other on storages with many locks (PostgreSQL); storages
with one lock (a file beside SQLite or a JournalFile) serialise all claims. ``BSNAS_CLAIM_LOCK=study``
takes the study's one lock instead (``benchmarks/scale.py`` compares the two). The seconds spent
waiting for the lock and holding it are recorded on the trial (``claim_wait``, ``claim_held``).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial

from bsnas import interrupt
from bsnas.errors import SearchError
from bsnas.status import Status, status_of
from bsnas.storage import set_user_attrs
from bsnas.study.bookkeeping import Rules, is_stale, steps_back
from bsnas.study.liveness import Liveness, mark_dead

__all__ = ["CLAIM_LOCK_ENV", "Claims", "Surplus", "claim_lock_name"]

CLAIM_LOCK_ENV = "BSNAS_CLAIM_LOCK"
SCOPES = ("architecture", "study")


class Surplus(Exception):
    """The trial's earlier trials already reach the target: it steps back."""


def claim_lock_name(study: str, arch_string: str) -> str:
    """The lock a claim of ``arch_string`` takes (see the module docstring)."""
    scope = os.environ.get(CLAIM_LOCK_ENV, "architecture")
    if scope not in SCOPES:
        raise SearchError(f"${CLAIM_LOCK_ENV} must be one of {', '.join(SCOPES)}, but got {scope!r}")
    if scope == "study":
        return study
    return f"{study}/claim/{hashlib.sha1(arch_string.encode()).hexdigest()}"


class Claims:
    """Claims of one worker's trials in ``study``, under ``lock(name)``."""

    def __init__(self, study: optuna.Study, lock: Callable, rules: Rules, liveness: Liveness, poll: float = 0.5):
        self.study, self.lock, self.rules, self.liveness, self.poll = study, lock, rules, liveness, poll
        self.wait = self.held = 0.0  # of the last claim

    def claim(self, trial: optuna.Trial, text: str, attrs: dict) -> FrozenTrial | None:
        """Claim ``text`` for ``trial`` (None: evaluate it) or return the trial whose result it reuses;
        raise :class:`Surplus` when it must step back."""
        self.wait = self.held = 0.0
        name = claim_lock_name(self.study.study_name, text)
        while True:
            asked = time.perf_counter()
            with self.lock(name):
                got = time.perf_counter()
                self.wait += got - asked
                try:
                    outcome = self._look(trial, text, attrs)
                finally:
                    self.held += time.perf_counter() - got
            if outcome is not _WAIT:
                return outcome
            time.sleep(self.poll)  # another worker evaluates this architecture right now: wait for its result
            interrupt.check()

    def _look(self, trial: optuna.Trial, text: str, attrs: dict):
        trials = self.study.get_trials(deepcopy=False)
        same = [t for t in trials if t.number != trial.number and t.user_attrs.get("arch") == text]
        earlier = next((t for t in same if status_of(t).has_result), None)
        if earlier is not None:
            return earlier
        now = self.liveness.clock()
        summaries = self.liveness.summarize(trials, now)
        by_number = {s.number: s for s in summaries}
        holders = [t for t in same if status_of(t) is Status.TRAINING]
        if any(not is_stale(by_number[t.number], self.rules, now) for t in holders):
            return _WAIT
        mark_dead(self.study, holders)
        if steps_back(summaries, trial.number, self.rules, now):
            raise Surplus
        set_user_attrs(trial, {**attrs, "status": Status.TRAINING.value})
        return None


_WAIT = object()
