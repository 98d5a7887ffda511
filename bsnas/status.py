"""The status of a search trial: one enum, one predicate per question the code asks.

bsnas stores a trial's status as its ``status`` user attribute (the enum's
value), next to Optuna's own state. Each status has exactly one Optuna
state (:attr:`Status.state`), so what a sampler reads from the state agrees
with what bsnas reads from the status:

==================  =========  ====================================================
status              state      meaning
==================  =========  ====================================================
``training``        RUNNING    claimed its architecture and is being evaluated (or has just
                               written its result, and not yet its state)
``sampling``        RUNNING    sampling, or waiting for a duplicate's result
``trained``         COMPLETE   evaluated at full fidelity
``reused``          COMPLETE   a duplicate: the result of a ``trained`` trial
``infeasible``      COMPLETE   over budget, never evaluated (its constraint > 0)
``stopped``         PRUNED     successive halving stopped it below the top rung
``reused-stopped``  PRUNED     a duplicate of a ``stopped`` trial
``surplus``         PRUNED     stepped back: the target was already reached
``failed``          FAIL       its evaluation raised (``fail_reason`` says what)
``worker-died``     FAIL       its worker stopped showing signs of life
``interrupted``     FAIL       Ctrl-C or SIGTERM during the trial
``enqueued``        WAITING    warm start or a retry, not yet started
==================  =========  ====================================================

Stopped trials are PRUNED with no objective values, so TPE ranks them as
pruned and NSGA-II and GP, which read COMPLETE trials only, ignore them:
no sampler reads a low-rung accuracy as a full-fidelity result.

>>> Status.STOPPED.counts_toward_target, Status.STOPPED.is_full_fidelity
(True, False)
>>> [s.value for s in Status if s.ends_failure_run]
['trained', 'reused', 'stopped', 'reused-stopped']
"""

from __future__ import annotations

import enum

from optuna.trial import FrozenTrial, TrialState

__all__ = ["FAIL_KIND", "Status", "status_of"]

#: The user attribute that says why a FAIL trial failed (the value of a FAIL status).
FAIL_KIND = "fail_kind"


class Status(enum.Enum):
    TRAINING = "training"
    SAMPLING = "sampling"
    TRAINED = "trained"
    REUSED = "reused"
    INFEASIBLE = "infeasible"
    STOPPED = "stopped"
    REUSED_STOPPED = "reused-stopped"
    SURPLUS = "surplus"
    FAILED = "failed"
    WORKER_DIED = "worker-died"
    INTERRUPTED = "interrupted"
    ENQUEUED = "enqueued"

    @property
    def state(self) -> TrialState:
        """The Optuna state a trial with this status has."""
        return _STATES[self]

    @property
    def counts_toward_target(self) -> bool:
        """Counts toward ``--trials``: an architecture evaluated, to the top rung or stopped below it."""
        return self in (Status.TRAINED, Status.STOPPED)

    @property
    def is_full_fidelity(self) -> bool:
        """Holds a full-fidelity result (its own or a duplicate's): may be shown as best and exported."""
        return self in (Status.TRAINED, Status.REUSED)

    @property
    def on_front(self) -> bool:
        """May be on the Pareto front: full fidelity, once per architecture (duplicates are left out)."""
        return self is Status.TRAINED

    @property
    def has_result(self) -> bool:
        """A duplicate of this trial's architecture reuses its result instead of evaluating again."""
        return self in (Status.TRAINED, Status.STOPPED)

    @property
    def ends_failure_run(self) -> bool:
        """Ends a run of failures: the search evaluated (or reused) an architecture after them."""
        return self in (Status.TRAINED, Status.REUSED, Status.STOPPED, Status.REUSED_STOPPED)

    @property
    def is_failure(self) -> bool:
        """A failure of the evaluation itself, counted toward "ten failures in a row"."""
        return self is Status.FAILED

    @property
    def is_running(self) -> bool:
        return self in (Status.TRAINING, Status.SAMPLING)


_STATES = {Status.TRAINING: TrialState.RUNNING, Status.SAMPLING: TrialState.RUNNING,
           Status.TRAINED: TrialState.COMPLETE, Status.REUSED: TrialState.COMPLETE,
           Status.INFEASIBLE: TrialState.COMPLETE, Status.STOPPED: TrialState.PRUNED,
           Status.REUSED_STOPPED: TrialState.PRUNED, Status.SURPLUS: TrialState.PRUNED,
           Status.FAILED: TrialState.FAIL, Status.WORKER_DIED: TrialState.FAIL,
           Status.INTERRUPTED: TrialState.FAIL, Status.ENQUEUED: TrialState.WAITING}
_HOLDS_CLAIM = (Status.TRAINING.value, Status.TRAINED.value, Status.STOPPED.value)
_FAIL_KINDS = {"error": Status.FAILED, Status.FAILED.value: Status.FAILED,
               Status.WORKER_DIED.value: Status.WORKER_DIED, Status.INTERRUPTED.value: Status.INTERRUPTED}


def status_of(t: FrozenTrial) -> Status:
    """The status of a stored trial, read from its Optuna state first and its attributes second.

    The state decides the family (a COMPLETE trial is never read as failed, even if a late
    ``fail_kind`` reached it); a FAIL trial's ``fail_kind`` says which failure (none recorded:
    a failed evaluation); a trial without a ``status`` attribute reads as Optuna's state alone.
    """
    attrs = t.user_attrs
    if t.state == TrialState.FAIL:
        return _FAIL_KINDS.get(attrs.get(FAIL_KIND), Status.FAILED)
    if t.state == TrialState.WAITING:
        return Status.ENQUEUED
    if t.state == TrialState.RUNNING:  # claimed; or finishing: its result written, its state not yet
        return Status.TRAINING if attrs.get("status") in _HOLDS_CLAIM else Status.SAMPLING
    try:
        status = Status(attrs.get("status"))
    except ValueError:
        status = None
    legacy = status is Status.STOPPED and t.state == TrialState.COMPLETE  # bsnas 0.1 kept stopped trials COMPLETE
    if status is not None and (status.state == t.state or legacy):
        return status
    return Status.SURPLUS if t.state == TrialState.PRUNED else Status.TRAINED
