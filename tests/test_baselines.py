from __future__ import annotations

import json
from pathlib import Path

import pytest

import bsnas
from bsnas.nn.blocks import InvertedResidualS

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_counts.json").read_text())["models"]


def test_issue_figures():
    assert bsnas.baseline("cifar_resnet20_bsconvu").count().params == 40720
    assert bsnas.baseline("cifar_wrn16_1_bsconvs_p1d4").count().params == 18663


def test_every_listed_baseline_has_reference_counts():
    cifar = [n for n in bsnas.list_baselines() if n.startswith("cifar_")]  # ImageNet sizes: test_imagenet_baselines
    assert sorted(cifar) == sorted(REFERENCE)
    assert len(cifar) == 128


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_params_and_flops_equal_the_reference_implementation(name):
    ref = REFERENCE[name]
    for classes in (10, 100):
        record = bsnas.baseline(name, num_classes=classes)
        assert record.count().params == ref[f"params_{classes}"]
    assert bsnas.baseline(name).count().flops == ref["fvcore_flops_10"]


def test_built_model_parameters_equal_the_reference():
    for name in ("cifar_resnet20_bsconvu", "cifar_wrn16_1_bsconvs_p1d4", "cifar_mobilenetv3_large_w7d20"):
        model = bsnas.build_model(bsnas.baseline(name))
        assert sum(p.numel() for p in model.parameters()) == REFERENCE[name]["params_10"]


def test_mobilenet_bsconvs_variants_add_the_loss_on_every_projection():
    plain = bsnas.build_model(bsnas.baseline("cifar_mobilenetv2_w1d4"))
    s_variant = bsnas.build_model(bsnas.baseline("cifar_mobilenetv2_w1d4_bsconvs_p1d6"))
    blocks = [m for m in s_variant.modules() if isinstance(m, InvertedResidualS)]
    assert len(blocks) == 17
    assert bsnas.reg_loss(plain).item() == 0.0
    loss = bsnas.reg_loss(s_variant, alpha=1.0)
    assert loss.item() > 0
    loss.backward()
    assert all(b.project.conv.weight.grad is not None for b in blocks)


def test_wrn_bsconvs_uses_bsconv_s_with_inner_bn_everywhere_including_the_stem():
    model = bsnas.build_model(bsnas.baseline("cifar_wrn16_1_bsconvs_p1d4"))
    convs = [m for m in model.modules() if isinstance(m, bsnas.BSConvS)]
    assert len(convs) == 1 + 2 * 6  # stem + two per unit
    assert all(hasattr(c, "bn1") and hasattr(c, "bn2") for c in convs)


def test_other_depth_widths_and_ratios_parse():
    assert bsnas.baseline("cifar_wrn28_3_bsconvs_p1d2").arch.stages[0][0].p == 0.5
    assert bsnas.baseline("cifar_mobilenetv2_w2").count().params > bsnas.baseline("cifar_mobilenetv2_w1").count().params


@pytest.mark.parametrize("name", ["resnet20", "cifar_resnet21", "cifar_mobilenetv1_w1_bsconvs_p1d6",
                                  "cifar_mobilenetv2_w1_bsconvu", "cifar_wrn16_0", 7])
def test_unknown_baseline_names(name):
    with pytest.raises(bsnas.UnknownNameError, match="unknown baseline"):
        bsnas.baseline(name)
