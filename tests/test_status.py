"""One trial status: read from Optuna's state first and the ``status`` attribute second; one predicate per question."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from bsnas.status import Status, status_of


def trial(state, values=None, **attrs):
    return create_trial(state=state, values=values, params={"a": 1}, distributions={"a": CategoricalDistribution([1])},
                        user_attrs=attrs)


CASES = [
    (trial(TrialState.COMPLETE, [0.9, 1.0], status="trained"), Status.TRAINED),
    (trial(TrialState.COMPLETE, [0.9, 1.0], status="reused"), Status.REUSED),
    (trial(TrialState.COMPLETE, [0.0, 1.0], status="infeasible"), Status.INFEASIBLE),
    (trial(TrialState.PRUNED, status="stopped"), Status.STOPPED),
    (trial(TrialState.PRUNED, status="reused-stopped"), Status.REUSED_STOPPED),
    (trial(TrialState.PRUNED, status="surplus"), Status.SURPLUS),
    (trial(TrialState.FAIL, fail_kind="failed"), Status.FAILED),
    (trial(TrialState.FAIL, fail_kind="error"), Status.FAILED),  # bsnas 0.1's name for it
    (trial(TrialState.FAIL), Status.FAILED),
    (trial(TrialState.FAIL, fail_kind="worker-died"), Status.WORKER_DIED),
    (trial(TrialState.FAIL, fail_kind="interrupted"), Status.INTERRUPTED),
    (trial(TrialState.RUNNING, status="training"), Status.TRAINING),
    (trial(TrialState.RUNNING), Status.SAMPLING),
    (trial(TrialState.RUNNING, status="trained"), Status.TRAINING),  # result written, state not yet: still claimed
    (trial(TrialState.RUNNING, status="infeasible"), Status.SAMPLING),
    (trial(TrialState.WAITING), Status.ENQUEUED),
    # the state decides: a late failure label on a trial that completed does not make it a failure
    (trial(TrialState.COMPLETE, [0.9, 1.0], status="trained", fail_kind="worker-died"), Status.TRAINED),
    # bsnas 0.1 kept stopped trials COMPLETE
    (trial(TrialState.COMPLETE, [0.3, 1.0], status="stopped"), Status.STOPPED),
    # a status that contradicts the state is not believed
    (trial(TrialState.PRUNED, status="trained"), Status.SURPLUS),
]


@pytest.mark.parametrize("frozen,expected", CASES, ids=[f"{c[0].state.name}-{c[1].value}" for c in CASES])
def test_status_of(frozen, expected):
    assert status_of(frozen) is expected


def test_each_status_has_one_state_and_the_predicates_answer_as_the_table_says():
    assert {s: s.state for s in Status} == {
        Status.TRAINING: TrialState.RUNNING, Status.SAMPLING: TrialState.RUNNING, Status.TRAINED: TrialState.COMPLETE,
        Status.REUSED: TrialState.COMPLETE, Status.INFEASIBLE: TrialState.COMPLETE, Status.STOPPED: TrialState.PRUNED,
        Status.REUSED_STOPPED: TrialState.PRUNED, Status.SURPLUS: TrialState.PRUNED, Status.FAILED: TrialState.FAIL,
        Status.WORKER_DIED: TrialState.FAIL, Status.INTERRUPTED: TrialState.FAIL, Status.ENQUEUED: TrialState.WAITING}
    assert {s for s in Status if s.counts_toward_target} == {Status.TRAINED, Status.STOPPED}
    assert {s for s in Status if s.is_full_fidelity} == {Status.TRAINED, Status.REUSED}
    assert {s for s in Status if s.on_front} == {Status.TRAINED}
    assert {s for s in Status if s.has_result} == {Status.TRAINED, Status.STOPPED}
    assert {s for s in Status if s.is_failure} == {Status.FAILED}
    assert {s for s in Status if s.is_running} == {Status.TRAINING, Status.SAMPLING}
    assert all(s.state == TrialState.COMPLETE for s in Status if s.is_full_fidelity)
    assert not any(s.state == TrialState.COMPLETE for s in Status if s.counts_toward_target and not s.is_full_fidelity)
