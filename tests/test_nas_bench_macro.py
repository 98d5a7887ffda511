"""NAS-Bench-Macro as a bsnas space: every network built as the table's authors built it, the identity
layer in the grammar, and the table evaluator answering a search through the ordinary engine."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
import torch

import bsnas.nn.blocks
from bsnas import build_model, count, decode_arch, encode_arch
from bsnas.arch.spec import Block
from bsnas.cli import main
from bsnas.errors import ArchError, BsnasError, SearchError, SpaceError
from bsnas.evaluators.table import run_index
from bsnas.space import load_space
from bsnas.space.choices import params_of, random_archs
from bsnas.space.stats import describe_space
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search
from bsnas.tables import nas_bench_macro as nbm

KEYS = nbm.keys()


def test_the_table_holds_all_3_to_the_8_networks_with_three_runs_each():
    assert len(KEYS) == 3 ** 8 and KEYS[0] == "00000000" and KEYS[-1] == "22222222"
    e = nbm.entry("11111111")
    assert len(e.accuracies) == 3 and e.mean == pytest.approx(np.mean(e.accuracies)) and 0.9 < e.mean < 0.95


def test_every_networks_params_equal_the_table_and_its_key_round_trips():
    wrong = [k for k in KEYS if count(nbm.arch(k)).params != nbm.entry(k).params]
    assert wrong == []
    assert all(nbm.key_of(nbm.arch(k)) == nbm.canonical_key(k) for k in KEYS)
    assert all(nbm.key_of(nbm.arch(k)) == k for k in nbm.networks())


def test_keys_that_differ_only_in_where_identities_sit_are_one_network_with_one_result():
    assert nbm.canonical_key("12012201") == "12012210" and nbm.canonical_key("00000001") == "00000010"
    assert nbm.arch("12012201") == nbm.arch("12012210")  # one Arch, so one string and one evaluation
    networks = nbm.networks()
    assert len(networks) == 3969 and len({encode_arch(nbm.arch(k)) for k in networks}) == 3969
    by_network: dict[str, set] = {}
    for k in KEYS:
        e = nbm.entry(k)
        by_network.setdefault(nbm.canonical_key(k), set()).add((e.accuracies, e.params, e.flops))
    assert all(len(v) == 1 for v in by_network.values())  # the table's authors trained each network once


def test_the_table_counts_conv_and_classifier_multiply_adds_only():
    """bsnas keeps fvcore's count; the table's own convention is reproduced exactly for every network."""
    wrong = [k for k in KEYS if nbm.table_flops(nbm.arch(k)) != nbm.entry(k).flops]
    assert wrong == []
    a = nbm.arch("00000000")  # BN: 2 per output element of 5 BNs; pooling: 1280 x 4 x 4 inputs
    bn_elements = 32 * 32 * 32 + 64 * 16 * 16 + 128 * 8 * 8 + 256 * 4 * 4 + 1280 * 4 * 4
    assert count(a).flops - nbm.entry("00000000").flops == 2 * bn_elements + 1280 * 4 * 4


@pytest.mark.parametrize("key", ["00000000", "10000000", "01000000", "02120210", "22222222", "12012012"])
def test_the_built_model_agrees_with_the_table_and_fvcore(key):
    from fvcore.nn import FlopCountAnalysis

    a = nbm.arch(key)
    model = build_model(a).eval()
    assert sum(p.numel() for p in model.parameters()) == nbm.entry(key).params
    flops = FlopCountAnalysis(model, torch.zeros(1, 3, 32, 32))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    assert flops.total() == count(a).flops
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_the_digits_mean_identity_and_two_inverted_residuals():
    a = nbm.arch("01200000")
    s1, s2, s3 = a.stages
    assert s1[0] == Block.skip(2, 64)  # an identity that halves the map and doubles the width: projected
    assert (s1[1].kind, s1[1].op, s1[1].kernel, s1[1].mid) == ("ir", "dsc", 3, 64 * 3)
    assert (s2[0].kind, s2[0].kernel, s2[0].mid, s2[0].stride) == ("ir", 5, 64 * 6, 2)
    assert len(s2) == 1 and s3 == (Block.skip(2, 256),)  # the identities that compute nothing are no layers
    assert encode_arch(a).split(":")[1] == "skip_s2_c64-ir_dsc_k3_s1_c64_m192_relu"


def test_the_space_has_exactly_the_table_s_networks():
    stats = describe_space(load_space("nas_bench_macro"))
    assert stats.size == 6561 and len(stats.parameters) == 8 and all(p.endswith(".layer") for p in stats.parameters)
    params = [nbm.entry(k).params for k in KEYS]
    assert (stats.min_params, stats.max_params) == (min(params), max(params))
    flops = [count(nbm.arch(k)).flops for k in ("00000000", "22222222")]
    assert (stats.min_flops, stats.max_flops) == tuple(flops)
    assert {nbm.key_of(a) for a in random_archs(load_space("nas_bench_macro"), 30)} <= set(nbm.networks())


@pytest.mark.parametrize("key", ["1234", "0120120", "012012012", 1200, "0120120a"])
def test_a_bad_key_says_what_a_key_is(key):
    with pytest.raises(BsnasError, match="8 digits, each 0 .identity."):
        nbm.arch(key)


def test_an_architecture_outside_the_table_names_the_layer_that_does_not_fit():
    text = encode_arch(nbm.arch("10000000")).replace("ir_dsc_k3_s2_c64_m96", "ir_dsc_k7_s2_c64_m96")
    with pytest.raises(SpaceError, match=r"s1\.b0\.layer is 'ir_dsc_k7_s2_c64_m96_relu \(no layer builds it\)'"):
        params_of(nbm.space(), decode_arch(text))
    assert nbm.key_of_string(text) is None


# -- the identity layer in the grammar ---------------------------------------------------------------------

def test_a_skip_block_round_trips_and_repeats():
    text = "stem_reg_k3_s1_c8_relu:skip_s2_c16-conv_dsc_k3_s1_c16_relu:conv_reg_k3_s1_c16_relu:head"
    a = decode_arch(text)
    assert a.stages[0] == (Block.skip(2, 16), Block("conv", "dsc", 3, 1, 16, "relu")) and encode_arch(a) == text
    for spelling in ("skip_s2_c16_r3-conv_dsc_k3_s1_c16_relu", "skip_s2_c16-skip_s1_c16-conv_dsc_k3_s1_c16_relu",
                     "skip_s2_c16-conv_dsc_k3_s1_c16_relu-skip_s1_c16_r2"):
        assert decode_arch(text.replace(text.split(":")[1], spelling)) == a  # identities are no layers
    only = decode_arch("stem_reg_k3_s1_c8_relu:skip_s1_c8_r3:head")
    assert only.stages == ((Block.skip(1, 8),),)  # a stage of nothing but identities keeps one
    assert a.conv_mix() == {"regular": 2, "dsc": 1, "bsconv_u": 0, "bsconv_s": 0}  # a skip has no conv type
    model = build_model(a)
    assert isinstance(model.stages[0][0], bsnas.nn.blocks.ConvBnAct)  # the projection: 1x1 conv, BN
    assert isinstance(build_model(only).stages[0][0], torch.nn.Identity)
    assert count(a, (3, 8, 8)).params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("text, fragment", [
    ("stem_reg_k3_s1_c8_relu:skip_reg_s1_c8:head", "a skip block takes only s<int> and c<int>"),
    ("stem_reg_k3_s1_c8_relu:skip_s1:head", "missing width"),
    ("stem_reg_k3_s1_c8_relu:skip_k3_s1_c8:head", "a skip block takes only"),
])
def test_a_bad_skip_block_is_refused_with_the_token(text, fragment):
    with pytest.raises(ArchError, match=fragment):
        decode_arch(text)


def test_a_skip_block_has_only_stride_and_width():
    with pytest.raises(ArchError, match="a skip block has only a stride and a width"):
        Block("skip", "dsc", 3, 1, 8, "relu")


@pytest.mark.parametrize("stage, fragment", [
    ("{stride: 1, depth: 1, width: 8, ops: [dsc], layers: [{block: skip}]}", "not beside them"),
    ("{stride: 1, depth: 1, width: 8, layers: [{block: skip, kernel: 3}]}", "a skip layer has no conv type"),
    ("{stride: 1, depth: 1, width: 8, layers: [{block: conv, ops: [dsc, regular], kernel: 3}]}",
     "pins every field to one value"),
    ("{stride: 1, depth: 1, width: 8, layers: []}", "at least one layer"),
    ("{stride: 1, depth: 1, width: 8, layers: [{block: skip}, {block: skip}]}", "must not repeat"),
    ("{stride: 1, depth: 1, width: 8, layers: [{block: ir, ops: dsc, kernel: 3}]}", "expansion"),
])
def test_bad_layers_are_refused_with_the_field(tmp_path, stage, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\ninput_size: [1, 8, 8]\nstem: {{width: [8]}}\nstages:\n  - {stage}\n")
    with pytest.raises(SpaceError, match=fragment):
        load_space(path)


def test_a_space_of_layers_samples_replays_and_counts(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text("name: mixed\ninput_size: [1, 8, 8]\nstem: {width: [8]}\nstages:\n"
                    "  - {stride: 2, depth: [1, 2], width: [8, 16], layers: [{block: skip}, "
                    "{block: conv, ops: dsc, kernel: 3}, {block: ir, ops: bsconv_u, kernel: 5, expansion: 2}]}\n")
    space = load_space(path)
    stats = describe_space(space)
    assert stats.size == 2 * (3 + 9) and stats.parameters == ["s1.depth", "s1.width", "s1.b0.layer", "s1.b1.layer"]
    archs = random_archs(space, stats.size, seed=1)
    assert len(archs) == 2 * (3 + 3 * 2)  # every network; a second layer that is the identity is no layer
    for a in archs:
        assert decode_arch(encode_arch(a)) == a
        replayed = optuna.trial.FixedTrial(params_of(space, a))
        from bsnas.space import sample_arch
        assert sample_arch(replayed, space) == a
    flops = [count(a, (1, 8, 8)).flops for a in archs]
    assert (stats.min_flops, stats.max_flops) == (min(flops), max(flops))


# -- the table evaluator -------------------------------------------------------------------------------------

def test_a_table_search_answers_from_the_runs_and_stores_the_mean(tmp_path):
    cfg = SearchConfig(space="nas_bench_macro", data=None, evaluator="table", trials=40, sampler="random",
                       study="t", runs_dir=str(tmp_path), storage="memory:")
    study = run_search(cfg)
    trained = [t for t in study.trials if status_of(t) is Status.TRAINED]
    assert len({t.user_attrs["arch"] for t in trained}) == 40
    runs = set()
    for t in trained:
        a = t.user_attrs
        row = nbm.entry(a["table_key"])
        assert nbm.key_of_string(a["arch"]) == a["table_key"]
        assert a["accuracy"] == row.accuracies[a["table_run"]] == t.values[0]
        assert a["mean_accuracy"] == row.mean and a["table_run"] == run_index(0, t.number)
        assert a["flops"] == count(nbm.arch(a["table_key"])).flops == t.values[1]
        runs.add(a["table_run"])
    assert runs == {0, 1, 2}  # the search sees every run: real seed noise


def test_the_run_depends_on_the_seed_and_the_trial_number():
    picks = [[run_index(seed, n) for n in range(60)] for seed in (0, 1)]
    assert picks[0] != picks[1] and set(picks[0]) == {0, 1, 2}
    assert picks[0] == [run_index(0, n) for n in range(60)]


def test_the_table_evaluator_is_refused_with_data_or_successive_halving():
    with pytest.raises(SearchError, match="trains nothing, but got data='digits'"):
        SearchConfig(space="nas_bench_macro", data="digits", evaluator="table")
    with pytest.raises(SearchError, match="nothing to halve"):
        SearchConfig(space="nas_bench_macro", data=None, evaluator="table", fidelity="asha")


def test_a_table_search_of_another_space_fails_each_trial_with_the_reason(tmp_path):
    cfg = SearchConfig(space="tiny", data=None, evaluator="table", trials=2, study="x", runs_dir=str(tmp_path),
                       storage="memory:", input_size=(3, 32, 32))
    with pytest.raises(SearchError, match="the table evaluator answers for --space nas_bench_macro only"):
        run_search(cfg)


def test_the_cli_runs_a_table_search_and_prints_the_front(tmp_path, capsys):
    argv = ["search", "--space", "nas_bench_macro", "--evaluator", "table", "--trials", "30", "--study", "nb",
            "--runs-dir", str(tmp_path), "--quiet", "--format", "json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trained"] == 30 and out["front"] and all(0.4 < r["accuracy"] < 0.95 for r in out["front"])
    assert main(argv) == 0  # resumed: the target is met


def test_the_cli_needs_data_except_for_the_table(tmp_path, capsys):
    assert main(["search", "--space", "tiny", "--trials", "2", "--runs-dir", str(tmp_path)]) != 0
    assert "bsnas search needs --data" in capsys.readouterr().err
    argv = ["search", "--space", "nas_bench_macro", "--evaluator", "table", "--data", "digits", "--trials", "2",
            "--runs-dir", str(tmp_path)]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "leave out --data" in err and len(err.strip().splitlines()) == 1


def test_the_readme_example_runs():
    from test_api import readme_block

    exec(compile(readme_block("nas-bench-macro"), "README.md", "exec"), {"__name__": "readme"})
