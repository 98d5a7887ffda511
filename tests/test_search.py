from __future__ import annotations

import json
import os

import optuna
import pytest
import torch
from optuna.trial import TrialState
from stubs import HashEvaluator, arch_accuracy

from bsnas.cli import main
from bsnas.errors import SearchError
from bsnas.evaluators import Evaluation, Evaluator
from bsnas.results.front import pareto_front
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, open_storage, parse_amount, run_search, trained_trials

FAST = {"space": "tiny", "data": "digits", "epochs": 1, "subset": 256, "batch_size": 64}
TRIO = """
name: trio
input_size: [1, 8, 8]
stem: {width: [8]}
stages:
  - {block: conv, stride: 2, depth: [1], width: [8, 12, 16], ops: [bsconv_u], kernel: [3]}
"""


def config(tmp_path, **kw) -> SearchConfig:
    return SearchConfig.from_options(**{**FAST, "runs_dir": str(tmp_path / "runs"), "study": "t", **kw})


def archs_of(study):
    return [t.user_attrs["arch"] for t in trained_trials(study)]


def test_search_trains_n_architectures_and_stores_everything(tmp_path):
    cfg = config(tmp_path, trials=3)
    study = run_search(cfg)
    assert (tmp_path / "runs" / "t" / "study.db").exists()
    written = json.loads((tmp_path / "runs" / "t" / "config.json").read_text())
    assert written["trials"] == 3 and written["storage"].startswith("sqlite:///") and written["input_size"] == [1, 8, 8]
    trained = trained_trials(study)
    assert len(trained) == 3
    assert study.metric_names == ["accuracy", "flops"]
    for t in trained:
        a = t.user_attrs
        assert {"arch", "flops", "params", "accuracy", "proxy", "seed", "train_time", "images_per_sec"} <= set(a)
        assert 0 < a["eval_time"] < (t.datetime_complete - t.datetime_start).total_seconds() - a["train_time"]
        assert t.values == [a["accuracy"], float(a["flops"])]
        assert a["proxy"]["epochs"] == 1 and a["proxy"]["train_images"] == 256


def test_params_objective_and_amounts(tmp_path):
    study = run_search(config(tmp_path, trials=2, objectives=("accuracy", "flops", "params")),
                       evaluator=HashEvaluator())
    assert study.metric_names == ["accuracy", "flops", "params"] and len(study.directions) == 3
    assert parse_amount("50M") == 50_000_000 and parse_amount("1.5k") == 1500 and parse_amount("2G") == 2 * 10**9
    with pytest.raises(Exception, match="cannot read '50X'"):
        parse_amount("50X")


def test_budget_is_enforced_before_training(tmp_path):
    evaluator = HashEvaluator()
    study = run_search(config(tmp_path, trials=4, max_flops=250_000, sampler="random"), evaluator=evaluator)
    trained = trained_trials(study)
    assert len(trained) == 4 == len(evaluator.evaluated)
    assert sorted(evaluator.evaluated) == sorted(t.user_attrs["arch"] for t in trained)
    assert all(t.user_attrs["flops"] <= 250_000 and t.constraints["flops"] <= 0 for t in trained)
    infeasible = [t for t in study.trials if t.user_attrs.get("status") == "infeasible"]
    assert infeasible, "the random sampler should have drawn over-budget architectures"
    assert all(t.constraints["flops"] > 0 and "accuracy" not in t.user_attrs for t in infeasible)
    assert all(f["mflops"] * 1e6 <= 250_000 for _, f in pareto_front(study).iterrows())


def test_budget_below_the_smallest_architecture_stops_before_starting(tmp_path):
    with pytest.raises(SearchError, match=r"smallest architecture of space 'tiny' has 34,496 FLOPs, over the "
                                          r"budget of 1,000"):
        run_search(config(tmp_path, max_flops=1000))
    assert not (tmp_path / "runs" / "t" / "study.db").exists()


def test_duplicates_are_reused_not_retrained(tmp_path):
    space = tmp_path / "trio.yaml"
    space.write_text(TRIO)
    evaluator = HashEvaluator()
    study = run_search(config(tmp_path, space=str(space), trials=3, sampler="random"), evaluator=evaluator)
    archs = archs_of(study)
    assert len(archs) == len(set(archs)) == 3 == len(evaluator.evaluated)
    reused = [t for t in study.trials if t.user_attrs.get("status") == "reused"]
    assert reused, "three architectures, random draws: some repeat"
    by_number = {t.number: t for t in study.trials}
    for t in reused:
        source = by_number[t.user_attrs["reused_from"]]
        assert source.user_attrs["arch"] == t.user_attrs["arch"] and t.values == source.values
        assert t.user_attrs["val_loss"] == source.user_attrs["val_loss"]  # every metric the evaluator named


def test_a_space_smaller_than_the_target_is_refused_before_starting(tmp_path):
    space = tmp_path / "trio.yaml"
    space.write_text(TRIO)
    with pytest.raises(SearchError, match="space 'trio' has only 3 architectures, fewer than --trials 4"):
        run_search(config(tmp_path, space=str(space), trials=4))


def test_a_surplus_step_back_is_pruned_not_failed(tmp_path):
    import contextlib

    from bsnas.evaluators import EvalContext
    from bsnas.space import load_space
    from bsnas.study.bookkeeping import Rules
    from bsnas.study.claim import Claims
    from bsnas.study.liveness import Liveness
    from bsnas.study.objective import Objective, SearchContext
    from bsnas.study.worker import run_trial

    cfg = config(tmp_path, trials=2)
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.ask(), study.ask()  # two trials in flight already reach the target of 2
    evaluator = HashEvaluator()
    evaluator.setup(EvalContext(study, None, (1, 8, 8), 10, 0, "cpu", cfg.objectives, {"flops": 1e6}, tmp_path))
    lock = lambda name="": contextlib.nullcontext()  # noqa: E731
    claims = Claims(study, lock, Rules(target=2, max_attempts=100), Liveness())
    last = run_trial(study, Objective(SearchContext(cfg, load_space("tiny"), evaluator, claims, (1, 8, 8), 10)))
    assert last.state == TrialState.PRUNED and last.user_attrs["status"] == "surplus"
    assert "fail_reason" not in last.user_attrs and "fail_kind" not in last.user_attrs
    assert not evaluator.evaluated


def test_resume_continues_to_the_total(tmp_path):
    first = run_search(config(tmp_path, trials=2), evaluator=HashEvaluator())
    kept = archs_of(first)
    study = run_search(config(tmp_path, trials=4), evaluator=HashEvaluator())
    assert len(trained_trials(study)) == 4 and archs_of(study)[:2] == kept
    numbers = [t.number for t in study.trials]
    assert numbers == sorted(set(numbers))


def test_interrupted_search_resumes_without_losing_or_repeating(tmp_path):
    def stop_after_first(study, trial):
        if trial.state == TrialState.COMPLETE:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(config(tmp_path, trials=3), on_trial=stop_after_first, evaluator=HashEvaluator())
    study = run_search(config(tmp_path, trials=3), evaluator=HashEvaluator())
    assert len(trained_trials(study)) == 3 and len(set(archs_of(study))) == 3
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3  # nothing lost, nothing repeated


def test_changed_configuration_is_refused(tmp_path):
    run_search(config(tmp_path, trials=1), evaluator=HashEvaluator())
    with pytest.raises(SearchError, match=r"epochs 1 -> 2.*repeat the original settings"):
        run_search(config(tmp_path, trials=2, epochs=2), evaluator=HashEvaluator())


class Flaky(Evaluator):
    """Fails its first two evaluations (an exception, then out of memory), then scores by hash."""

    def __init__(self):
        self.calls = 0

    def evaluate(self, request):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        if self.calls == 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return Evaluation({"accuracy": arch_accuracy(request.arch_string)})


def test_failing_trials_do_not_end_the_search(tmp_path):
    study = run_search(config(tmp_path, trials=2), evaluator=Flaky())
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert [t.user_attrs["fail_reason"] for t in failed] == ["RuntimeError: boom",
                                                             "OutOfMemoryError: CUDA out of memory (simulated)"]
    assert [status_of(t) for t in failed] == [Status.FAILED, Status.FAILED]
    assert len(trained_trials(study)) == 2


def test_diverging_trials_fail_with_the_reason_and_give_up_after_ten(tmp_path, monkeypatch):
    with pytest.raises(SearchError, match="10 trials in a row failed; the last said: BsnasError: training diverged"):
        run_search(config(tmp_path, trials=2, epochs=3, subset=512, lr=1e12, warmup=0.0))


def test_failing_trials_print_one_line_each_and_no_traceback(tmp_path, capsys):
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "2", "--epochs", "2", "--subset", "256",
            "--lr", "1e12", "--study", "div", "--runs-dir", str(tmp_path), "--quiet"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "10 trials in a row failed" in captured.err
    lines = [ln for ln in captured.out.splitlines() if ln.strip() and not ln.startswith("note: ")]  # 2 trials: random
    assert len(lines) == 10 and all(" fail " in ln and "training diverged" in ln for ln in lines), lines
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "gp", "random"])
def test_samplers_are_seeded(tmp_path, sampler):
    a = run_search(config(tmp_path / "a", trials=3, sampler=sampler, seed=7), evaluator=HashEvaluator())
    b = run_search(config(tmp_path / "b", trials=3, sampler=sampler, seed=7), evaluator=HashEvaluator())
    assert archs_of(a) == archs_of(b)
    assert [t.user_attrs["accuracy"] for t in trained_trials(a)] == [t.user_attrs["accuracy"]
                                                                       for t in trained_trials(b)]


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_parallel_workers_share_one_study(tmp_path, storage):
    url = None if storage == "sqlite" else str(tmp_path / "study.log")
    study = run_search(config(tmp_path, trials=5, jobs=2, storage=url, sampler="random"), evaluator=HashEvaluator(0.2))
    trained = trained_trials(study)
    assert len(trained) == 5 and len({t.user_attrs["arch"] for t in trained}) == 5
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]


def test_storage_falls_back_to_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "env.log"
    monkeypatch.setenv("BSNAS_STORAGE", str(path))
    run_search(config(tmp_path, trials=1), evaluator=HashEvaluator())
    assert path.exists() and not (tmp_path / "runs" / "t" / "study.db").exists()
    study = optuna.load_study(study_name="t", storage=open_storage(str(path)))
    assert len(trained_trials(study)) == 1


def test_postgresql_storage(tmp_path):
    url = os.environ.get("BSNAS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set BSNAS_TEST_POSTGRES_URL (bash .ci/run installs and starts one)")
    name = f"pg-{os.getpid()}"
    study = run_search(config(tmp_path, trials=3, jobs=2, storage=url, study=name, sampler="random"),
                       evaluator=HashEvaluator(0.2))
    assert len(trained_trials(study)) == 3
    optuna.delete_study(study_name=name, storage=url)


def test_search_cli_prints_trials_and_the_front(tmp_path, capsys):
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "2", "--epochs", "1", "--subset", "200",
            "--study", "cli", "--runs-dir", str(tmp_path), "--max-flops", "2M", "--objectives", "accuracy,flops,params"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count(" trained ") >= 2 and "Pareto front" in out and "stem_" in out


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (["--max-flops", "50X"], "cannot read '50X' as an amount"),
        (["--objectives", "flops,accuracy"], "objectives must be accuracy (or, with --evaluator zero-cost"),
        (["--space", "nope"], "no search space file at 'nope'"),
        (["--max-params", "10"], "smallest architecture of space 'tiny' has 1,284 params, over the budget of 10"),
        (["--storage", "mongodb:/x"], "neither a database URL"),
        (["--storage", "mysql://u@h/db"], "is a mysql URL, which bsnas does not support"),
        (["--storage", "sqlite:///:memory:"], "use memory: for a study in memory"),
        (["--storage", "memory:", "--jobs", "2"], "--jobs 2 needs a storage that processes share"),
        (["--subset", "100000"], "--subset 100000 is larger than the 1438 training images"),
    ],
)
def test_search_cli_errors(tmp_path, capsys, extra, fragment):
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "1", "--runs-dir", str(tmp_path), *extra]
    if "--space" in extra:
        argv = argv[:1] + argv[3:]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_storage_passwords_are_masked():
    from bsnas.storage import mask_url

    assert mask_url("postgresql+psycopg://bob:hunter2@db.example:5432/nas") == "postgresql+psycopg://bob:***@db.example:5432/nas"
    assert mask_url("postgresql://bob:p@ss@host/db?password=x&sslmode=y") == "postgresql://bob:***@host/db?password=***&sslmode=y"
    assert mask_url("runs/x/study.log") == "runs/x/study.log" and mask_url("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_the_database_check_waits_for_a_process_creating_the_file(tmp_path):
    """Another process holds the storage lock while its new database file is still empty: opening waits
    for it instead of refusing the half-made file."""
    import threading

    from bsnas.storage import storage_lock

    db = tmp_path / "study.db"
    url = f"sqlite:///{db}"
    opened = []
    with storage_lock(url):
        db.touch()  # what the other process has made so far
        opener = threading.Thread(target=lambda: opened.append(open_storage(url)))
        opener.start()
        opener.join(timeout=1.0)
        assert opener.is_alive() and not opened  # waiting on the lock, not refusing the empty file
        optuna.create_study(storage=optuna.storages.RDBStorage(url), study_name="other")  # the other finishes
    opener.join(timeout=30)
    assert opened and [s.study_name for s in opened[0].get_all_studies()] == ["other"]
    db.write_bytes(b"")
    with pytest.raises(SearchError, match="empty"):  # an empty file nobody is making is still refused
        open_storage(url)
