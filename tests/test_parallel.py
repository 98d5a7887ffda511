"""Parallel search that keeps its promises: successive halving with --jobs, waiting for a duplicate,
heartbeats through storage errors and clock skew, failing a dead trial in one step, shared locks, the
whole recipe in the fingerprint, and checkpoints that belong to one study."""

from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np
import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState
from stubs import HashEvaluator, held_elsewhere

import bsnas
from bsnas.cli import main
from bsnas.errors import SearchError
from bsnas.evaluators import EvalContext
from bsnas.space import load_space
from bsnas.status import Status, status_of
from bsnas.storage import fail_running, load_existing_study, open_storage
from bsnas.study import SearchConfig, run_search, trained_trials
from bsnas.study.bookkeeping import Rules, next_step
from bsnas.study.claim import Claims
from bsnas.study.liveness import Heartbeat, Liveness, mark_dead
from bsnas.study.objective import Objective, SearchContext
from bsnas.study.worker import run_trial

SOLO = """
name: solo
input_size: [1, 8, 8]
stem: {width: [8]}
stages:
  - {block: conv, stride: 2, depth: [1], width: [8, 12], ops: [bsconv_u], kernel: [3]}
"""


@pytest.mark.slow  # a real process each (kill, port scan, two workers): the slow suite
def test_asha_with_two_jobs_reaches_the_target_and_so_does_its_rerun(tmp_path):
    # With eta 8 only a trial better than every earlier one at rung 1 goes on (top ceil(n/8) = 1 of n <= 8), so
    # a run where no trial is stopped needs the 8 to arrive in order of merit: about 1 in 8! = 40,320.
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "8", "--epochs", "2", "--subset", "64",
            "--fidelity", "asha", "--min-epochs", "1", "--max-epochs", "2", "--eta", "8", "--jobs", "2",
            "--study", "aj", "--runs-dir", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    assert main(argv) == 0  # resumed: the target is already met
    study = load_existing_study("aj", runs_dir=tmp_path)
    counted = [t for t in study.trials if status_of(t).counts_toward_target]
    assert len(counted) == 8 and len({t.user_attrs["arch"] for t in counted}) == 8
    assert Status.STOPPED in {status_of(t) for t in counted}  # the case that used to end in "exited with codes"


def test_the_worker_failure_message_reads_well():
    from bsnas.study.run import _worker_failure

    class Proc:
        exitcode = 0

    class Empty:
        def get(self, timeout):
            import queue

            raise queue.Empty

    assert _worker_failure([Proc(), Proc()], Empty()).startswith("the worker processes exited with codes [0, 0] "
                                                                 "before the target was met")


def _objective(study, cfg, space, rules, evaluator):
    evaluator.setup(EvalContext(study, None, (1, 8, 8), 10, 0, "cpu", cfg.objectives, {"flops": 1e6},
                                cfg.run_dir / "checkpoints"))
    claims = Claims(study, lambda name="": contextlib.nullcontext(), rules, Liveness(), poll=0.05)
    return Objective(SearchContext(cfg, space, evaluator, claims, (1, 8, 8), 10))


def test_a_trial_waiting_for_a_duplicate_keeps_its_heartbeat_and_then_reuses_the_result(tmp_path, monkeypatch):
    monkeypatch.setenv("BSNAS_HEARTBEAT_SECONDS", "0.1")
    space_file = tmp_path / "solo.yaml"
    space_file.write_text(SOLO.replace("width: [8, 12]", "width: [8]"))  # one architecture: every trial draws it
    space = load_space(space_file)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    cfg = SearchConfig.from_options(space=str(space_file), data=None, input_size=(1, 8, 8), num_classes=10,
                                    study="dup", runs_dir=str(tmp_path))
    study_a = optuna.create_study(study_name="dup", storage=open_storage(url), directions=["maximize", "minimize"])
    rules = Rules(target=1, max_attempts=100, stale_after=1.0)
    # Worker A holds the claim and evaluates, beating; worker B draws the same architecture and must wait.
    holder = study_a.ask()
    text = bsnas.encode_arch(bsnas.space.random_archs(space, 1)[0])
    holder.set_user_attr("arch", text)
    holder.set_user_attr("status", "training")
    study_b = optuna.load_study(study_name="dup", storage=open_storage(url))
    finished = []
    with Heartbeat(study_a._storage, holder._trial_id, interval=0.1):
        waiter = threading.Thread(target=lambda: finished.append(
            run_trial(study_b, _objective(study_b, cfg, space, rules, HashEvaluator()))))
        waiter.start()
        # Worker C, between trials, looks for dead workers for three stale periods.
        watcher, study_c = Liveness(), optuna.load_study(study_name="dup", storage=open_storage(url))
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            trials = study_c.get_trials(deepcopy=False)
            step = next_step(watcher.summarize(trials), rules, watcher.clock())
            mark_dead(study_c, [t for t in trials if t.number in step.stale])
            assert not step.stale, f"trial(s) {step.stale} taken for dead while alive"
            time.sleep(0.1)
        assert waiter.is_alive()  # still waiting for the holder's result
        holder.set_user_attr("accuracy", 0.75)
        holder.set_user_attr("status", "trained")
        study_a.tell(holder, [0.75, 1.0])
    waiter.join(10)
    assert finished and status_of(finished[0]) is Status.REUSED and finished[0].user_attrs["reused_from"] == 0


def test_a_worker_whose_trial_someone_else_failed_goes_on(tmp_path):
    """Another worker took this trial for dead while it still evaluated: this worker's result is refused
    by the storage, and it goes on to the next trial instead of dying; the retry evaluates it again."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    calls = []

    def evaluate(model, data, trial):
        calls.append(trial.number)
        if trial.number == 0:  # what a worker that took it for dead does, from its own connection
            storage = open_storage(url)
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", "its worker died (test)")
            storage.set_trial_user_attr(trial._trial_id, "fail_kind", "worker-died")
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        return 0.5 + 0.01 * trial.number

    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=3, epochs=1, storage=url, study="gone",
                                    runs_dir=str(tmp_path))
    study = run_search(cfg, evaluate=evaluate)
    assert study.trials[0].state == TrialState.FAIL and status_of(study.trials[0]) is Status.WORKER_DIED
    assert len(trained_trials(study)) == 3 and len(calls) == 4


class FlakyStorage:
    """A storage whose first ``n`` attribute writes fail as a locked SQLite database does."""

    def __init__(self, storage, n: int):
        self.storage, self.n, self.failed = storage, n, 0

    def set_trial_user_attr(self, trial_id, key, value):
        if self.failed < self.n:
            self.failed += 1
            raise sqlalchemy.exc.OperationalError("UPDATE ...", {}, Exception("database is locked"))
        return self.storage.set_trial_user_attr(trial_id, key, value)

    def get_trial(self, trial_id):
        if self.failed < self.n:
            raise sqlalchemy.exc.OperationalError("SELECT ...", {}, Exception("server closed the connection"))
        return self.storage.get_trial(trial_id)


def test_the_heartbeat_survives_storage_errors_and_stops_when_the_trial_ends(tmp_path):
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'hb.db'}"))
    trial = study.ask()
    flaky = FlakyStorage(study._storage, 4)
    with Heartbeat(flaky, trial._trial_id, interval=0.05) as beat:
        deadline = time.monotonic() + 5
        while "heartbeat" not in study._storage.get_trial(trial._trial_id).user_attrs:
            assert time.monotonic() < deadline and beat.thread.is_alive(), "the heartbeat gave up"
            time.sleep(0.02)
        assert flaky.failed == 4 and beat.failures >= 3
        study.tell(trial, 1.0)
        beat.thread.join(2)
        assert not beat.thread.is_alive()  # stopped by itself once the trial ended


def test_staleness_follows_the_heartbeat_counter_not_the_clocks_of_other_machines():
    clock = [0.0]
    liveness = Liveness(clock=lambda: clock[0])
    rules = Rules(target=5, max_attempts=100, stale_after=60.0)

    def running(beat):
        return optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={"status": "training",
                                                                               "heartbeat": beat})

    # A worker on a machine whose clock is two hours behind: its old wall-clock heartbeats still change.
    behind = time.time() - 7200
    for second in range(0, 300, 10):
        clock[0] = float(second)
        t = running(behind + second)
        assert not next_step(liveness.summarize([t]), rules, clock[0]).stale
    clock[0] += 61  # then nothing changes for longer than stale_after, by this worker's own clock
    assert next_step(liveness.summarize([t]), rules, clock[0]).stale == (t.number,)
    fresh = Liveness(clock=lambda: clock[0])  # a worker that just started gives it stale_after from now
    assert not next_step(fresh.summarize([t]), rules, clock[0]).stale


def _completing_hook(engine, url: str, trial_id: int, when: str):
    """Complete ``trial_id`` from another connection right before ``when`` (an SQL fragment) first runs."""
    done = []

    def before(conn, cursor, statement, params, context, executemany):
        if not done and when in statement:
            done.append(1)
            other = optuna.storages.RDBStorage(url)
            other.set_trial_user_attr(trial_id, "status", "trained")
            other.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.9])
            other.engine.dispose()

    sqlalchemy.event.listen(engine, "before_cursor_execute", before)
    return done


def test_a_trial_that_finishes_while_it_is_marked_dead_keeps_its_result_and_no_failure_label(tmp_path):
    url = f"sqlite:///{tmp_path / 'mark.db'}"
    study = optuna.create_study(storage=open_storage(url))
    trial = study.ask()
    done = _completing_hook(study._storage._backend.engine, url, trial._trial_id, "INSERT INTO trial_user_attributes")
    attrs = {"fail_reason": "its worker died", "fail_kind": "worker-died"}
    assert fail_running(study._storage, trial._trial_id, attrs) is False
    assert done
    final = optuna.load_study(study_name=study.study_name, storage=open_storage(url)).trials[0]
    assert final.state == TrialState.COMPLETE and final.values == [0.9]
    assert "fail_reason" not in final.user_attrs and "fail_kind" not in final.user_attrs


@pytest.mark.parametrize("kind", ["sqlite", "journal", "memory"])
def test_marking_a_trial_dead_sets_its_state_and_attributes_together(tmp_path, kind):
    storage = {"sqlite": lambda: open_storage(f"sqlite:///{tmp_path / 'd.db'}"),
               "journal": lambda: open_storage(str(tmp_path / "d.log")),
               "memory": lambda: optuna.storages.InMemoryStorage()}[kind]()
    study = optuna.create_study(storage=storage)
    trial = study.ask({"x": optuna.distributions.CategoricalDistribution([1, 2])})
    trial.set_user_attr("status", "training")
    frozen = study.get_trials()[0]
    assert mark_dead(study, [frozen]) == [0]
    assert mark_dead(study, [frozen]) == []  # a second worker finds it failed already: no second retry
    dead = study.get_trials()[0]
    assert dead.state == TrialState.FAIL and status_of(dead) is Status.WORKER_DIED
    assert "its worker died" in dead.user_attrs["fail_reason"] and dead.user_attrs["failed_by"]
    retries = [t for t in study.get_trials() if t.user_attrs.get("retry_of") == 0]
    assert len(retries) == 1 and retries[0].state == TrialState.WAITING
    assert retries[0].system_attrs["fixed_params"] == trial.params


def test_a_journal_trial_completed_just_before_the_mark_is_left_as_it_is(tmp_path):
    storage = open_storage(str(tmp_path / "race.log"))
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    other = open_storage(str(tmp_path / "race.log"))  # the trial's own worker
    real = storage._backend.append_logs

    def append(logs):  # the owner's result lands between the mark's look and its write
        other.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [0.5])
        storage._backend.append_logs = real
        return real(logs)

    storage._sync_with_backend()
    storage._backend.append_logs = append
    assert fail_running(storage, trial._trial_id, {"fail_kind": "worker-died", "failed_by": "x"}) is False
    final = open_storage(str(tmp_path / "race.log")).get_trial(trial._trial_id)
    assert final.state == TrialState.COMPLETE and "fail_kind" not in final.user_attrs


def _pg_url() -> str:
    url = os.environ.get("BSNAS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set BSNAS_TEST_POSTGRES_URL (bash .ci/run installs and starts one)")
    return url


def _other_spelling(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    host = "localhost" if u.host in ("127.0.0.1", None) else "127.0.0.1"
    driver = "postgresql" if "+" in u.drivername else "postgresql+psycopg"
    return u.set(host=host, drivername=driver).render_as_string(hide_password=False)


def test_the_postgresql_lock_is_the_same_for_every_spelling_of_the_url(monkeypatch):
    from bsnas.storage import backend_for

    url = _pg_url()
    other = _other_spelling(url)
    assert other != url
    monkeypatch.setenv("BSNAS_LOCK_TIMEOUT", "1")
    with held_elsewhere(lambda: backend_for(url).lock("study-x")):
        with pytest.raises(SearchError, match="waited 1 s for the PostgreSQL advisory lock 'study-x'"):
            with backend_for(other).lock("study-x"):
                pass
        with backend_for(other).lock("study-y"):  # another name is another lock
            pass
    engine = backend_for(url).engine()
    with backend_for(url).lock("a"), backend_for(url).lock("b"):
        pass
    assert backend_for(url).engine() is engine  # made once per process


@pytest.mark.parametrize("field,value", [
    ("amp", "bf16"), ("label_smoothing", 0.1), ("warmup", 0.0), ("weight_decay", 1e-3), ("schedule", "linear"),
    ("alpha", 0.5), ("augment", False), ("pad", 2), ("optimizer", "adamw")])
def test_the_fingerprint_covers_the_whole_recipe(tmp_path, field, value):
    cfg = dict(space="tiny", data="digits", epochs=1, study="fp", runs_dir=str(tmp_path))
    run_search(SearchConfig.from_options(**cfg, trials=1), evaluator=HashEvaluator())
    with pytest.raises(SearchError, match=f"created with other settings \\({field} "):
        run_search(SearchConfig.from_options(**cfg, **{field: value}, trials=2), evaluator=HashEvaluator())


def test_the_fingerprint_knows_the_data_by_content(tmp_path):
    digits = bsnas.data.read_dataset("digits")
    path = tmp_path / "d.npz"
    np.savez(path, x=digits.x, y=digits.y)
    cfg = dict(space="tiny", data=f"npz:{path}", study="data", runs_dir=str(tmp_path))
    run_search(SearchConfig.from_options(**cfg, trials=1), evaluator=HashEvaluator())
    np.savez(path, x=255 - digits.x, y=digits.y)  # same spec, other images
    with pytest.raises(SearchError, match="data_hash '[0-9a-f]+' -> '[0-9a-f]+'"):
        run_search(SearchConfig.from_options(**cfg, trials=2), evaluator=HashEvaluator())


def test_baselines_train_with_the_search_s_whole_recipe(tmp_path):
    from bsnas.study.fingerprint import proxy_from_fingerprint

    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=1, epochs=2, study="bl", label_smoothing=0.1,
                                    warmup=0.05, weight_decay=1e-3, schedule="linear", alpha=0.2, augment=False,
                                    pad=1, amp="bf16", runs_dir=str(tmp_path))
    study = run_search(cfg, evaluator=HashEvaluator())
    assert proxy_from_fingerprint(study.user_attrs["bsnas_config"], device="cpu") == \
        cfg.training_proxy().__class__(**{**cfg.training_proxy().__dict__, "device": "cpu"})


def test_asha_checkpoints_belong_to_one_study(tmp_path):
    """A checkpoint an old study left behind is never picked up by a new study in the same folder."""
    import shutil

    from bsnas.evaluators.asha import checkpoint_path
    from bsnas.study.studies import checkpoint_folder

    arch = bsnas.space.random_archs(load_space("tiny"), 1, seed=3)[0]
    listing = tmp_path / "first.txt"
    listing.write_text(bsnas.encode_arch(arch) + "\n")
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=1, epochs=3, subset=128, study="ck",
                                    runs_dir=str(tmp_path), fidelity="asha", min_epochs=1, max_epochs=3, eta=3,
                                    warm_start=str(listing))
    old = run_search(cfg)
    assert "resumed_from_epoch" not in old.trials[0].user_attrs
    # What a killed worker of the old study would have left: a rung checkpoint of this very architecture.
    from bsnas.training import ProxyConfig
    from bsnas.training.engine import Trainer

    data = bsnas.load_data("digits")
    trainer = Trainer(arch, data, ProxyConfig(epochs=3, subset=128), bsnas.training.engine.resolve_device("cpu"))
    trainer.run_epoch()
    state = {"trainer": trainer.state_dict(), "rung_accs": {"1": 0.5}}
    import torch

    for folder in (checkpoint_folder(cfg, old), cfg.run_dir / "checkpoints"):
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(state, checkpoint_path(folder, bsnas.encode_arch(arch)))
    (cfg.run_dir / "study.db").unlink()  # the user starts over in the same folder, with the same name
    shutil.rmtree(cfg.run_dir / "study.db.bsnas-lock", ignore_errors=True)
    new = run_search(cfg)
    assert new.trials[0].user_attrs["arch"] == bsnas.encode_arch(arch)
    assert "resumed_from_epoch" not in new.trials[0].user_attrs
    assert checkpoint_folder(cfg, new) != checkpoint_folder(cfg, old)
