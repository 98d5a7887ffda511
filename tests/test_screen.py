"""The zero-cost warm start (``--warm-start naswot:K``): its parsing, its pick rule and its search path."""

from __future__ import annotations

import optuna
import pytest

import bsnas
from bsnas.cli import main
from bsnas.data import load_data
from bsnas.errors import SearchError
from bsnas.space import load_space
from bsnas.space.choices import params_of
from bsnas.study import SearchConfig, run_search
from bsnas.study.screen import pareto_picks, parse_screen, screened_count, zero_cost_warm_start

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_parse_screen_reads_score_and_count_and_names_what_is_wrong():
    assert parse_screen("naswot:200") == ("naswot", 200)
    assert parse_screen("baselines") is None and parse_screen("designs.txt") is None and parse_screen(None) is None
    with pytest.raises(SearchError, match="'bogus:3' names no zero-cost score.*naswot"):
        parse_screen("bogus:3")
    with pytest.raises(SearchError, match="must be between 1 and .*but got 0"):
        parse_screen("naswot:0")


def test_pareto_picks_take_the_undominated_networks_first_cheapest_first():
    # (score, cost): 0 (5, 2), 1 (4, 1), 2 (3, 3) is beaten by 0 on both, 3 (6, 4)
    assert pareto_picks([5, 4, 3, 6], [2, 1, 3, 4], 3) == [1, 0, 3]
    assert pareto_picks([5, 4, 3, 6], [2, 1, 3, 4], 10) == [1, 0, 3, 2]
    assert pareto_picks([1.0], [1.0], 4) == [0] and pareto_picks([], [], 3) == []
    with pytest.raises(SearchError, match="one cost per score"):
        pareto_picks([1, 2], [1], 1)


def test_screened_count_is_the_samplers_random_start():
    assert screened_count("tpe", 100) == 10 and screened_count("tpe", 8) == 4 and screened_count("gp", 12) == 6
    assert screened_count("nsga2", 100) == 20 and screened_count("random", 3) == 3


def test_the_screen_enqueues_the_pareto_set_of_score_against_flops():
    space = load_space("tiny")
    study = optuna.create_study(directions=["maximize", "minimize"])
    seen = {}

    def score_of(arch):  # any deterministic score will do: the rule is what is tested
        seen[bsnas.encode_arch(arch)] = value = float(len(bsnas.encode_arch(arch)) % 7)
        return value

    notes = zero_cost_warm_start(study, space, "naswot:12", 3, score_of, (1, 8, 8), 10, {}, seed=3)
    texts = list(seen)
    flops = [bsnas.count(t, (1, 8, 8)).flops for t in texts]
    expected = [texts[i] for i in pareto_picks([seen[t] for t in texts], flops, 3)]
    queued = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.WAITING]
    assert len(seen) == 12 and len(queued) == 3
    assert [t.system_attrs["fixed_params"] for t in queued] == [params_of(space, bsnas.decode_arch(e))
                                                                 for e in expected]
    assert all(t.user_attrs["source"] == "zero-cost" and t.user_attrs["naswot"] == seen[e]
               for t, e in zip(queued, expected, strict=True))
    assert notes[-1].startswith("warm start naswot:12: scored 12 networks, enqueued 3")


def test_a_naswot_warm_start_runs_through_the_search_and_is_not_repeated_on_resume(tmp_path, capsys):
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "4", "--epochs", "1", "--subset", "128",
            "--study", "zc", "--runs-dir", str(tmp_path), "--warm-start", "naswot:10", "--quiet"]
    assert main(argv) == 0
    assert "warm start naswot:10: scored 10 networks, enqueued 4" in capsys.readouterr().out
    study = bsnas.study.load_existing_study("zc", runs_dir=tmp_path)
    assert [t.user_attrs.get("source") for t in study.trials] == ["zero-cost"] * 4
    data = load_data("digits", resolution=8, val_size=0.2, seed=0)
    first = study.trials[0]
    assert first.user_attrs["naswot"] == pytest.approx(
        bsnas.zero_cost_scores(first.user_attrs["arch"], data, "naswot", seed=0)["naswot"], rel=1e-6)
    assert main([*argv[:6], "6", *argv[7:]]) == 0  # resumed with more trials: nothing enqueued again
    study = bsnas.study.load_existing_study("zc", runs_dir=tmp_path)
    assert [t.user_attrs.get("source") for t in study.trials].count("zero-cost") == 4 and len(study.trials) == 6


def test_a_zero_cost_warm_start_needs_the_searchs_data(capsys):
    with pytest.raises(SearchError, match="scores networks on the search's training data"):
        SearchConfig(space="nas_bench_macro", data=None, evaluator="table", warm_start="naswot:50")
    assert main(["search", "--space", "tiny", "--data", "digits", "--warm-start", "naswot:-1"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warm-start" in err[0]


def test_run_search_with_a_screen_from_python(tmp_path):
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=2, epochs=1, subset=128, study="zp",
                                    runs_dir=str(tmp_path), warm_start="grad_norm:3", sampler="random")
    notes = []
    study = run_search(cfg, log=notes.append)
    assert notes[-1].startswith("warm start grad_norm:3: scored 3 networks, enqueued 2")
    assert all("grad_norm" in t.user_attrs for t in study.trials)
