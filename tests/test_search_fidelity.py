"""Budgets at the deployment size, multi-objective successive halving, warm start and the inverse of sampling."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest
from optuna.trial import FixedTrial, TrialState

import bsnas
from bsnas.cli import main
from bsnas.data import read_dataset
from bsnas.errors import SpaceError
from bsnas.evaluators.successive_halving import is_promoted, rung_key, rungs
from bsnas.results.export import export_trial
from bsnas.results.front import pareto_front
from bsnas.space import find_spaces, load_space, random_archs, sample_arch
from bsnas.space.choices import params_of
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search, trained_trials
from bsnas.training import ProxyConfig, train_proxy

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def digits32(tmp_path_factory):
    """The digits upscaled to 32x32 RGB: data whose native size differs from the proxy's resolution."""
    d = read_dataset("digits")
    x = np.repeat(np.kron(d.x[:, 0], np.ones((4, 4), np.uint8))[..., None], 3, axis=3)
    path = tmp_path_factory.mktemp("d32") / "digits32.npz"
    np.savez(path, x=x, y=d.y)
    return f"npz:{path}"


def test_budgets_costs_and_exports_are_at_the_deployment_size(tmp_path, digits32):
    cfg = SearchConfig.from_options(space="tiny", data=digits32, trials=3, epochs=1, subset=256, resolution=16,
                                    study="size", runs_dir=str(tmp_path), max_flops=3_000_000, sampler="random")
    study = run_search(cfg)
    assert study.user_attrs["data_info"]["input_size"] == [3, 32, 32]
    assert study.user_attrs["data_info"]["train_resolution"] == [3, 16, 16]
    assert study.user_attrs["bsnas_config"]["input_size"] == [3, 32, 32]
    for t in trained_trials(study):
        cost = bsnas.count(t.user_attrs["arch"], (3, 32, 32))
        assert (t.user_attrs["flops"], t.user_attrs["params"]) == tuple(cost)
        assert t.user_attrs["proxy"]["input_size"] == [3, 16, 16]
        assert t.user_attrs["train_flops"] == 3 * bsnas.count(t.user_attrs["arch"], (3, 16, 16)).flops * \
            t.user_attrs["images_seen"]
    infeasible = [t for t in study.trials if t.user_attrs.get("status") == "infeasible"]
    assert all(t.user_attrs["flops"] > 3_000_000 for t in infeasible)
    t = trained_trials(study)[0]
    export_trial(study, t.number, tmp_path / "out")
    record = json.loads((tmp_path / "out" / f"size-trial{t.number}.json").read_text())
    assert record["flops"] == bsnas.count(t.user_attrs["arch"], (3, 32, 32)).flops
    assert record["input_size"] == [3, 32, 32]


def test_an_explicit_input_size_moves_budgets_and_costs(tmp_path):
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=2, epochs=1, subset=256, input_size=16,
                                    study="big", runs_dir=str(tmp_path))
    study = run_search(cfg)
    assert study.user_attrs["data_info"]["input_size"] == [1, 16, 16]
    assert study.user_attrs["space_max"]["flops"] == bsnas.describe_space(load_space("tiny"), (1, 16, 16)).max_flops
    t = trained_trials(study)[0]
    assert t.user_attrs["flops"] == bsnas.count(t.user_attrs["arch"], (1, 16, 16), 10).flops
    assert t.user_attrs["proxy"]["input_size"] == [1, 8, 8]


def test_rungs_and_promotion():
    assert rungs(1, 9, 3) == (1, 3, 9) and rungs(1, 10, 3) == (1, 3, 9, 10) and rungs(2, 4, 2) == (2, 4)
    points = np.array([[0.1, 0.5], [0.2, 0.2], [0.3, 0.6], [0.5, 0.1], [0.4, 0.4], [0.35, 0.65]])
    # fronts: {0, 1, 3}, then {4, 2}, then {5}; the top ceil(6/3) = 2 by hypervolume contribution
    assert [is_promoted(points, i, 3) for i in range(6)] == [True, True, False, False, False, False]
    assert is_promoted(points[:1], 0, 3)  # the first trial to reach a rung always goes on


def reference_promoted(points: list[tuple[float, float]], mine: int, eta: int) -> bool:
    """MO-ASHA's promotion rule written out by hand for two minimised objectives, independent of moocore:
    peel Pareto fronts by pairwise dominance, rank within a front by the exact 2-D hypervolume
    contribution against (1.1, 1.1), ties by arrival order; the top ceil(n / eta) go on."""
    left, order = list(range(len(points))), []
    while left:
        front = [i for i in left if not any(points[j][0] <= points[i][0] and points[j][1] <= points[i][1]
                                            and points[j] != points[i] for j in left)]
        ranked = sorted(front, key=lambda i: points[i])
        share = {}
        for k, i in enumerate(ranked):
            x_next = points[ranked[k + 1]][0] if k + 1 < len(ranked) else 1.1
            y_prev = points[ranked[k - 1]][1] if k > 0 else 1.1
            share[i] = (x_next - points[i][0]) * (y_prev - points[i][1])
        order += sorted(front, key=lambda i: (-round(share[i], 12), i))
        left = [i for i in left if i not in front]
    return mine in order[:math.ceil(len(points) / eta)]


@pytest.fixture(scope="module")
def asha(tmp_path_factory):
    root = tmp_path_factory.mktemp("asha")
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=10, epochs=4, subset=512, study="asha",
                                    runs_dir=str(root), fidelity="asha", min_epochs=1, max_epochs=4, eta=2,
                                    sampler="random", seed=1)
    return run_search(cfg), cfg


def test_asha_judges_every_trial_at_its_rungs_exactly_as_the_rule_says(asha):
    study, cfg = asha
    done = [t for t in study.trials if status_of(t).counts_toward_target]
    assert len(done) == 10 and cfg.rungs == (1, 2, 4)
    assert {status_of(t) for t in done} == {Status.TRAINED, Status.STOPPED}
    scale = study.user_attrs["space_max"]["flops"]
    for t in done:
        a = t.user_attrs
        reached = [r for r in cfg.rungs if rung_key(r) in a]
        assert reached == list(cfg.rungs[:len(reached)]) and a["rung"] == reached[-1] == a["epochs_run"]
        full = reached[-1] == 4
        assert a["accuracy"] == a[rung_key(reached[-1])]
        assert status_of(t) is (Status.TRAINED if full else Status.STOPPED)
        # a stopped trial is PRUNED without objective values: no sampler can read its low-rung accuracy
        assert (t.state, t.values is None) == ((TrialState.COMPLETE, False) if full else (TrialState.PRUNED, True))
        assert 0 < a["eval_time"] < a["train_time"]  # scored at each rung reached
        for r in reached[:-1] + ([] if full else reached[-1:]):
            earlier = {u.user_attrs["arch"]: u for u in done if u.number < t.number and rung_key(r) in u.user_attrs}
            earlier.pop(a["arch"], None)
            points = [(1 - u.user_attrs[rung_key(r)], u.user_attrs["flops"] / scale) for u in earlier.values()]
            points.append((1 - a[rung_key(r)], a["flops"] / scale))
            went_on = rung_key(cfg.rungs[cfg.rungs.index(r) + 1]) in a
            assert reference_promoted(points, len(points) - 1, 2) == went_on, (t.number, r)
    assert not list(cfg.run_dir.joinpath("checkpoints").rglob("*.pt"))  # every checkpoint deleted at the end
    assert {t.number for t in study.best_trials} <= {t.number for t in done if status_of(t) is Status.TRAINED}


def test_a_trial_promoted_to_the_top_trains_exactly_like_full_fidelity(asha):
    study, _ = asha
    top = trained_trials(study)[0]
    data = bsnas.load_data("digits", seed=1)  # the search's validation split
    full = train_proxy(top.user_attrs["arch"], data, ProxyConfig(epochs=4, subset=512, seed=1))
    assert top.user_attrs["accuracy"] == full.val_acc and top.user_attrs["images_seen"] == full.images_seen


def test_the_front_uses_full_fidelity_and_rung_fronts_on_request(asha, capsys):
    study, cfg = asha
    front = pareto_front(study)
    assert set(front.trial) <= {t.number for t in trained_trials(study)}
    low = pareto_front(study, rung=1)
    reached = {t.number for t in study.trials if rung_key(1) in t.user_attrs and t.user_attrs["status"] != "reused"}
    assert set(low.trial) <= reached and len(reached) == 10
    accs = {t.number: t.user_attrs[rung_key(1)] for t in study.trials if t.number in set(low.trial)}
    assert list(low.accuracy) == [accs[n] for n in low.trial]
    assert main(["front", "--study", "asha", "--runs-dir", cfg.runs_dir, "--rung", "1", "--format", "json"]) == 0
    assert [r["trial"] for r in json.loads(capsys.readouterr().out)["rows"]] == list(low.trial)


@pytest.mark.parametrize("path", find_spaces(), ids=lambda p: p.stem)
def test_params_of_inverts_sampling(path):
    space = load_space(path)
    # Where a stage has an identity layer, several assignments build one network (Arch drops identities that
    # compute nothing) and params_of gives the canonical one (identities last); elsewhere it is the trial's own.
    canonical = any(t.block == "skip" for st in space.stages for t in st.layers)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(200):
        trial = study.ask()
        arch = sample_arch(trial, space)
        params = params_of(space, arch)
        assert sample_arch(FixedTrial(params), space) == arch
        assert params == trial.params or canonical
        study.tell(trial, 0.0)


def test_params_of_names_the_first_field_that_does_not_fit():
    space = load_space("resnet")
    for name in ("cifar_resnet20", "cifar_resnet20_bsconvu", "cifar_resnet20_bsconvs_p1d4",
                 "cifar_resnet20_bsconvs_p1d8"):
        arch = bsnas.baseline(name).arch
        assert sample_arch(FixedTrial(params_of(space, arch)), space) == arch
    with pytest.raises(SpaceError, match=r"s1.depth is 9, but the space allows \[1, 2, 3\]"):
        params_of(space, bsnas.baseline("cifar_resnet56").arch)
    wrong_kernel = bsnas.decode_arch(bsnas.baseline("cifar_resnet20").arch_string.replace("basic_reg_k3_s2_c32",
                                                                                          "basic_reg_k7_s2_c32"))
    with pytest.raises(SpaceError, match=r"s2.b0.kernel is 7, but the space allows \[3, 5\]"):
        params_of(space, wrong_kernel)
    with pytest.raises(SpaceError, match="cannot express"):
        params_of(load_space("tiny"), random_archs(load_space("mobilenet"), 1)[0])


def test_warm_start_enqueues_the_expressible_baselines_first(tmp_path, capsys):
    argv = ["search", "--space", "resnet", "--data", "digits", "--trials", "5", "--epochs", "1", "--subset", "128",
            "--study", "warm", "--runs-dir", str(tmp_path), "--warm-start", "baselines", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out  # beside the trial lines
    family = ["cifar_resnet20", "cifar_resnet20_bsconvu", "cifar_resnet20_bsconvs_p1d4", "cifar_resnet20_bsconvs_p1d8"]
    assert all(f"warm start {n}: enqueued" in out for n in family)
    study = bsnas.study.load_existing_study("warm", runs_dir=tmp_path)
    first = study.trials[:4]
    assert [t.user_attrs["warm_start"] for t in first] == family
    assert all(t.user_attrs["source"] == "warm-start" and t.user_attrs["status"] == "trained" for t in first)
    assert [t.user_attrs["arch"] for t in first] == [bsnas.baseline(n).arch_string for n in family]
    assert len(trained_trials(study)) == 5 and "source" not in study.trials[4].user_attrs
    assert main(argv) == 0  # resumed: nothing is enqueued twice
    assert len(study.trials) == 5


def test_warm_start_from_a_file_says_what_does_not_fit(tmp_path, capsys):
    arch = random_archs(load_space("tiny"), 1, seed=5)[0]
    record = bsnas.ArchRecord(arch, (1, 8, 8), name="mine").save(tmp_path / "mine.json")
    listing = tmp_path / "designs.txt"
    listing.write_text(f"# designs\n{bsnas.encode_arch(arch)}\n{record}\ncifar_resnet20\n")
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=2, epochs=1, subset=128, study="wf",
                                    runs_dir=str(tmp_path), warm_start=str(listing))
    notes = []
    study = run_search(cfg, log=notes.append)
    assert notes[0].endswith("enqueued (%.2f MFLOPs)" % (bsnas.count(arch, (1, 8, 8)).flops / 1e6))
    assert sum("enqueued" in n for n in notes) == 1  # the string and the record are one architecture
    assert any("cifar_resnet20: skipped, space 'tiny' cannot express" in n for n in notes)
    assert study.trials[0].user_attrs["arch"] == bsnas.encode_arch(arch)
