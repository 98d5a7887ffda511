from __future__ import annotations

import json

import optuna
import pytest
from optuna.trial import FixedTrial

import bsnas
from bsnas.cli import main
from bsnas.errors import SpaceError
from bsnas.space import describe_space, find_spaces, load_space, sample_arch

optuna.logging.set_verbosity(optuna.logging.WARNING)

MICRO = """
name: micro
input_size: [1, 8, 8]
stem: {ops: [regular, bsconv_s], kernel: 3, width: [4, 8], p: [0.5]}
stages:
  - {block: conv, stride: 1, depth: [1, 2], width: [8, 12], ops: [dsc, bsconv_s], kernel: [3], p: [0.25, 1.0]}
  - {block: ir, stride: 2, depth: [1], width: [8], ops: [bsconv_u, regular], kernel: [3, 5], expansion: [2, 3],
     se: [null, 4]}
head: {width: [null, 16], act: hswish, se: 4}
"""


class EnumTrial(FixedTrial):
    """Walks every assignment of a define-by-run space: answers a given prefix, then first choices."""

    def __init__(self, prefix):
        super().__init__({})
        self.prefix, self.log = list(prefix), []

    def suggest_categorical(self, name, choices):
        i = self.prefix[len(self.log)] if len(self.log) < len(self.prefix) else 0
        self.log.append((i, len(choices)))
        return choices[i]


def enumerate_space(space):
    stack, out = [[]], []
    while stack:
        prefix = stack.pop()
        trial = EnumTrial(prefix)
        arch = sample_arch(trial, space)
        out.append(arch)
        for pos in range(len(prefix), len(trial.log)):
            base = [i for i, _ in trial.log[:pos]]
            stack += [base + [j] for j in range(1, trial.log[pos][1])]
    return out


@pytest.fixture
def micro(tmp_path):
    path = tmp_path / "micro.yaml"
    path.write_text(MICRO)
    return load_space(path)


@pytest.mark.parametrize("path", find_spaces(), ids=lambda p: p.stem)
def test_every_space_file_loads_and_samples(path):
    space = load_space(path)
    stats = describe_space(space)
    assert stats.size > 1 and 0 < stats.min_flops < stats.max_flops and stats.min_params < stats.max_params
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        arch = sample_arch(trial, space)
        cost = bsnas.count(arch, space.input_size, space.num_classes)
        assert stats.min_flops <= cost.flops <= stats.max_flops
        assert stats.min_params <= cost.params <= stats.max_params
        assert set(trial.params) <= set(stats.parameters)
        study.tell(trial, 0.0)


def test_space_statistics_are_exact_by_brute_force(micro):
    archs = enumerate_space(micro)
    stats = describe_space(micro)
    assert len(archs) == stats.size == len({bsnas.encode_arch(a) for a in archs})
    costs = [bsnas.count(a, micro.input_size, micro.num_classes) for a in archs]
    assert min(c.flops for c in costs) == stats.min_flops and max(c.flops for c in costs) == stats.max_flops
    assert min(c.params for c in costs) == stats.min_params and max(c.params for c in costs) == stats.max_params


def expected_from_params(params: dict) -> dict:
    """What the micro space's YAML says an architecture with these parameters is, written out by hand."""
    depth = params["s1.depth"]
    s1 = [(params[f"s1.b{i}.op"], params["s1.width"], 3, params[f"s1.b{i}.p"] if params[f"s1.b{i}.op"] ==
           "bsconv_s" else None) for i in range(depth)]
    s2 = [(params["s2.b0.op"], 8, params["s2.b0.kernel"], round(params["s1.width"] * params["s2.b0.expansion"]),
           params["s2.b0.se"])]  # an inverted residual expands its input width
    return {"stem": (params["stem.op"], params["stem.width"], 0.5 if params["stem.op"] == "bsconv_s" else None),
            "s1": s1, "s2": s2, "head": params["head.width"]}


def built(arch) -> dict:
    return {"stem": (arch.stem.conv.op, arch.stem.conv.width, arch.stem.conv.p),
            "s1": [(b.op, b.width, b.kernel, b.p) for b in arch.stages[0]],
            "s2": [(b.op, b.width, b.kernel, b.mid, b.se) for b in arch.stages[1]], "head": arch.head.width}


def test_a_sample_is_the_architecture_its_parameters_name_and_replays(micro):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(20):
        trial = study.ask()
        arch = sample_arch(trial, micro)
        assert built(arch) == expected_from_params(trial.params)  # against the YAML, by hand
        assert built(sample_arch(FixedTrial(trial.params), micro)) == expected_from_params(trial.params)
        study.tell(trial, 0.0)


def test_parameter_names_are_stable(micro):
    params = describe_space(micro).parameters
    assert params == ["stem.op", "stem.width", "s1.depth", "s1.width", "s1.b0.op", "s1.b0.p", "s1.b1.op",
                      "s1.b1.p", "s2.b0.op", "s2.b0.kernel", "s2.b0.expansion", "s2.b0.se", "head.width"]
    arch = sample_arch(FixedTrial({"stem.op": "bsconv_s", "stem.width": 8, "s1.depth": 2, "s1.width": 12,
                                   "s1.b0.op": "bsconv_s", "s1.b0.p": 1.0, "s1.b1.op": "dsc",
                                   "s2.b0.op": "regular", "s2.b0.kernel": 5, "s2.b0.expansion": 3.0,
                                   "s2.b0.se": 4, "head.width": 16}), micro)
    assert bsnas.encode_arch(arch) == ("stem_dbn_bss_p0.5_k3_s1_c8_relu:conv_bss_p1.0_k3_s1_c12_relu-"
                                       "conv_dsc_k3_s1_c12_relu:ir_reg_k5_s2_c8_m36_se4_relu:head_c16_se4_hswish")


def test_pinned_choice_is_not_a_parameter(tmp_path):
    path = tmp_path / "pinned.yaml"
    path.write_text(MICRO.replace("ops: [dsc, bsconv_s]", "ops: [bsconv_u]"))
    space = load_space(path)
    assert not any(name.startswith("s1.b") for name in describe_space(space).parameters)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        assert all(b.op == "bsconv_u" for b in sample_arch(study.ask(), space).stages[0])


@pytest.mark.parametrize(
    "old,new,fragment",
    [
        ("kernel: [3], p", "kernel: [3, 4], p", r"stages\[0\].kernel: got 4; kernel sizes are odd"),
        ("depth: [1, 2]", "depht: [1, 2]", r"stages\[0\].depht: got \[1, 2\]; unknown key"),
        ("width: [8, 12], ", "", r"stages\[0\].width: got None; missing"),
        ("ops: [dsc, bsconv_s]", "ops: [dsc, sep]", r"stages\[0\].ops: got 'sep'; conv types are"),
        ("{block: conv,", "{block: conv, se: [4],", r"stages\[0\].se: .* applies to ir blocks only"),
        ("se: [null, 4]", "se: [null, 40]", r"stages\[1\].se: got 40; the smallest expanded width"),
        ("p: [0.25, 1.0]", "p: [0.25, 1.5]", r"stages\[0\].p: got 1.5; p is a number in \[0, 1\]"),
        ("depth: [1, 2]", "depth: [1, 1]", r"choices must not repeat"),
        ("name: micro", "name: micro\nname2: x", r"name2: got 'x'; unknown key"),
        ("input_size: [1, 8, 8]", "input_size: [8, 8]", r"input_size: got \[8, 8\]"),
        ("head: {", "head: [", "not valid YAML"),
    ],
)
def test_space_errors_name_the_file_field_value_and_rule(tmp_path, old, new, fragment):
    path = tmp_path / "bad.yaml"
    assert old in MICRO
    path.write_text(MICRO.replace(old, new))
    with pytest.raises(SpaceError, match=fragment) as info:
        load_space(path)
    assert str(path) in str(info.value)


def test_missing_space_lists_the_known_ones():
    with pytest.raises(SpaceError, match="one of: .*tiny"):
        load_space("no_such_space")


def test_spaces_cli(tmp_path, capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "mobilenet" in out and "s2.b0.op" in out
    (tmp_path / "micro.yaml").write_text(MICRO)
    assert main(["spaces", str(tmp_path / "micro.yaml"), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["name"] == "micro" and row["parameters"] == 13
