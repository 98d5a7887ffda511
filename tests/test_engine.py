"""The study engine's three interfaces: evaluators, the metric registry and storage backends."""

from __future__ import annotations

import contextlib

import numpy as np
import optuna
import pytest
from stubs import HashEvaluator, arch_accuracy, held_elsewhere

import bsnas
from bsnas.errors import BsnasError, SearchError
from bsnas.evaluators import Evaluation, Evaluator
from bsnas.metrics import ANALYTIC, METRICS, Metric, check_objectives, get_metric, normalised, register_metric
from bsnas.results.front import hypervolume, pareto_front
from bsnas.status import Status, status_of
from bsnas.storage import StorageBackend, backend_for, open_storage, register_backend, storage_lock
from bsnas.storage.journal import JournalBackend
from bsnas.storage.memory import MemoryBackend
from bsnas.storage.postgres import PostgresBackend
from bsnas.storage.sqlite import SQLiteBackend
from bsnas.study import SearchConfig, run_search, trained_trials

FAST = {"space": "tiny", "data": "digits", "epochs": 1, "subset": 128, "batch_size": 64}


def config(tmp_path, **kw) -> SearchConfig:
    return SearchConfig.from_options(**{**FAST, "runs_dir": str(tmp_path / "runs"), "study": "e", **kw})


# --- evaluators -------------------------------------------------------------------------------------------


def test_an_evaluator_keeps_its_state_across_the_trials_of_a_worker(tmp_path):
    evaluator = HashEvaluator()
    study = run_search(config(tmp_path, trials=5), evaluator=evaluator)
    assert evaluator.setups == 1 and len(evaluator.evaluated) == 5 == len(trained_trials(study))
    assert all(t.user_attrs["evaluator"] == "hash" for t in trained_trials(study))


def test_an_evaluator_returns_named_metrics_that_are_stored_and_reused(tmp_path):
    study = run_search(config(tmp_path, trials=3), evaluator=HashEvaluator())
    for t in trained_trials(study):
        a = t.user_attrs
        assert a["accuracy"] == arch_accuracy(a["arch"]) and a["val_loss"] == pytest.approx(1 - a["accuracy"])
        assert a["metrics"] == ["accuracy", "val_loss"] and t.values == [a["accuracy"], float(a["flops"])]


def test_the_evaluator_is_part_of_the_fingerprint(tmp_path):
    run_search(config(tmp_path, trials=1), evaluator=HashEvaluator())
    assert bsnas.study.load_existing_study("e", runs_dir=tmp_path / "runs").user_attrs["bsnas_config"][
        "evaluator"] == {"name": "hash"}
    with pytest.raises(SearchError, match=r"evaluator \{'name': 'hash'\} -> \{'name': 'user:.*score'\}"):
        run_search(config(tmp_path, trials=2), evaluate=score)
    with pytest.raises(SearchError, match=r"evaluator \{'name': 'hash'\} -> \{'name': 'proxy'\}"):
        run_search(config(tmp_path, trials=2))


def score(model, data, trial):
    return {"accuracy": 0.5, "latency_ms": 1.0}


def test_your_own_evaluation_and_successive_halving_are_refused_together(tmp_path):
    cfg = config(tmp_path, trials=2, fidelity="asha", max_epochs=3)
    for kwargs in ({"evaluate": score}, {"evaluator": HashEvaluator()}):
        with pytest.raises(SearchError, match="fidelity='asha' trains the proxy rung by rung") as err:
            run_search(cfg, **kwargs)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "runs").exists()  # refused before anything was written


class NoAccuracy(Evaluator):
    def evaluate(self, request):
        return Evaluation({"loss": 1.0})


def test_an_evaluation_without_accuracy_fails_the_trial_with_the_reason(tmp_path):
    with pytest.raises(SearchError, match="must return an Evaluation with metrics holding 'accuracy'"):
        run_search(config(tmp_path, trials=1), evaluator=NoAccuracy())


def test_a_user_function_may_return_metrics(tmp_path):
    study = run_search(config(tmp_path, trials=2), evaluate=score)
    t = trained_trials(study)[0]
    assert t.user_attrs["latency_ms"] == 1.0 and t.user_attrs["evaluator"].startswith("user:")


@pytest.mark.parametrize("returned,fragment", [
    ({"loss": 1.0}, "a dict with an 'accuracy' key"),
    ({"accuracy": 0.5, "status": 1.0}, "returned metric 'status', a name bsnas keeps"),
    ({"accuracy": 0.5, "x": "high"}, "must return numbers as metrics"),
    ({"accuracy": 2.0}, r"accuracy in \[0, 1\], but returned 2.0"),
    (float("nan"), r"accuracy in \[0, 1\]"),
])
def test_bad_metrics_from_a_user_function_fail_in_one_line(returned, fragment):
    from bsnas.evaluators.user import check_metrics

    with pytest.raises(BsnasError, match=fragment) as err:
        check_metrics(returned, "mod.fn")
    assert "\n" not in str(err.value)


# --- metrics ----------------------------------------------------------------------------------------------


def test_the_built_in_metrics_are_registry_entries():
    assert [METRICS[n].direction for n in ("accuracy", "flops", "params")] == ["maximize", "minimize", "minimize"]
    assert [m.name for m in METRICS.values() if m.budget] == ["flops", "params", "latency"]
    points = normalised({"accuracy": [0.9, 0.5], "flops": [10.0, 50.0]}, ("accuracy", "flops"), {"flops": 100.0})
    np.testing.assert_allclose(points, [[0.1, 0.1], [0.5, 0.5]])
    with pytest.raises(BsnasError, match="unknown metric 'latencyy'; valid metrics are: accuracy, flops, grad_norm, "
                                         "latency, naswot, params, snip, synflow, zico"):
        get_metric("latencyy")
    with pytest.raises(SearchError, match=r"naswot\) followed by one or more of flops, params, latency"):
        check_objectives(("accuracy", "accuracy"))
    with pytest.raises(BsnasError, match="already registered"):
        register_metric(Metric("flops", "minimize", ANALYTIC, "again", measure=lambda f: 0))


def _blocks(frame) -> int:
    return sum(len(stage) for stage in frame.arch.stages)


def test_a_new_metric_is_one_registry_entry(tmp_path):
    """A metric registered once is an objective for the search, the front and the hypervolume."""
    register_metric(Metric("blocks", "minimize", ANALYTIC, "blocks outside the stem", measure=_blocks,
                           space_max=lambda stats: 12))
    try:
        study = run_search(config(tmp_path, trials=4, objectives=("accuracy", "blocks")), evaluator=HashEvaluator())
        assert study.metric_names == ["accuracy", "blocks"] and study.user_attrs["space_max"]["blocks"] == 12
        for t in trained_trials(study):
            assert t.values == [t.user_attrs["accuracy"], float(t.user_attrs["blocks"])]
            assert t.user_attrs["blocks"] == sum(len(s) for s in bsnas.decode_arch(t.user_attrs["arch"]).stages)
        front = pareto_front(study)
        assert "blocks" in front and len(front)
        best = {}
        for t in trained_trials(study):  # the front by hand: best accuracy at each block count, dominated dropped
            best[t.user_attrs["blocks"]] = max(best.get(t.user_attrs["blocks"], 0), t.user_attrs["accuracy"])
        kept = {b: a for b, a in best.items() if not any(b2 <= b and a2 > a for b2, a2 in best.items() if b2 != b)}
        assert sorted(zip(front.blocks, front.accuracy, strict=True)) == sorted(kept.items())
        assert 0 < hypervolume(study) < 1
    finally:
        METRICS.pop("blocks")


# --- storage backends -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url,kind", [
    ("sqlite:////tmp/x/study.db", SQLiteBackend), ("postgresql+psycopg://u@h/db", PostgresBackend),
    ("runs/x/study.log", JournalBackend), ("journal:runs/x/j", JournalBackend), ("memory:", MemoryBackend),
])
def test_each_url_has_one_backend(url, kind):
    assert type(backend_for(url)) is kind and backend_for(url) is backend_for(url)


@pytest.mark.parametrize("url,fragment", [
    ("mysql+pymysql://u:secret@h/db", "storage 'mysql+pymysql://u:***@h/db' is a mysql+pymysql URL, which bsnas "
                                      "does not support"),
    ("redis://h", "is a redis URL"),
    ("sqlite:///:memory:", "use memory: for a study in memory"),
    ("nowhere", "neither a database URL"),
])
def test_an_unsupported_storage_is_refused_with_the_supported_ones(url, fragment):
    with pytest.raises(SearchError, match="supported storages: sqlite:///PATH/study.db; postgresql") as err:
        backend_for(url)
    assert fragment in str(err.value) and "secret" not in str(err.value)


def test_an_in_memory_study_runs_in_one_process(tmp_path):
    study = run_search(config(tmp_path, trials=3, storage="memory:engine-test"), evaluator=HashEvaluator())
    assert len(trained_trials(study)) == 3 and not (tmp_path / "runs" / "e" / "study.db").exists()
    assert open_storage("memory:engine-test") is open_storage("memory:engine-test")


class DictBackend(StorageBackend):
    kind, example = "dict", "dict:NAME"
    opened: list = []

    @classmethod
    def accepts(cls, url):
        return url.startswith("dict:")

    def check(self, writing=True):
        pass

    def open(self, writing=True):
        DictBackend.opened.append(self.url)
        return MemoryBackend(f"memory:{self.url}").open()

    def lock(self, name=""):
        return contextlib.nullcontext()


def test_a_new_storage_kind_is_one_class(tmp_path):
    register_backend(DictBackend)
    try:
        study = run_search(config(tmp_path, trials=2, storage="dict:a"), evaluator=HashEvaluator())
        assert len(trained_trials(study)) == 2 and DictBackend.opened
        with pytest.raises(SearchError, match="dict:NAME"):
            backend_for("mysql://x")
    finally:
        from bsnas.storage.registry import BACKENDS

        BACKENDS.remove(DictBackend)


def test_a_file_lock_waits_with_a_timeout_and_names_its_file(tmp_path, monkeypatch):
    monkeypatch.setenv("BSNAS_LOCK_TIMEOUT", "0.5")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with held_elsewhere(lambda: storage_lock(url)):
        with pytest.raises(SearchError, match=r"waited 0.5 s for the storage lock '.*study.db.bsnas-lock', which "
                                              r"another process holds .* \$BSNAS_LOCK_TIMEOUT"):
            with storage_lock(url):
                pass
    with storage_lock(url):  # free again
        pass


def test_best_trials_and_the_front_are_full_fidelity_only(tmp_path):
    """Trials an evaluator judged below full fidelity (as successive halving's stopped ones) are PRUNED: never
    best, never on the front, whatever their accuracy."""
    study = run_search(config(tmp_path, trials=8, sampler="random"), evaluator=HashEvaluator(stop_above=0.75))
    stopped = [t for t in study.trials if status_of(t) is Status.STOPPED]
    trained = {t.number for t in trained_trials(study)}
    assert stopped and trained and all(t.state == optuna.trial.TrialState.PRUNED and t.values is None
                                       for t in stopped)
    assert max(t.user_attrs["accuracy"] for t in stopped) > max(t.values[0] for t in trained_trials(study))
    assert {t.number for t in study.best_trials} <= trained
    assert set(pareto_front(study).trial) <= trained
