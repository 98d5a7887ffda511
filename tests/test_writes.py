"""A trial's parameters and user attributes written in groups: one commit each on RDB storages,
one write per item elsewhere, the same values either way."""

from __future__ import annotations

import os
import warnings

import optuna
import pytest
import sqlalchemy

from bsnas.arch.codec import encode_arch
from bsnas.samplers import sample_and_store
from bsnas.samplers.tpe import SnapshotTPESampler
from bsnas.space.choices import sample_arch
from bsnas.space.schema import load_space
from bsnas.storage import open_storage
from bsnas.storage.writes import set_user_attrs

GROUP = {"arch": "stem:head", "flops": 123, "conv_mix": {"bsconv_u": 2}, "status": "training"}


def _write_commits(engine) -> list:
    """A list that grows by one at each commit of a transaction that wrote (reads commit too)."""
    commits, wrote = [], []
    sqlalchemy.event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *a: wrote.append(
        statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))))
    sqlalchemy.event.listen(engine, "commit", lambda conn: (commits.append(1) if any(wrote) else None,
                                                            wrote.clear()))
    return commits


def _running_trial(storage) -> optuna.Trial:
    study = optuna.create_study(storage=storage, study_name="s")
    return study.ask()


def test_a_group_is_one_commit_on_sqlite_and_reads_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = open_storage(url)
    trial = _running_trial(storage)
    commits = _write_commits(storage.engine)
    set_user_attrs(trial, GROUP)
    assert len(commits) == 1
    assert trial.user_attrs == GROUP  # the objective's own view
    fresh = optuna.load_study(study_name="s", storage=open_storage(url, writing=False))
    assert fresh.get_trials()[0].user_attrs == GROUP
    commits.clear()
    for key, value in GROUP.items():  # what Optuna's one-by-one write costs
        trial.set_user_attr(key, value)
    assert len(commits) == len(GROUP)


def test_a_group_that_cannot_be_written_leaves_nothing_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    trial = _running_trial(open_storage(url))
    with pytest.raises(TypeError):
        set_user_attrs(trial, {"status": "trained", "bad": object()})  # not JSON: the whole group fails
    assert optuna.load_study(study_name="s", storage=open_storage(url)).get_trials()[0].user_attrs == {}
    set_user_attrs(trial, GROUP)  # the storage is still usable
    assert optuna.load_study(study_name="s", storage=open_storage(url)).get_trials()[0].user_attrs == GROUP


def test_a_finished_trial_refuses_the_group_as_optuna_does(tmp_path):
    trial = _running_trial(open_storage(f"sqlite:///{tmp_path / 'study.db'}"))
    trial.study.tell(trial, 1.0)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        set_user_attrs(trial, GROUP)


@pytest.mark.parametrize("kind", ["journal", "memory"])
def test_other_storages_get_every_attribute(tmp_path, kind):
    storage = open_storage(str(tmp_path / "study.log")) if kind == "journal" else optuna.storages.InMemoryStorage()
    trial = _running_trial(storage)
    set_user_attrs(trial, GROUP)
    assert trial.user_attrs == GROUP
    assert trial.study.get_trials()[0].user_attrs == GROUP


SAMPLERS = {
    "tpe": lambda seed: SnapshotTPESampler(multivariate=True, group=True, constant_liar=True, seed=seed,
                                           n_startup_trials=3),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(population_size=4, seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def _tpe_study(storage, seed: int = 5, sampler: str = "tpe") -> optuna.Study:
    return optuna.create_study(storage=storage, sampler=SAMPLERS[sampler](seed), directions=["maximize", "minimize"])


@pytest.mark.parametrize("kind,sampler", [("sqlite", "tpe"), ("sqlite", "nsga2"), ("sqlite", "random"),
                                          ("journal", "tpe"), ("postgres", "tpe"), ("postgres", "random")])
def test_sample_and_store_samples_what_sample_arch_samples(tmp_path, kind, sampler):
    """bsnas's one-transaction path asks the sampler the same questions as Optuna's own, one by one."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    space = load_space("resnet")
    if kind == "postgres":
        url = os.environ.get("BSNAS_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("no PostgreSQL server: set BSNAS_TEST_POSTGRES_URL (bash .ci/run installs and starts one)")
        ours, theirs = (_tpe_study(open_storage(url), sampler=sampler) for _ in range(2))  # two new studies
    else:
        url = {"sqlite": "sqlite:///{}.db", "journal": "{}.log"}[kind]
        ours, theirs = (_tpe_study(open_storage(url.format(tmp_path / name)), sampler=sampler)
                        for name in ("ours", "theirs"))
    for i in range(8):
        a, b = ours.ask(), theirs.ask()
        assert encode_arch(sample_and_store(a, space)) == encode_arch(sample_arch(b, space))
        assert a.params == b.params
        for study, trial in ((ours, a), (theirs, b)):
            study.tell(trial, [((i * 7) % 13) / 13, float((i * 5) % 11)])
    stored = [t.params for t in ours.get_trials()]
    assert stored == [t.params for t in theirs.get_trials()] and all(len(p) > 10 for p in stored)


def test_the_sampler_s_joint_choices_are_one_commit(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study, space = _tpe_study(storage), load_space("resnet")
    commits = _write_commits(storage.engine)
    per_trial = []
    for i in range(12):
        trial = study.ask()
        commits.clear()
        sample_and_store(trial, space)
        per_trial.append((len(commits), len(trial.params)))
        study.tell(trial, [((i * 7) % 13) / 13, float((i * 5) % 11)])
    # Every parameter in one transaction, in the random start as after it; past the start, TPE also records
    # its choices (for the constant liar) in one transaction of its own.
    assert per_trial[0][1] > 10 and all(commits == 1 for commits, _ in per_trial[:3])
    assert all(commits <= 2 for commits, _ in per_trial[3:])


def test_an_enqueued_trial_keeps_its_parameters(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study, space = _tpe_study(storage), load_space("resnet")
    for i in range(4):
        trial = study.ask()
        sample_and_store(trial, space)
        study.tell(trial, [i / 4, float(i)])
    first = study.get_trials()[0].params
    study.enqueue_trial(first)
    trial = study.ask()
    sample_and_store(trial, space)
    assert trial.params == first


def test_an_optuna_with_other_internals_gets_optuna_s_own_path(tmp_path, monkeypatch):
    import bsnas.storage.writes as writes

    assert writes._internals_match()  # the installed Optuna: the grouped path is the one tested above
    monkeypatch.setattr(writes, "_INTERNALS_MATCH", False)
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study, space = _tpe_study(storage), load_space("resnet")
    commits = _write_commits(storage.engine)
    for i in range(5):
        trial = study.ask()
        sample_and_store(trial, space)
        study.tell(trial, [i / 5, float(i)])
    trial = study.ask()
    commits.clear()
    sample_and_store(trial, space)
    assert len(commits) >= len(trial.params) > 10  # one commit per parameter, as Optuna writes them
    commits.clear()
    set_user_attrs(trial, GROUP)
    assert len(commits) == len(GROUP) and study.get_trials()[-1].user_attrs == GROUP
