"""Samplers sized to the budget: the random start of TPE and GP and NSGA-II's population follow --trials,
every Optuna keyword can be set, bad ones are refused, and a search that would be random says so."""

from __future__ import annotations

import json

import optuna
import pytest

from bsnas.cli import main
from bsnas.errors import SearchError
from bsnas.samplers.factory import make_sampler, population, random_for_whole_budget, random_start, sampler_options
from bsnas.study import SearchConfig, run_search


@pytest.mark.parametrize("trials, start, pop", [(4, 4, 8), (8, 4, 8), (13, 6, 8), (25, 10, 8), (50, 10, 10),
                                                (100, 10, 20), (200, 10, 40), (1000, 10, 50)])
def test_the_random_start_and_the_population_follow_the_budget(trials, start, pop):
    assert random_start(trials) == start and population(trials) == pop
    assert make_sampler("tpe", 0, trials)._n_startup_trials == start
    assert make_sampler("gp", 0, trials)._n_startup_trials == start
    assert make_sampler("nsga2", 0, trials)._population_size == pop


def test_options_override_the_defaults_and_reach_the_sampler():
    sampler = make_sampler("tpe", 0, 50, {"n_startup_trials": 12, "n_ei_candidates": 7})
    assert sampler._n_startup_trials == 12 and sampler._n_ei_candidates == 7
    assert make_sampler("nsga2", 0, 50, {"population_size": 6})._population_size == 6
    assert sampler_options("tpe", 50)["constant_liar"] is True  # bsnas's own settings stay unless overridden


@pytest.mark.parametrize("name, options, fragment", [
    ("tpe", {"startup": 3}, "takes no option 'startup'; its options are .*n_startup_trials"),
    ("random", {"n": 1}, "none \\(it has no settings\\)"),
    ("tpe", {"n_startup_trials": "x"}, "n_startup_trials must be an integer >= 0, but got 'x'"),
    ("nsga2", {"population_size": 1}, "population_size must be an integer >= 2, but got 1"),
    ("nni-evolution", {"population": 5}, "takes no sampler options"),
    ("tpe", {"seed": 3}, "takes no option 'seed'"),
])
def test_bad_options_are_refused_with_what_is_accepted(name, options, fragment):
    with pytest.raises(SearchError, match=fragment):
        sampler_options(name, 50, options)
    with pytest.raises(SearchError, match=fragment):
        SearchConfig(space="nas_bench_macro", data=None, evaluator="table", sampler=name, sampler_options=options)


def test_a_search_that_would_be_random_for_its_whole_budget_is_named():
    assert "tpe samples its first 4 trials at random" in random_for_whole_budget("tpe", 4)
    assert random_for_whole_budget("tpe", 5) is None and random_for_whole_budget("tpe", 10) is None
    assert random_for_whole_budget("tpe", 3, existing=2) is None  # a warm start counts toward the random start
    assert "population_size" in random_for_whole_budget("nsga2", 8)
    assert random_for_whole_budget("nsga2", 8, {"population_size": 4}) is None
    assert random_for_whole_budget("random", 3) is None and random_for_whole_budget("nni-tpe", 3) is None


def test_the_cli_prints_the_note_once_and_takes_options(tmp_path, capsys):
    base = ["search", "--space", "nas_bench_macro", "--evaluator", "table", "--study", "o", "--runs-dir", str(tmp_path),
            "--quiet", "--format", "json"]
    assert main([*base, "--trials", "4"]) == 0
    err = capsys.readouterr().err  # --format json: stdout holds the JSON, notes go to stderr
    assert err.count("note: tpe samples its first 4 trials at random") == 1
    assert main([*base[:-2], "--trials", "4", "--study", "q"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("note: tpe samples its first 4 trials at random")
    assert main([*base, "--trials", "6", "--sampler-option", "n_startup_trials=2", "--study", "p"]) == 0
    out = capsys.readouterr()
    assert "note:" not in out.err and json.loads(out.out)["trained"] == 6
    study = optuna.load_study(study_name="p", storage=f"sqlite:///{tmp_path}/p/study.db")
    assert study.user_attrs["bsnas_config"]["sampler_options"] == {"n_startup_trials": 2}


def test_a_resumed_study_refuses_other_sampler_options(tmp_path):
    def cfg(options):
        return SearchConfig(space="nas_bench_macro", data=None, evaluator="table", trials=6, study="r",
                            runs_dir=str(tmp_path), sampler_options=options)

    run_search(cfg({"n_startup_trials": 3}))
    with pytest.raises(SearchError, match="sampler_options .*n_startup_trials.*: 3.* -> .*: 5"):
        run_search(cfg({"n_startup_trials": 5}))


def test_the_cli_refuses_an_option_without_a_value(tmp_path, capsys):
    argv = ["search", "--space", "nas_bench_macro", "--evaluator", "table", "--trials", "4", "--runs-dir",
            str(tmp_path), "--sampler-option", "n_startup_trials"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sampler-option takes KEY=VALUE" in err


def test_nni_hpo_strategies_do_not_idle_a_second_per_sample():
    from bsnas.nni.space import nni_nas
    from bsnas.nni.strategy import _no_idle_sleep

    nni_nas()
    from nni.nas.strategy import hpo

    _no_idle_sleep()
    assert hpo.time.sleep(5) is None and hpo.time.perf_counter() > 0  # everything else is the real module
    import time

    assert time.sleep is not hpo.time.sleep  # only that module's view changed
