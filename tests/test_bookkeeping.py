"""The search's bookkeeping rules, table-driven over trial summaries: nothing is trained here."""

from __future__ import annotations

import pytest

from bsnas.status import Status
from bsnas.study.bookkeeping import STOP, TRAIN, WAIT, Rules, TrialSummary, next_step, steps_back

NOW = 1_000_000.0
RULES = Rules(target=3, max_attempts=10, max_failures=2, stale_after=60.0)


def t(number, status=Status.TRAINED, alive=NOW - 1, reason=None) -> TrialSummary:
    return TrialSummary(number, status, alive if status.is_running else None, reason)


def running(number, alive=NOW - 1):
    return t(number, Status.TRAINING, alive=alive)


def failed(number, kind=Status.FAILED, reason="boom"):
    return t(number, kind, reason=reason)


CASES = {
    "empty study trains": ([], TRAIN, "below-target", ()),
    "below target trains": ([t(0), t(1)], TRAIN, "below-target", ()),
    "target reached stops": ([t(0), t(1), t(2)], STOP, "target", ()),
    "target counts trained only": ([t(0), t(1, Status.REUSED), t(2, Status.INFEASIBLE), t(3, Status.SURPLUS)],
                                   TRAIN, "below-target", ()),
    "stopped by successive halving counts": ([t(0), t(1, Status.STOPPED), t(2, Status.STOPPED)], STOP, "target",
                                             ()),
    "a reused stopped result does not count": ([t(0), t(1, Status.STOPPED), t(2, Status.REUSED_STOPPED)], TRAIN,
                                               "below-target", ()),
    "in flight reaching target waits": ([t(0), t(1), running(2)], WAIT, "in-flight", ()),
    "a trial still sampling is in flight": ([t(0), t(1), t(2, Status.SAMPLING)], WAIT, "in-flight", ()),
    "in flight below target trains": ([t(0), running(1)], TRAIN, "below-target", ()),
    "stale running trial is listed and not counted": ([t(0), t(1), running(2, alive=NOW - 61)], TRAIN,
                                                      "below-target", (2,)),
    "running without a sign of life is stale": ([t(0), t(1), running(2, alive=None)], TRAIN, "below-target", (2,)),
    "stale trials are listed when stopping too": ([t(0), t(1), t(2), running(3, alive=0.0)], STOP, "target", (3,)),
    "failures in a row stop": ([t(0), failed(1), failed(2)], STOP, "failures", ()),
    "a trained trial breaks the run": ([failed(0), t(1), failed(2)], TRAIN, "below-target", ()),
    "a stopped trial breaks the run": ([failed(0), t(1, Status.STOPPED), failed(2)], TRAIN, "below-target", ()),
    "a reused trial breaks the run": ([failed(0), t(1, Status.REUSED_STOPPED), failed(2)], TRAIN, "below-target",
                                      ()),
    "surplus is not a failure": ([t(0), failed(1), t(2, Status.SURPLUS), t(3, Status.SURPLUS)], TRAIN,
                                 "below-target", ()),
    "surplus does not break a run of failures": ([failed(0), t(1, Status.SURPLUS), failed(2)], STOP, "failures", ()),
    "infeasible samples do not break a run of failures": ([failed(0), t(1, Status.INFEASIBLE), failed(2)], STOP,
                                                          "failures", ()),
    "a dead worker is not a training failure": ([failed(0, Status.WORKER_DIED), failed(1, Status.INTERRUPTED),
                                                 failed(2)], TRAIN, "below-target", ()),
    "cap stops": ([t(i, Status.INFEASIBLE) for i in range(10)], STOP, "cap", ()),
    "target wins over the cap": ([t(i, Status.INFEASIBLE) for i in range(7)] + [t(7), t(8), t(9)], STOP, "target",
                                 ()),
}


@pytest.mark.parametrize("name", list(CASES))
def test_next_step(name):
    trials, action, reason, stale = CASES[name]
    step = next_step(trials, RULES, NOW)
    assert (step.action, step.reason, step.stale) == (action, reason, stale)


def test_failures_before_this_run_started_do_not_count():
    trials = [t(0), failed(1), failed(2), failed(3)]
    assert next_step(trials, Rules(3, 10, max_failures=2, since=3), NOW).action == TRAIN
    assert next_step(trials, Rules(3, 10, max_failures=2, since=2), NOW).reason == "failures"


def test_ten_failures_spread_between_stopped_trials_do_not_stop_an_asha_search():
    """Under successive halving most trials end stopped; failures between them are not 'in a row'."""
    trials = []
    for i in range(10):
        trials += [failed(2 * i), t(2 * i + 1, Status.STOPPED)]
    assert next_step(trials, Rules(target=50, max_attempts=1000, max_failures=10), NOW).action == TRAIN


def test_failure_stop_quotes_the_last_reason():
    step = next_step([failed(0, reason="first"), failed(1, reason="last one")], RULES, NOW)
    assert step.message == "2 trials in a row failed; the last said: last one"


def test_cap_message_says_how_many_of_how_many_and_why():
    trials = [t(0), t(1, Status.REUSED)] + [t(i, Status.INFEASIBLE) for i in range(2, 9)] + [failed(9)]
    step = next_step(trials, RULES, NOW)
    assert step.reason == "cap"
    assert step.message.startswith("stopped after 10 trials (the cap for --trials 3) with 1 of 3 architectures "
                                   "evaluated; of the rest, 7 over budget, 1 repeated an architecture already "
                                   "evaluated, 1 failed.")
    assert "too few distinct architectures" in step.message


SURPLUS = {
    "earlier trials below the target: train": ([t(0), t(1)], 2, False),
    "earlier trained reach the target: step back": ([t(0), t(1), t(2)], 3, True),
    "earlier running count": ([t(0), running(1), running(2)], 3, True),
    "later trials do not count": ([t(0), t(1), running(3), running(4)], 2, False),
    "stale earlier trials do not count": ([t(0), t(1), running(2, alive=NOW - 600)], 3, False),
    "reused and infeasible do not count": ([t(0), t(1, Status.REUSED), t(2, Status.INFEASIBLE)], 3, False),
}


@pytest.mark.parametrize("name", list(SURPLUS))
def test_steps_back(name):
    trials, number, expected = SURPLUS[name]
    assert steps_back(trials, number, RULES, NOW) is expected
