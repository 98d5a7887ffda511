"""bsnas's TPE samples what Optuna's TPE samples, reading the study once per trial."""

from __future__ import annotations

import warnings

import optuna

from bsnas.samplers import make_sampler
from bsnas.samplers.tpe import SnapshotTPESampler
from bsnas.space.choices import sample_arch
from bsnas.space.schema import load_space
from bsnas.storage import open_storage


def _search(tmp_path, name: str, sampler: optuna.samplers.BaseSampler, trials: int = 14):
    """A constrained two-objective study of the resnet space on SQLite; its trials' params and storage reads."""
    storage = open_storage(f"sqlite:///{tmp_path / name}.db")
    study = optuna.create_study(storage=storage, sampler=sampler, directions=["maximize", "minimize"])
    reads = []
    real = study._storage.get_all_trials
    study._storage.get_all_trials = lambda *a, **k: reads.append(1) or real(*a, **k)
    space, chosen = load_space("resnet"), []
    for i in range(trials):
        trial = study.ask()
        sample_arch(trial, space)
        trial.set_constraint("flops", float(i % 3 - 1))  # a third infeasible, as under a budget
        reads_before = len(reads)
        study.tell(trial, [((i * 7) % 13) / 13, float((i * 5) % 11)])
        del reads[reads_before:]  # count the reads of sampling only
        chosen.append(trial.params)
    return chosen, len(reads)


def test_snapshot_tpe_samples_like_optuna_tpe_with_fewer_reads(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    kwargs = {"multivariate": True, "group": True, "constant_liar": True, "seed": 3, "n_startup_trials": 4}
    theirs, their_reads = _search(tmp_path, "optuna", optuna.samplers.TPESampler(**kwargs))
    ours, our_reads = _search(tmp_path, "bsnas", SnapshotTPESampler(**kwargs))
    assert ours == theirs
    assert len({str(p) for p in ours[4:]}) > 1  # past the random start, TPE chose (different) architectures
    assert our_reads < their_reads / 3


def test_snapshot_serves_filtered_trials_and_copies_on_request(tmp_path):
    from bsnas.samplers.tpe import _StudySnapshot

    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 's'}.db"))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.ask()
    snap = _StudySnapshot(study)
    running = snap._get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    assert [t.number for t in running] == [3] and len(snap.get_trials(deepcopy=False)) == 4
    study.ask()  # a trial started after the snapshot was taken is not in it
    assert len(snap._get_trials(deepcopy=False)) == 4 and len(snap._get_trials(deepcopy=True)) == 5
    assert snap.directions == study.directions  # everything else is the study's own


def test_the_search_s_tpe_is_the_snapshot_sampler():
    sampler = make_sampler("tpe", 0)
    assert isinstance(sampler, SnapshotTPESampler) and sampler._constant_liar and sampler._group
