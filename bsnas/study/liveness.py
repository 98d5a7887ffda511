"""Signs of life of running trials, the same on every storage and on machines whose clocks disagree.

Optuna's own heartbeat exists for RDB storages only, and a JournalFile has none, so bsnas keeps its
own. From the moment a trial starts (before it samples, and while it waits for a duplicate's result),
a thread writes a counter into its ``heartbeat`` user attribute every :func:`heartbeat_seconds`, with
the evaluation's progress (epoch, images per second) when there is one. A failed write (a locked
database, a dropped connection) is retried at the next beat; the thread stops when the trial ends.

Staleness never compares the clocks of two machines: each worker remembers, by its own monotonic
clock, when it last saw a trial's counter change (:class:`Liveness`). A running trial whose counter
has not changed for :func:`stale_after` seconds belongs to a worker that died (kill -9, a lost
machine): any worker marks it FAIL with ``fail_kind=worker-died`` and a ``fail_reason``, state and
attributes in one step (:func:`bsnas.storage.fail_running`), and enqueues the same architecture again
(``retry_of``), which continues from the dead trial's last rung checkpoint when there is one.
``BSNAS_HEARTBEAT_SECONDS`` and ``BSNAS_STALE_AFTER`` change the defaults (10 s and 60 s).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

from bsnas.status import FAIL_KIND, Status, status_of
from bsnas.storage import fail_running
from bsnas.study.bookkeeping import TrialSummary

__all__ = ["DEAD_REASON", "Heartbeat", "Liveness", "heartbeat_seconds", "mark_dead", "stale_after"]

DEAD_REASON = "its worker died (no sign of life for {seconds:.0f} s); the search trained another architecture"


def heartbeat_seconds() -> float:
    return float(os.environ.get("BSNAS_HEARTBEAT_SECONDS", 10))


def stale_after() -> float:
    return float(os.environ.get("BSNAS_STALE_AFTER", 60))


def beat_of(t: FrozenTrial) -> object:
    """The trial's heartbeat counter (None before its first beat)."""
    beat = t.user_attrs.get("heartbeat")
    return beat.get("beat") if isinstance(beat, dict) else beat


class Liveness:
    """When this worker last saw each running trial's heartbeat change, by this worker's monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._seen: dict[int, tuple[object, float]] = {}

    def last_alive(self, t: FrozenTrial, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        beat = beat_of(t)
        seen = self._seen.get(t.number)
        if seen is None or seen[0] != beat:
            self._seen[t.number] = seen = (beat, now)
        return seen[1]

    def summarize(self, trials: Iterable[FrozenTrial], now: float | None = None) -> list[TrialSummary]:
        """The bookkeeping summary of each trial; running ones with this worker's sighting of them."""
        now = self.clock() if now is None else now
        out = []
        for t in trials:
            status = status_of(t)
            alive = self.last_alive(t, now) if status.is_running else None
            out.append(TrialSummary(t.number, status, alive, t.user_attrs.get("fail_reason")))
        return out


class Heartbeat:
    """``with Heartbeat(storage, trial_id):`` writes the trial's ``heartbeat`` now and every few seconds.

    :meth:`report` records the evaluation's progress; the next beat stores it, and ``on_progress``
    (called in this process) hears it at once.
    """

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int, interval: float | None = None,
                 on_progress: Callable[[dict], None] | None = None):
        self.storage, self.trial_id = storage, trial_id
        self.interval = heartbeat_seconds() if interval is None else interval
        self.on_progress = on_progress
        self.count, self.progress, self.failures = 0, None, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bsnas-heartbeat", daemon=True)

    def report(self, **progress) -> None:
        self.progress = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in progress.items()}
        if self.on_progress is not None:
            self.on_progress(dict(self.progress))

    def _beat(self) -> bool:
        """One beat; False when the trial has finished (stop beating)."""
        self.count += 1
        value = {"beat": self.count, **({"progress": self.progress} if self.progress else {})}
        try:
            self.storage.set_trial_user_attr(self.trial_id, "heartbeat", value)
            return True
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        except Exception:  # a locked database, a dropped connection: try again at the next beat
            self.failures += 1
            try:
                return not self.storage.get_trial(self.trial_id).state.is_finished()
            except Exception:
                return True

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


def mark_dead(study: optuna.Study, trials: Iterable[FrozenTrial], reason: str | None = None) -> list[int]:
    """Fail the running ``trials``, whose worker stopped showing signs of life, and enqueue a retry of each
    that was evaluating; return the numbers this call failed (another worker may have been first)."""
    why = reason or DEAD_REASON.format(seconds=stale_after())
    me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    failed = []
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        attrs = {"fail_reason": why, FAIL_KIND: Status.WORKER_DIED.value, "failed_by": me}
        if not fail_running(study._storage, t._trial_id, attrs):  # it finished, or another worker failed it
            continue
        failed.append(t.number)
        if status_of(t) is Status.TRAINING:  # it was evaluating: retry it (from its checkpoint)
            source = {k: t.user_attrs[k] for k in ("source", "warm_start") if k in t.user_attrs}
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, **source})
    return failed
