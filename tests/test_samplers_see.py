"""What each sampler reads of a search where successive halving stopped some trials below the top rung.

Stopped trials are PRUNED with no objective values. TPE reads them as pruned (never in its good group
while complete trials fill it); GP reads COMPLETE trials only, so it never sees them; NSGA-II (Optuna 5.1
reads every trial and keeps the COMPLETE ones of each generation itself) builds its generations and
parents from complete trials only, so it proposes as if they were not there. None of them can read a
stopped trial's low-rung accuracy as a full-fidelity result.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from stubs import HashEvaluator

import bsnas.samplers.tpe as snapshot
from bsnas.samplers import make_sampler
from bsnas.space import load_space, sample_arch
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search


def _search(tmp_path_factory, sampler: str, trials: int = 24):
    """A search whose best-scoring architectures were judged below full fidelity (as ASHA stops them)."""
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=trials, study="seen", sampler=sampler,
                                    runs_dir=str(tmp_path_factory.mktemp("seen")))
    study = run_search(cfg, evaluator=HashEvaluator(stop_above=0.8))
    trials = study.get_trials()
    stopped = [t for t in trials if status_of(t) is Status.STOPPED]
    assert stopped and all(t.state == TrialState.PRUNED and t.values is None for t in stopped)
    return trials, {t.number for t in stopped}


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    return _search(tmp_path_factory, "random")


@pytest.fixture(scope="module")
def searched_by_nsga2(tmp_path_factory):
    """An NSGA-II search of 40 trials (population 8): its trials carry their generation, so a sampler that
    reads them selects parents from the later generations, not at random."""
    trials, stopped = _search(tmp_path_factory, "nsga2", 40)
    key = next(k for k in trials[-1].system_attrs if k.endswith("generation"))
    assert max(t.system_attrs.get(key, 0) for t in trials) >= 2
    return trials, stopped


def _copy(trials, sampler) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.add_trials(trials)
    return study


def _seen(monkeypatch, sampler_name: str, trials) -> list:
    """The trials the sampler reads while it samples the next architecture."""
    seen = []
    real_study, real_snapshot = optuna.Study._get_trials, snapshot._StudySnapshot._get_trials

    def study_reads(self, deepcopy=True, states=None, use_cache=False):
        got = real_study(self, deepcopy, states, use_cache)
        seen.extend(got if states is not None else [])
        return got

    def snapshot_reads(self, deepcopy=True, states=None, use_cache=False, **other):
        got = real_snapshot(self, deepcopy, states, use_cache, **other)
        seen.extend(got)
        return got

    monkeypatch.setattr(optuna.Study, "_get_trials", study_reads)
    monkeypatch.setattr(snapshot._StudySnapshot, "_get_trials", snapshot_reads)
    study = _copy(trials, make_sampler(sampler_name, seed=1))
    if sampler_name == "tpe":
        study.sampler._n_startup_trials = 5  # past its random start on these trials
    sample_arch(study.ask(), load_space("tiny"))
    return seen


def test_gp_reads_complete_trials_only(searched, monkeypatch):
    trials, stopped = searched
    seen = _seen(monkeypatch, "gp", trials)
    assert seen and {t.state for t in seen} <= {TrialState.COMPLETE, TrialState.RUNNING}  # the one asking
    assert not {t.number for t in seen} & stopped


@pytest.mark.parametrize("sampler", ["nsga2", "gp"])
def test_nsga2_and_gp_propose_as_if_the_stopped_trials_were_not_there(searched, searched_by_nsga2, sampler):
    trials, stopped = searched_by_nsga2 if sampler == "nsga2" else searched
    space = load_space("tiny")
    with_them = _copy(trials, make_sampler(sampler, seed=1))
    without = _copy([t for t in trials if t.number not in stopped], make_sampler(sampler, seed=1))
    a, b = with_them.ask(), without.ask()
    assert sample_arch(a, space) == sample_arch(b, space)


def test_tpe_reads_stopped_trials_as_pruned_without_values(searched, monkeypatch):
    trials, stopped = searched
    seen = _seen(monkeypatch, "tpe", trials)
    as_seen = {t.number: t for t in seen}
    assert stopped <= set(as_seen)  # TPE does read them ...
    assert all(as_seen[n].state == TrialState.PRUNED and as_seen[n].values is None for n in stopped)  # ... as pruned
    split = getattr(optuna.samplers._tpe.sampler, "_split_trials", None)
    if split is None:
        pytest.skip("this Optuna has no _split_trials to show TPE's two groups")
    study = _copy(trials, make_sampler("tpe", seed=1))
    candidates = [t for t in study.get_trials() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    complete = [t for t in candidates if t.state == TrialState.COMPLETE]
    below, above = split(study, candidates, len(complete) // 2)
    assert not {t.number for t in below} & stopped and stopped <= {t.number for t in above}
