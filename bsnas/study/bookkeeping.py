"""When a search worker trains, waits or stops: pure functions over summaries of a study's trials.

A worker reads the study, summarises each trial (:func:`summarize`: its
:class:`~bsnas.status.Status` and when this worker last saw a sign of life
from it) and asks :func:`next_step` what to do. The rules, in order:

1. **target**: ``target`` trials count toward ``--trials``
   (:attr:`Status.counts_toward_target`: trained, or stopped below the top
   rung by successive halving) → stop, done.
2. **failures**: the last ``max_failures`` trials finished since this run
   started all failed in evaluation → stop with the last reason. Only a
   trial that evaluated or reused an architecture ends a run of failures
   (:attr:`Status.ends_failure_run`); a surplus step-back, an infeasible
   sample, a dead worker's trial and an interrupted one neither count as
   failures nor break a run of them.
3. **cap**: ``max_attempts`` trials exist → stop, saying how many counted,
   of how many asked for, and why the rest did not.
4. **in flight**: counted plus running trials reach ``target`` → wait, as
   running trials may still fail.
5. otherwise → train one more.

A running trial this worker has not seen a sign of life from for
``stale_after`` seconds is *stale*: the step lists it, and the worker marks
it failed.

:func:`steps_back` is the check a trial makes right before it evaluates:
workers check the count, then start a trial, so two can pass the check
together. Trial numbers are handed out in order by the storage and a trial
is RUNNING from the moment it exists, so the later one steps back
(``surplus``) when its earlier trials, counted or running, already reach
the target; no lock is needed for that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from bsnas.status import Status

__all__ = ["STOP", "TRAIN", "WAIT", "Rules", "Step", "TrialSummary", "counted", "is_stale", "next_step",
           "steps_back"]

TRAIN, WAIT, STOP = "train", "wait", "stop"


@dataclass(frozen=True)
class TrialSummary:
    """What bookkeeping needs of one trial."""

    number: int
    status: Status
    last_alive: float | None = None  # this worker's clock when it last saw the trial's heartbeat change
    fail_reason: str | None = None


@dataclass(frozen=True)
class Rules:
    target: int  # trials that count toward --trials
    max_attempts: int  # trials of any kind before giving up
    max_failures: int = 10  # evaluation failures in a row that stop the run
    stale_after: float = 60.0  # seconds without a sign of life after which a running trial is dead
    since: int = 0  # the first trial number of this run (earlier failures do not count against it)


class Step(NamedTuple):
    action: str  # TRAIN, WAIT or STOP
    reason: str  # target, failures, cap, in-flight or below-target
    message: str = ""
    stale: tuple[int, ...] = ()  # running trials whose worker died: mark them failed


def counted(trials: Iterable[TrialSummary]) -> int:
    """How many trials count toward ``--trials``."""
    return sum(s.status.counts_toward_target for s in trials)


def is_stale(s: TrialSummary, rules: Rules, now: float) -> bool:
    """A running trial whose worker has not been heard from for ``rules.stale_after`` seconds."""
    return s.status.is_running and (s.last_alive is None or s.last_alive < now - rules.stale_after)


def _failures_in_a_row(trials: Sequence[TrialSummary], since: int) -> tuple[int, str]:
    count, last = 0, ""
    for s in sorted((s for s in trials if s.number >= since), key=lambda s: s.number, reverse=True):
        if s.status.ends_failure_run:
            break
        if s.status.is_failure:
            count += 1
            last = last or (s.fail_reason or "no reason recorded")
    return count, last


def _cap_message(trials: Sequence[TrialSummary], done: int, rules: Rules) -> str:
    kinds = {"over budget": sum(s.status is Status.INFEASIBLE for s in trials),
             "repeated an architecture already evaluated": sum(s.status in (Status.REUSED, Status.REUSED_STOPPED)
                                                               for s in trials),
             "failed": sum(s.status.state.name == "FAIL" for s in trials),
             "stepped back as surplus": sum(s.status is Status.SURPLUS for s in trials)}
    why = ", ".join(f"{n} {what}" for what, n in kinds.items() if n)
    return (f"stopped after {len(trials)} trials (the cap for --trials {rules.target}) with {done} of "
            f"{rules.target} architectures evaluated; of the rest, {why or 'none were evaluated'}. The space under "
            "this budget has too few distinct architectures to reach the target: ask for fewer --trials, raise "
            "the budget or widen the space")


def next_step(trials: Sequence[TrialSummary], rules: Rules, now: float) -> Step:
    """What a worker does next (see the module docstring for the rules)."""
    done = counted(trials)
    stale = tuple(s.number for s in trials if is_stale(s, rules, now))
    if done >= rules.target:
        return Step(STOP, "target", f"{done} of {rules.target} architectures evaluated", stale)
    failures, last = _failures_in_a_row(trials, rules.since)
    if failures >= rules.max_failures:
        return Step(STOP, "failures", f"{failures} trials in a row failed; the last said: {last}", stale)
    if len(trials) >= rules.max_attempts:
        return Step(STOP, "cap", _cap_message(trials, done, rules), stale)
    running = sum(s.status.is_running and s.number not in stale for s in trials)
    if done + running >= rules.target:
        return Step(WAIT, "in-flight", f"{running} running trials may still reach the target", stale)
    return Step(TRAIN, "below-target", f"{done} of {rules.target} evaluated", stale)


def steps_back(trials: Sequence[TrialSummary], number: int, rules: Rules, now: float) -> bool:
    """Whether trial ``number`` must step back: its earlier trials, counted or running, reach the target."""
    earlier = [s for s in trials if s.number < number]
    return sum(s.status.counts_toward_target or (s.status.is_running and not is_stale(s, rules, now))
               for s in earlier) >= rules.target
