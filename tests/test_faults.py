"""Faults a search survives: kill -9 mid-trial on every storage, Ctrl-C, two processes starting one new study,
and a killed --jobs worker. Each ends with exactly N trained, distinct architectures and every stale trial
FAIL with a reason. Slow (real processes, real waits): run with ``pytest -m slow``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from bsnas.status import status_of
from bsnas.storage import open_storage

pytestmark = pytest.mark.slow
ENV = {**os.environ, "BSNAS_HEARTBEAT_SECONDS": "0.5", "BSNAS_STALE_AFTER": "4"}
N = 4


def search_cmd(tmp_path, storage: str | None, study: str, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "bsnas", "search", "--space", "tiny", "--data", "digits", "--trials", str(N),
           "--epochs", "40", "--study", study, "--runs-dir", str(tmp_path / "runs"), "--quiet", *extra]
    return cmd + (["--storage", storage] if storage else [])


def url_of(tmp_path, storage: str | None, study: str) -> str:
    return storage or f"sqlite:///{tmp_path / 'runs' / study / 'study.db'}"


def trials(url: str, study: str):
    try:
        return optuna.load_study(study_name=study, storage=open_storage(url, writing=False)).get_trials()
    except Exception:  # not created yet
        return []


def wait_for_training(url: str, study: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = trials(url, study)
        trained = sum(t.user_attrs.get("status") == "trained" for t in now)
        training = [t for t in now if t.state == TrialState.RUNNING and t.user_attrs.get("status") == "training"]
        if training and trained == 0:  # the first architecture: it has a whole training ahead of it
            return
        assert proc.poll() is None, "the search ended before a trial was caught training"
        time.sleep(0.1)
    raise AssertionError("no trial started training in time")


def assert_exactly_n(url: str, study: str, n: int = N) -> list:
    all_trials = trials(url, study)
    trained = [t for t in all_trials if t.state == TrialState.COMPLETE and t.user_attrs.get("status") == "trained"]
    archs = [t.user_attrs["arch"] for t in trained]
    assert len(trained) == n and len(set(archs)) == n, archs
    assert not [t for t in all_trials if t.state == TrialState.RUNNING]
    failed = [t for t in all_trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs.get("fail_reason") for t in failed), [t.user_attrs for t in failed]
    return failed


def storages():
    yield pytest.param("sqlite", id="sqlite")
    yield pytest.param("journal", id="journal")
    yield pytest.param("postgres", id="postgresql")


@pytest.mark.parametrize("kind", storages())
def test_kill_9_mid_trial_then_resume_reaches_exactly_n(tmp_path, kind):
    study = f"kill-{kind}-{uuid.uuid4().hex[:6]}"
    storage = _storage(tmp_path, kind)
    url = url_of(tmp_path, storage, study)
    proc = subprocess.Popen(search_cmd(tmp_path, storage, study), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_training(url, study, proc)
    proc.kill()
    proc.wait()
    start = time.time()
    done = subprocess.run(search_cmd(tmp_path, storage, study), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    failed = assert_exactly_n(url, study)
    dead = [t for t in failed if t.user_attrs.get("fail_kind") == "worker-died"]
    assert len(dead) == 1 and "its worker died" in dead[0].user_attrs["fail_reason"]
    assert time.time() - start < 300
    if kind == "postgres":
        optuna.delete_study(study_name=study, storage=url)


def test_ctrl_c_marks_the_trial_interrupted_in_one_line_and_resume_finishes(tmp_path):
    url = url_of(tmp_path, None, "int")
    proc = subprocess.Popen(search_cmd(tmp_path, None, "int"), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for_training(url, "int", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err, err
    interrupted = [t for t in trials(url, "int") if t.state == TrialState.FAIL]
    assert [t.user_attrs["fail_reason"] for t in interrupted] == ["interrupted"]
    done = subprocess.run(search_cmd(tmp_path, None, "int"), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert_exactly_n(url, "int")


def _storage(tmp_path, kind: str) -> str | None:
    if kind == "postgres" and not os.environ.get("BSNAS_TEST_POSTGRES_URL"):
        pytest.skip("no PostgreSQL server: set BSNAS_TEST_POSTGRES_URL (bash .ci/run installs and starts one)")
    return {"sqlite": None, "journal": str(tmp_path / "study.log"),
            "postgres": os.environ.get("BSNAS_TEST_POSTGRES_URL")}[kind]


@pytest.mark.parametrize("kind", storages())
def test_two_processes_start_the_same_new_study_at_once(tmp_path, kind):
    storage = _storage(tmp_path, kind)
    study = f"twin-{uuid.uuid4().hex[:6]}"
    cmd = search_cmd(tmp_path, storage, study, "--epochs", "5")
    procs = [subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    assert_exactly_n(url_of(tmp_path, storage, study), study)


def test_jobs_2_with_a_killed_worker_still_reaches_the_target(tmp_path):
    url = url_of(tmp_path, None, "jobs")
    proc = subprocess.Popen(search_cmd(tmp_path, None, "jobs", "--jobs", "2"), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for_training(url, "jobs", proc)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    workers = [int(c) for c in children if "bsnas" in _cmdline(int(c)) or "multiprocessing" in _cmdline(int(c))]
    assert workers, children
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "Pareto front" in out
    assert_exactly_n(url, "jobs")


def test_jobs_worker_errors_reach_the_user(tmp_path):
    cmd = search_cmd(tmp_path, None, "bad", "--jobs", "2", "--lr", "1e12", "--epochs", "2")
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "trials in a row failed" in done.stderr and "diverged" in done.stderr


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_kill_9_mid_rung_resumes_the_trial_from_its_checkpoint(tmp_path):
    url = url_of(tmp_path, None, "rung")
    cmd = search_cmd(tmp_path, None, "rung", "--fidelity", "asha", "--min-epochs", "4", "--max-epochs", "40",
                     "--eta", "3")
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not any(t.state == TrialState.RUNNING and "acc_e4" in t.user_attrs for t in trials(url, "rung")):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    all_trials = trials(url, "rung")
    dead = [t for t in all_trials if t.user_attrs.get("fail_kind") == "worker-died"]
    retry = [t for t in all_trials if t.user_attrs.get("retry_of") == dead[0].number]
    assert len(dead) == 1 and len(retry) == 1 and status_of(retry[0]).counts_toward_target
    assert retry[0].user_attrs["arch"] == dead[0].user_attrs["arch"]
    assert retry[0].user_attrs["resumed_from_epoch"] >= 4  # from the checkpoint, not from scratch
    assert retry[0].user_attrs["acc_e4"] == dead[0].user_attrs["acc_e4"]
    finished = [t for t in all_trials if status_of(t).counts_toward_target]
    archs = [t.user_attrs["arch"] for t in finished]
    assert len(finished) == N and len(set(archs)) == N
    assert not list((tmp_path / "runs" / "rung" / "checkpoints").rglob("*.pt"))
