"""The 224 px MobileNet space: it validates, samples, counts exactly, builds, and expresses MobileNetV2."""

from __future__ import annotations

import pytest
from optuna.trial import FixedTrial

import bsnas
from bsnas.nn.profiling import fvcore_flops
from bsnas.space import describe_space, load_space, random_archs, sample_arch
from bsnas.space.choices import params_of

SPACE = load_space("mobilenet224")


def built_counts(arch) -> tuple[int, int]:
    model = bsnas.build_model(arch, SPACE.num_classes, SPACE.input_size[0])
    return fvcore_flops(model, SPACE.input_size), sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def samples():
    return random_archs(SPACE, 100, seed=0)


def test_the_space_is_imagenet_sized():
    assert (SPACE.name, SPACE.input_size, SPACE.num_classes) == ("mobilenet224", (3, 224, 224), 1000)
    assert SPACE.stem.stride == 2 and SPACE.total_stride == 32
    assert all(stage.block == "ir" for stage in SPACE.stages)


def test_samples_lie_within_the_exact_range(samples):
    stats = describe_space(SPACE)
    assert len(samples) == 100 and len({bsnas.encode_arch(a) for a in samples}) == 100
    assert stats.size > 10**30 and stats.input_size == (3, 224, 224)
    for arch in samples:
        assert arch.total_stride == 32
        cost = bsnas.count(arch, SPACE.input_size, SPACE.num_classes)
        assert stats.min_flops <= cost.flops <= stats.max_flops
        assert stats.min_params <= cost.params <= stats.max_params
    for name in ("mobilenetv2_w1", "mobilenetv2_w1_bsconvs_p1d6"):
        cost = bsnas.baseline(name).count()
        assert stats.min_flops <= cost.flops <= stats.max_flops


def extreme_arch(cheapest: bool):
    """Every choice at its cheapest (or dearest) option. In this space each choice moves FLOPs and params
    the same way whatever the others are: wider, deeper, larger kernels and expansions, SE and the head conv
    all cost more, ``bsconv_u`` is the cheapest ir op (no BN between its 1x1 and depthwise convs) and
    ``regular`` the dearest (a full k x k conv to the expanded width); activations cost nothing."""

    def choose(name, options):
        if name.endswith(".op") and len(options) > 1:
            return "bsconv_u" if cheapest else "regular"
        if name.endswith(".act") or len(options) == 1:
            return options[0]
        return min(options, key=lambda v: -1 if v is None else v) if cheapest else \
            max(options, key=lambda v: -1 if v is None else v)

    return bsnas.space.walk(SPACE, choose)


def test_the_range_is_attained_at_both_ends():
    stats = describe_space(SPACE)
    assert tuple(bsnas.count(extreme_arch(True), SPACE.input_size, 1000)) == (stats.min_flops, stats.min_params)
    assert tuple(bsnas.count(extreme_arch(False), SPACE.input_size, 1000)) == (stats.max_flops, stats.max_params)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_count_equals_fvcore_on_a_few_samples(samples, index):
    arch = sorted(samples, key=lambda a: bsnas.count(a, SPACE.input_size).flops)[index * 10]
    assert tuple(bsnas.count(arch, SPACE.input_size, SPACE.num_classes)) == built_counts(arch)


@pytest.mark.slow
def test_count_equals_fvcore_on_100_samples(samples):
    for arch in samples:
        assert tuple(bsnas.count(arch, SPACE.input_size, SPACE.num_classes)) == built_counts(arch), \
            bsnas.encode_arch(arch)


@pytest.mark.parametrize("name", ["mobilenetv2_w1", "mobilenetv2_w1_bsconvs_p1d6"])
def test_the_space_expresses_the_reference_mobilenetv2(name):
    arch = bsnas.baseline(name).arch
    params = params_of(SPACE, arch)
    assert sample_arch(FixedTrial(params), SPACE) == arch
    assert params["s1.b0.expansion"] == 1.0 and params["head.width"] == 1280
    assert {v for k, v in params.items() if k.endswith(".op")} == {arch.stages[0][0].op}


def test_what_the_space_cannot_express_is_named():
    text = bsnas.baseline("mobilenetv2_w1").arch_string.replace("ir_dsc_k3_s1_c16", "ir_dsc_k9_s1_c16")
    with pytest.raises(bsnas.SpaceError, match=r"s1.b0.kernel is 9, but the space allows \[3, 5, 7\]"):
        params_of(SPACE, bsnas.decode_arch(text))
    with pytest.raises(bsnas.SpaceError, match=r"stem.kernel is 7, but the space allows \[3\]"):
        params_of(SPACE, bsnas.baseline("resnet18").arch)
