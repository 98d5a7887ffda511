"""The ImageNet-size baselines equal the reference implementation; the stem max-pool token (``mp3``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torch import nn

import bsnas
from bsnas import ArchError, decode_arch, encode_arch
from bsnas.nn.profiling import fvcore_flops

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_counts_imagenet.json").read_text())["models"]
IMAGENET = [n for n in bsnas.list_baselines() if not n.startswith("cifar_")]
#: Small members of the four kinds of stem and block, fvcore-checked in the default run.
FAST = ("mobilenetv3_small_w7d20_bsconvs_p1d6", "mobilenetv1_w1d4_bsconvu", "resnet10_bsconvs_p1d8",
        "preresnet10_bsconvu")
RESNET18_STEM = "stem_dbn_reg_k7_s2_c64_relu_mp3"
POOLED = RESNET18_STEM + ":basic_reg_k3_s1_c64_relu:head"


def built_counts(record: bsnas.ArchRecord) -> tuple[int, int]:
    model = bsnas.build_model(record)
    return fvcore_flops(model, record.input_size), sum(p.numel() for p in model.parameters())


def test_every_imagenet_baseline_has_reference_counts():
    assert sorted(IMAGENET) == sorted(REFERENCE)
    assert len(IMAGENET) == 80 and len(bsnas.list_baselines()) == 128 + 80


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_params_and_flops_equal_the_reference_implementation(name):
    ref = REFERENCE[name]
    record = bsnas.baseline(name)
    assert (record.input_size, record.num_classes) == ((3, 224, 224), 1000)
    for classes in (1000, 10):
        cost = bsnas.baseline(name, num_classes=classes).count()
        assert (cost.flops, cost.params) == (ref[f"fvcore_flops_{classes}"], ref[f"params_{classes}"])


@pytest.mark.parametrize("name", FAST)
def test_built_model_matches_the_analytic_count(name):
    record = bsnas.baseline(name)
    assert tuple(record.count()) == built_counts(record)


@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGENET)
def test_every_built_imagenet_baseline_matches_the_analytic_count(name):
    record = bsnas.baseline(name)
    assert tuple(record.count()) == built_counts(record)


@pytest.mark.parametrize("name", IMAGENET)
def test_every_imagenet_baseline_round_trips(name):
    arch = bsnas.baseline(name).arch
    text = encode_arch(arch)
    assert decode_arch(text) == arch and encode_arch(decode_arch(text)) == text
    assert bsnas.as_record(name).arch == arch


def test_names_resolve_everywhere_with_their_own_input_size():
    record = bsnas.as_record("mobilenetv2_w1")
    assert (record.input_size, record.num_classes, record.name) == ((3, 224, 224), 1000, "mobilenetv2_w1")
    assert bsnas.count("resnet18") == (REFERENCE["resnet18"]["fvcore_flops_1000"], REFERENCE["resnet18"]["params_1000"])
    assert bsnas.count("resnet18", num_classes=10).params == REFERENCE["resnet18"]["params_10"]
    assert bsnas.build_model("mobilenetv3_small_w7d20").classifier.out_features == 1000
    assert bsnas.baseline("cifar_resnet20").num_classes == 10  # the CIFAR defaults are unchanged


def test_resnet_stem_and_bsconv_placement():
    arch = bsnas.baseline("resnet18_bsconvu").arch
    assert encode_arch(arch).startswith(RESNET18_STEM + ":basic_bsu_k3_s1_c64_relu_r2:")
    assert arch.total_stride == 32
    rows = bsnas.count_stages("resnet18_bsconvu")
    assert [r.out_shape for r in rows[:2]] == [(64, 56, 56), (64, 56, 56)]  # conv stride 2, max-pool stride 2
    model = bsnas.build_model(arch)
    assert isinstance(model.stem.pool, nn.MaxPool2d) and model.stem.pool.padding == 1
    assert type(model.stem.conv.conv) is bsnas.RegularConv and model.stem.conv.conv.kernel_size == (7, 7)
    assert sum(isinstance(m, bsnas.BSConvU) for m in model.modules()) == 16  # two per unit, shortcuts stay 1x1
    pre = bsnas.baseline("preresnet34_bsconvs_p1d8").arch
    assert pre.stem == arch.stem and pre.head == bsnas.Head(bn=True, act="relu")
    assert {b.p for stage in pre.stages for b in stage} == {0.125}


def test_mobilenets_group_stages_by_width_with_the_reference_blocks():
    v2 = bsnas.baseline("mobilenetv2_w1").arch
    assert [len(s) for s in v2.stages] == [1, 2, 3, 4, 3, 3, 1]
    assert [s[0].width for s in v2.stages] == [16, 24, 32, 64, 96, 160, 320]
    cifar = bsnas.baseline("cifar_mobilenetv2_w1").arch
    flat = lambda a: [b for s in a.stages for b in s]  # noqa: E731
    assert [b.stride for b in flat(v2)] != [b.stride for b in flat(cifar)]
    assert [(b.width, b.mid, b.kernel) for b in flat(v2)] == [(b.width, b.mid, b.kernel) for b in flat(cifar)]
    assert v2.stem.conv.stride == 2 and v2.total_stride == 32
    assert bsnas.baseline("mobilenetv3_small_w1").arch.total_stride == 32


@pytest.mark.parametrize("name", ["resnet50", "resnet20", "preresnet110", "mobilenetv1_w1_bsconvs_p1d6",
                                  "mobilenetv2_w1_bsconvu", "mobilenetv3_w1", "resnet18_bsconvs"])
def test_unknown_imagenet_names(name):
    with pytest.raises(bsnas.UnknownNameError, match=f"unknown baseline '{name}'.*preresnet34"):
        bsnas.as_record(name)


def test_max_pool_token_round_trips_in_one_canonical_place():
    arch = decode_arch(POOLED)
    assert arch.stem.pool == 3 and arch.total_stride == 4
    assert encode_arch(decode_arch("stem_mp3_relu_c64_s2_k7_reg_dbn:basic_reg_k3_s1_c64_relu:head")) == POOLED
    assert encode_arch(decode_arch(POOLED.replace("mp3", "mp5"))).startswith("stem_dbn_reg_k7_s2_c64_relu_mp5:")


@pytest.mark.parametrize("size", [(3, 15, 15), (1, 17, 20), (3, 32, 33)])
def test_max_pool_count_equals_fvcore_at_odd_sizes(size):
    arch = decode_arch("stem_reg_k5_s2_c8_relu6_mp3:basic_bsu_k3_s1_c8_relu:ir_dsc_k3_s2_c12_m24_se4_hswish:head")
    model = bsnas.build_model(arch, 10, size[0])
    assert tuple(bsnas.count(arch, size)) == (fvcore_flops(model, size), sum(p.numel() for p in model.parameters()))


@pytest.mark.parametrize(
    "text,fragment",
    [
        (POOLED.replace("mp3", "mp4"), "stem max-pool kernel must be odd (same padding), but got pool=4"),
        (POOLED.replace("mp3", "mp0"), "stem max-pool kernel (pool) must be an integer in [1, 11], but got 0"),
        (POOLED.replace("mp3", "mp13"), "must be an integer in [1, 11], but got 13"),
        (POOLED.replace("mp3", "mp1.5"), "unknown token 'mp1.5'"),
        (POOLED.replace("mp3", "mp3_mp5"), "duplicate pool token 'mp5'"),
        (POOLED.replace("c64_relu:head", "c64_relu_mp3:head"), "token mp3 (max-pool) belongs in the stem"),
        (POOLED.replace(":head", ":head_mp3"), "head tokens may be"),
    ],
)
def test_bad_max_pool_tokens_quote_the_rule_and_the_string(text, fragment):
    with pytest.raises(ArchError) as info:
        decode_arch(text)
    assert fragment in str(info.value) and repr(text) in str(info.value)


def test_stem_validates_pool_directly():
    conv = bsnas.Block("conv", "regular", 7, 2, 64, "relu")
    for bad in (2, True, 3.0, -1):
        with pytest.raises(ArchError, match="stem max-pool kernel"):
            bsnas.Stem(conv, pool=bad)
    assert bsnas.Stem(conv).pool is None
