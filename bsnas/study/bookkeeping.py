"""When a search worker trains, waits or stops: pure functions over summaries of a study's trials.

A worker reads the study, summarises each trial (:func:`summarize`) and
asks :func:`next_step` what to do. The rules, in order:

1. **target**: ``target`` architectures are trained (with ``--fidelity asha``,
   trained to the top rung or stopped at a lower one) → stop, done.
2. **failures**: the last ``max_failures`` trials finished since this run
   started all failed in training → stop with the last reason. A surplus
   step-back, a reused duplicate, an infeasible sample, a dead worker's
   trial and an interrupted one neither count as failures nor break a run
   of them, except that a trained or reused trial ends the run.
3. **cap**: ``max_attempts`` trials exist → stop, saying how many were
   trained, of how many asked for, and why the rest did not count.
4. **in flight**: trained plus running trials reach ``target`` → wait, as
   running trials may still fail.
5. otherwise → train one more.

A running trial whose worker has not been seen for ``stale_after`` seconds
is *stale*: the step lists it, and the worker marks it failed.

:func:`steps_back` is the check a trial makes right before training:
workers check the count, then start a trial, so two can pass the check
together. Trial numbers are handed out in order by the storage, so the later
one steps back (``surplus``) when its earlier trials already reach the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from optuna.trial import FrozenTrial

__all__ = ["STOP", "TRAIN", "WAIT", "Rules", "Step", "TrialSummary", "is_stale", "next_step", "steps_back",
           "summarize"]

TRAIN, WAIT, STOP = "train", "wait", "stop"
#: ``fail_kind`` of a trial that failed in training; other kinds are faults around it.
TRAINING_FAILURE = "error"


@dataclass(frozen=True)
class TrialSummary:
    """What bookkeeping needs of one trial."""

    number: int
    state: str  # running, complete, fail, pruned or waiting
    status: str | None = None  # trained, reused, infeasible or surplus (bsnas's own user attribute)
    last_alive: float | None = None  # unix seconds of the start or the last heartbeat
    fail_kind: str | None = None  # error (training failed), worker-died or interrupted
    fail_reason: str | None = None

    @property
    def trained(self) -> bool:
        """Trained on the proxy: to full fidelity, or stopped at a lower rung by successive halving."""
        return self.state == "complete" and self.status in ("trained", "stopped")


def summarize(t: FrozenTrial) -> TrialSummary:
    """The summary of an Optuna trial (its state, bsnas status, heartbeat and failure)."""
    a = t.user_attrs
    alive = a.get("heartbeat") or (t.datetime_start.timestamp() if t.datetime_start else None)
    return TrialSummary(t.number, t.state.name.lower(), a.get("status"), alive, a.get("fail_kind"),
                        a.get("fail_reason"))


@dataclass(frozen=True)
class Rules:
    target: int  # architectures to train
    max_attempts: int  # trials of any kind before giving up
    max_failures: int = 10  # training failures in a row that stop the run
    stale_after: float = 6 * 3600.0  # seconds without a sign of life after which a running trial is dead
    since: int = 0  # the first trial number of this run (earlier failures do not count against it)


class Step(NamedTuple):
    action: str  # TRAIN, WAIT or STOP
    reason: str  # target, failures, cap, in-flight or below-target
    message: str = ""
    stale: tuple[int, ...] = ()  # running trials whose worker died: mark them failed


def is_stale(s: TrialSummary, rules: Rules, now: float) -> bool:
    """A running trial whose worker has not been heard from for ``rules.stale_after`` seconds."""
    return s.state == "running" and (s.last_alive is None or s.last_alive < now - rules.stale_after)


def _failures_in_a_row(trials: Sequence[TrialSummary], since: int) -> tuple[int, str]:
    count, last = 0, ""
    for s in sorted((s for s in trials if s.number >= since), key=lambda s: s.number, reverse=True):
        if s.state == "complete" and s.status in ("trained", "reused"):
            break
        if s.state == "fail" and (s.fail_kind or TRAINING_FAILURE) == TRAINING_FAILURE:
            count += 1
            last = last or (s.fail_reason or "no reason recorded")
    return count, last


def _cap_message(trials: Sequence[TrialSummary], trained: int, rules: Rules) -> str:
    kinds = {"over budget": sum(s.status == "infeasible" for s in trials),
             "repeated an architecture already trained": sum(s.status == "reused" for s in trials),
             "failed": sum(s.state == "fail" for s in trials),
             "stepped back as surplus": sum(s.status == "surplus" for s in trials)}
    why = ", ".join(f"{n} {what}" for what, n in kinds.items() if n)
    return (f"stopped after {len(trials)} trials (the cap for --trials {rules.target}) with {trained} of "
            f"{rules.target} architectures trained; of the rest, {why or 'none were trained'}. The space under "
            "this budget has too few distinct architectures to reach the target: ask for fewer --trials, raise "
            "the budget or widen the space")


def next_step(trials: Sequence[TrialSummary], rules: Rules, now: float) -> Step:
    """What a worker does next (see the module docstring for the rules)."""
    trained = sum(s.trained for s in trials)
    stale = tuple(s.number for s in trials if is_stale(s, rules, now))
    if trained >= rules.target:
        return Step(STOP, "target", f"{trained} of {rules.target} architectures trained", stale)
    failures, last = _failures_in_a_row(trials, rules.since)
    if failures >= rules.max_failures:
        return Step(STOP, "failures", f"{failures} trials in a row failed; the last said: {last}", stale)
    if len(trials) >= rules.max_attempts:
        return Step(STOP, "cap", _cap_message(trials, trained, rules), stale)
    running = sum(s.state == "running" and s.number not in stale for s in trials)
    if trained + running >= rules.target:
        return Step(WAIT, "in-flight", f"{running} running trials may still reach the target", stale)
    return Step(TRAIN, "below-target", f"{trained} of {rules.target} trained", stale)


def steps_back(trials: Sequence[TrialSummary], number: int, rules: Rules, now: float) -> bool:
    """Whether trial ``number`` must step back: its earlier trials, trained or running, reach the target."""
    earlier = [s for s in trials if s.number < number]
    return sum(s.trained or (s.state == "running" and not is_stale(s, rules, now)) for s in earlier) >= rules.target
