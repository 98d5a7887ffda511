"""Latency in a search: objective and budget from a table, a lazy table, the front, plot, export and resume."""

from __future__ import annotations

import json

import optuna
import pytest

import bsnas
from bsnas.cli import main
from bsnas.errors import SearchError
from bsnas.latency import LatencyTable
from bsnas.latency.search import LATENCY_FILE
from bsnas.space import load_space, random_archs
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search

optuna.logging.set_verbosity(optuna.logging.WARNING)
SIZE = (1, 8, 8)  # digits


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    table = LatencyTable.new()
    table.timing = {"warmup": 1, "min_runs": 2, "min_time": 0.0}
    table.build(load_space("tiny"), SIZE, 10, rounds=1)
    return table.save(tmp_path_factory.mktemp("latency") / "tiny.json")


def _search(tmp_path, table_file, study="lat", **options):
    base = dict(space="tiny", data="digits", trials=6, epochs=1, subset=128, study=study, runs_dir=str(tmp_path),
                objectives=("accuracy", "latency"), latency_table=str(table_file))
    return run_search(SearchConfig.from_options(**{**base, **options}))


def test_a_latency_search_predicts_checks_the_budget_before_training_and_fronts_it(tmp_path, table_file, capsys):
    table, _ = LatencyTable.load(table_file)
    predicted = sorted(table.predict(a, SIZE, 10) for a in random_archs(load_space("tiny"), 30, seed=0))
    limit = predicted[len(predicted) // 2]
    study = _search(tmp_path, table_file, max_latency=limit, trials=5)
    assert study.metric_names == ["accuracy", "latency"]
    done = [t for t in study.trials if "latency" in t.user_attrs]
    for t in done:
        arch = bsnas.decode_arch(t.user_attrs["arch"])
        assert t.user_attrs["latency"] == pytest.approx(table.predict(arch, SIZE, 10), abs=1e-6)
        over = t.user_attrs["latency"] > limit
        assert (status_of(t) is Status.INFEASIBLE) == over and (("accuracy" in t.user_attrs) != over or
                                                                status_of(t) is Status.REUSED)
    assert any(status_of(t) is Status.INFEASIBLE for t in done)
    assert study.user_attrs["latency_fingerprint"] == table.fingerprint
    assert study.user_attrs["space_max"]["latency"] == pytest.approx(table.scale(load_space("tiny"), SIZE, 10))
    plot = tmp_path / "front.png"
    assert main(["front", "--study", "lat", "--runs-dir", str(tmp_path), "--x", "latency", "--plot", str(plot),
                 "--format", "json", "--measure"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert plot.stat().st_size > 0 and rows and all(r["latency"] <= limit and r["measured_ms"] > 0 for r in rows)
    assert main(["export", "--study", "lat", "--runs-dir", str(tmp_path), "--trial", str(rows[0]["trial"]),
                 "--out", str(tmp_path / "exp"), "--format", "json"]) == 0
    record = json.loads((tmp_path / "exp" / f"lat-trial{rows[0]['trial']}.json").read_text())
    assert record["latency"]["predicted_ms"] == pytest.approx(rows[0]["latency"])
    assert record["latency"]["fingerprint"] == table.fingerprint


def test_resume_refuses_a_table_of_other_settings(tmp_path, table_file):
    _search(tmp_path, table_file, trials=2)
    other = json.loads(table_file.read_text())
    other["fingerprint"]["threads"] = 2
    path = tmp_path / "two_threads.json"
    path.write_text(json.dumps(other))
    with pytest.raises(SearchError, match="other settings.*latency"):
        _search(tmp_path, path, trials=3)
    assert len(_search(tmp_path, table_file, trials=3).trials) >= 3  # the same table resumes


def test_a_lazy_table_fills_itself_in_the_study_folder(tmp_path):
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=3, epochs=1, subset=128, study="lazy",
                                    runs_dir=str(tmp_path), objectives=("accuracy", "latency", "params"),
                                    latency_backend="torch")
    study = run_search(cfg)
    saved, _ = LatencyTable.load(tmp_path / "lazy" / LATENCY_FILE)
    assert saved.units and study.metric_names == ["accuracy", "latency", "params"]
    for t in study.trials:
        arch = bsnas.decode_arch(t.user_attrs["arch"])
        assert t.user_attrs["latency"] == pytest.approx(saved.predict(arch, SIZE, 10), abs=1e-6)
    assert study.user_attrs["space_max"]["latency"] > max(t.user_attrs["latency"] for t in study.trials)


@pytest.mark.parametrize(("options", "message"), [
    ({"objectives": ("accuracy", "latency")}, "latency .* needs a latency table"),
    ({"max_latency": 2.0}, "needs a latency table"),
    ({"latency_backend": "torch"}, "latency is neither an objective nor a budget"),
    ({"objectives": ("accuracy", "latency"), "latency_backend": "tvm"}, "unknown latency backend 'tvm'"),
    ({"objectives": ("accuracy", "latency"), "latency_backend": "torch", "latency_threads": 0},
     "--latency-threads must be a positive integer"),
])
def test_latency_settings_are_checked_before_anything_runs(options, message):
    with pytest.raises(SearchError, match=message):
        SearchConfig(space="tiny", **options)


def test_the_cli_takes_a_latency_budget_in_ms(tmp_path, table_file, capsys):
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "2", "--epochs", "1", "--subset", "128",
            "--study", "cli", "--runs-dir", str(tmp_path), "--latency-table", str(table_file), "--max-latency",
            "1s", "--quiet"]
    assert main(argv) == 0
    assert " ms " in capsys.readouterr().out  # the trial lines show the predicted latency
    study = bsnas.study.load_existing_study("cli", runs_dir=tmp_path)
    assert study.user_attrs["bsnas_config"]["max_latency"] == 1000.0
    assert main([*argv[:-2], "fast", "--quiet"]) == 1
    assert "cannot read 'fast' as a latency" in capsys.readouterr().err
