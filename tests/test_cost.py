"""The analytic count equals fvcore and sum(p.numel()) on the built model."""

from __future__ import annotations

import copy
import random

import pytest
import thop
import torch
from torch import nn

import bsnas
from bsnas import CONV_TYPES, Arch, Block, Head, Stem, build_model, count
from bsnas.nn.profiling import fvcore_flops, thop_flops
from tests.conftest import random_arch


def built_counts(arch, input_size=(3, 32, 32), num_classes=10):
    model = build_model(arch, num_classes, input_size[0])
    return fvcore_flops(model, input_size), sum(p.numel() for p in model.parameters())


def one_block_arch(block: Block) -> Arch:
    stem = Block("conv", "regular", 3, 1, 8, "relu")
    return Arch(Stem(stem), ((block, Block(block.kind, block.op, block.kernel, 1, block.width, block.act,
                                           mid=block.mid, p=block.p, se=block.se)),), Head(width=16, act="relu"))


@pytest.mark.parametrize("kind", ["conv", "basic", "pre", "ir"])
@pytest.mark.parametrize("op", CONV_TYPES)
@pytest.mark.parametrize("stride", [1, 2])
def test_every_block_kind_and_conv_type(kind, op, stride):
    block = Block(kind, op, 5, stride, 12, "relu6", mid=24 if kind == "ir" else None,
                  p=0.5 if op == "bsconv_s" and kind != "ir" else None, se=4 if kind == "ir" else None)
    arch = one_block_arch(block)
    cost = count(arch, (3, 15, 15))
    assert (cost.flops, cost.params) == built_counts(arch, (3, 15, 15))


@pytest.mark.parametrize("n", [80, pytest.param(400, marks=pytest.mark.slow)])
def test_random_architectures(n):
    rng = random.Random(3)
    for _ in range(n):
        arch = random_arch(rng)
        size = (rng.choice((1, 3)), rng.choice((7, 8, 16)), rng.choice((8, 9, 16)))
        classes = rng.choice((2, 10))
        cost = count(arch, size, classes)
        assert (cost.flops, cost.params) == built_counts(arch, size, classes), bsnas.encode_arch(arch)


@pytest.mark.parametrize("name", [n for n in bsnas.list_baselines() if n.startswith("cifar_")])
def test_every_baseline_matches_fvcore(name):  # the ImageNet-size ones, at 224: test_imagenet_baselines.py
    record = bsnas.baseline(name)
    assert tuple(record.count()) == built_counts(record.arch)


def test_count_accepts_strings_and_other_resolutions():
    record = bsnas.baseline("cifar_resnet20")
    assert count(record.arch_string) == record.count()
    assert count(record.arch, (3, 64, 64)).flops == built_counts(record.arch, (3, 64, 64))[0]
    assert count(record.arch, (3, 64, 64)).flops > count(record.arch).flops


def test_count_rejects_bad_input():
    arch = bsnas.baseline("cifar_resnet20").arch
    with pytest.raises(bsnas.BsnasError, match=r"input_size must be \(channels, height, width\).*\(32, 32\)"):
        count(arch, (32, 32))
    with pytest.raises(bsnas.BsnasError, match="num_classes must be a positive integer, but got 0"):
        count(arch, num_classes=0)


def test_per_stage_rows_add_up():
    rows = bsnas.count_stages(bsnas.baseline("cifar_resnet56_bsconvu").arch)
    assert [r.name for r in rows] == ["stem", "s1", "s2", "s3", "head"]
    assert [r.out_shape for r in rows] == [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (10, 1, 1)]
    assert sum(r.params for r in rows) == 120016


def _leaf_ops(model: nn.Module, size) -> dict[str, tuple[str, int, int]]:
    """Per leaf module: (type, thop ops, fvcore flops)."""
    from fvcore.nn import FlopCountAnalysis

    x = torch.zeros(1, *size)
    fv = FlopCountAnalysis(model.eval(), x)
    fv.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_module = fv.by_module()
    _, _, tree = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False, ret_layer_info=True)
    leaves = {}

    def walk(node, prefix):
        for name, (ops, _, children) in node.items():
            if children:
                walk(children, prefix + name + ".")
            else:
                leaves[prefix + name] = (type(model.get_submodule(prefix + name)).__name__, int(ops),
                                         by_module.get(prefix + name, 0))

    walk(tree, "")
    return leaves


@pytest.mark.parametrize("name", ["cifar_resnet20_bsconvs_p1d4", "cifar_mobilenetv3_small_w1d2"])
def test_thop_differs_from_fvcore_only_by_its_bn_and_pooling_convention(name):
    """thop: BN = 4 ops per element (fvcore 2); average pooling adds one division per output."""
    model = bsnas.build_model(bsnas.baseline(name))
    pooled = {}
    for path, module in model.named_modules():
        if isinstance(module, nn.AdaptiveAvgPool2d):
            module.register_forward_hook(lambda m, i, o, path=path: pooled.__setitem__(path, o.numel()))
    for path, (kind, thop_ops, fv_ops) in _leaf_ops(model, (3, 32, 32)).items():
        if kind == "BatchNorm2d":
            assert thop_ops == 2 * fv_ops, path
        elif kind == "AdaptiveAvgPool2d":
            assert thop_ops == fv_ops + pooled[path], path
        else:
            assert thop_ops == fv_ops, (path, kind)
    assert thop_flops(model) > fvcore_flops(model)
    assert not any(hasattr(m, "total_ops") for m in model.modules())  # thop ran on a copy
