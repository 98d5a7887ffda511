"""Signs of life of running trials, the same on every storage.

Optuna's own heartbeat exists for RDB storages only, and a JournalFile has
none, so bsnas keeps its own: while a trial trains, a thread writes the time
into its ``heartbeat`` user attribute every :func:`heartbeat_seconds`. A
running trial not heard from for :func:`stale_after` seconds belongs to a
worker that died (kill -9, a lost machine): any worker marks it FAIL with
``fail_kind=worker-died`` and a ``fail_reason``, and enqueues the same
architecture again (``retry_of``), which continues from the dead trial's
last rung checkpoint when there is one.
``BSNAS_HEARTBEAT_SECONDS`` and ``BSNAS_STALE_AFTER`` change the defaults
(10 s and 60 s).
"""

from __future__ import annotations

import os
import threading
import time

import optuna
from optuna.trial import TrialState

__all__ = ["Heartbeat", "heartbeat_seconds", "mark_dead", "stale_after"]

DEAD_REASON = "its worker died (no sign of life for {seconds:.0f} s); the search trained another architecture"


def heartbeat_seconds() -> float:
    return float(os.environ.get("BSNAS_HEARTBEAT_SECONDS", 10))


def stale_after() -> float:
    return float(os.environ.get("BSNAS_STALE_AFTER", 60))


class Heartbeat:
    """``with Heartbeat(study, trial):`` writes the trial's ``heartbeat`` attribute now and every few seconds."""

    def __init__(self, study: optuna.Study, trial_id: int, interval: float | None = None):
        self.storage, self.trial_id = study._storage, trial_id  # a worker beats for its own trial
        self.interval = heartbeat_seconds() if interval is None else interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bsnas-heartbeat", daemon=True)

    def _beat(self) -> bool:
        try:
            self.storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())
            return True
        except Exception:  # the trial finished (or the storage went away): stop beating
            return False

    def _run(self) -> None:
        while not self.stop.wait(self.interval) and self._beat():
            pass

    def __enter__(self) -> Heartbeat:
        self._beat()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def mark_dead(study: optuna.Study, numbers: tuple[int, ...] | list[int], reason: str | None = None) -> None:
    """Fail the running trials ``numbers``, whose worker stopped showing signs of life."""
    if not numbers:
        return
    storage = study._storage  # Optuna's public API cannot fail another worker's trial
    why = reason or DEAD_REASON.format(seconds=stale_after())
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.number in numbers:
            try:
                storage.set_trial_user_attr(t._trial_id, "fail_reason", why)
                storage.set_trial_user_attr(t._trial_id, "fail_kind", "worker-died")
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            except Exception:  # another worker failed it (or it finished) first
                continue
            if t.user_attrs.get("status") == "training":  # it was training: retry it (from its checkpoint)
                study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, **_source(t)})


def _source(t) -> dict:
    return {k: t.user_attrs[k] for k in ("source", "warm_start") if k in t.user_attrs}
