"""The model families of the BSConv reference zoo, as architecture data: the CIFAR ones here, the
ImageNet-size ones in :mod:`bsnas.arch.imagenet_baselines`; :func:`baseline` and
:func:`list_baselines` serve both.

Names follow zeiss-microscopy/BSConv: ``cifar_resnet{20,56,110}``,
``cifar_wrn{16,28,40}_{k}``, ``cifar_mobilenetv1_w{X}[d{Y}]``,
``cifar_mobilenetv2_...``, ``cifar_mobilenetv3_{small,large}_...``, with
the suffixes ``_bsconvu`` (ResNets, WRNs, MobileNetV1) and
``_bsconvs_p{X}d{Y}`` (ResNets and WRNs with any p = X/Y; MobileNetV2/V3
with p1d6 only). Widths are truncated with ``int()`` as the reference does.

In the ResNets and WRNs every 3×3 conv (stem included) takes the BSConv
type, as the reference replacers do (BSConv-U without inner BN, BSConv-S
with). In MobileNetV1 only the depthwise separable units become BSConv-U.
The MobileNetV2/V3 BSConv-S variants keep the baseline structure and add
the orthonormality loss on every block's projection conv.
"""

from __future__ import annotations

import re

from bsnas.arch.families import mobilenet_from, mobilenet_names, variant_op
from bsnas.arch.imagenet_baselines import (
    IMAGENET_CLASSES,
    IMAGENET_INPUT,
    IMAGENET_PREFIXES,
    imagenet_arch,
    imagenet_names,
)
from bsnas.arch.record import ArchRecord
from bsnas.arch.spec import Arch, Block, Head, Stem
from bsnas.errors import UnknownNameError

__all__ = ["BASELINE_PREFIXES", "baseline", "is_baseline", "list_baselines"]

#: Every baseline name starts with one of these.
BASELINE_PREFIXES = ("cifar_", *IMAGENET_PREFIXES)

_RESNET = re.compile(r"^cifar_(?:resnet(?P<depth>20|56|110)|wrn(?P<wdepth>16|28|40)_(?P<k>[1-9]\d*))"
                     r"(?:_(?P<variant>bsconvu|bsconvs_p(?P<pn>\d+)d(?P<pd>[1-9]\d*)))?$")
_MOBILENET = re.compile(r"^cifar_mobilenet(?P<version>v1|v2|v3_small|v3_large)_w(?P<wn>[1-9]\d*)(?:d(?P<wd>[1-9]\d*))?"
                        r"(?:_(?P<variant>bsconvu|bsconvs_p1d6))?$")


def _resnet(depth: int, k: int, preact: bool, op: str, p: float | None) -> Arch:
    units = (depth - 4) // 6 if preact else (depth - 2) // 6
    stem = Block("conv", op, 3, 1, 16, "linear" if preact else "relu", p=p, bn=not preact)
    kind = "pre" if preact else "basic"
    stages = tuple(
        tuple(Block(kind, op, 3, 1 if (i or s == 0) else 2, int(width * k), "relu", p=p) for i in range(units))
        for s, width in enumerate((16, 32, 64))
    )
    return Arch(Stem(stem), stages, Head(bn=True, act="relu") if preact else Head())


def _arch_for(name: str) -> Arch | None:
    if not name.startswith("cifar_"):
        return imagenet_arch(name)
    m = _RESNET.match(name)
    if m:
        op, p = variant_op(m["variant"], m["pn"], m["pd"])
        if m["depth"]:
            return _resnet(int(m["depth"]), 1, False, op, p)
        return _resnet(int(m["wdepth"]), int(m["k"]), True, op, p)
    m = _MOBILENET.match(name)
    return None if m is None else mobilenet_from(m, "cifar")


def list_baselines() -> list[str]:
    """The named baselines, the 128 CIFAR ones first, then the ImageNet-size ones (:func:`baseline` also
    accepts other widths and p = X/Y)."""
    names = []
    resnets = [f"cifar_resnet{d}" for d in (20, 56, 110)]
    resnets += [f"cifar_wrn{d}_{k}" for d in (16, 28, 40) for k in (1, 2, 4, 6, 8, 10, 12)]
    for base in resnets:
        names += [base, f"{base}_bsconvu", f"{base}_bsconvs_p1d4", f"{base}_bsconvs_p1d8"]
    names += mobilenet_names("cifar_")
    return names + imagenet_names()


def is_baseline(name: object) -> bool:
    """Whether ``name`` names a baseline that :func:`baseline` can build."""
    return isinstance(name, str) and _arch_for(name) is not None


def baseline(name: str, num_classes: int | None = None) -> ArchRecord:
    """The record of a reference model: its architecture, input size and class count.

    CIFAR names (``cifar_...``) default to 3×32×32 inputs and 10 classes, the ImageNet-size names
    (``resnet18``, ``preresnet34_bsconvu``, ``mobilenetv2_w1``, ...) to 3×224×224 and 1000 classes;
    ``num_classes`` overrides the default.
    """
    arch = _arch_for(name) if isinstance(name, str) else None
    if arch is None:
        raise UnknownNameError(
            f"unknown baseline {name!r}; names look like cifar_resnet20[_bsconvu|_bsconvs_p1d4], "
            "cifar_wrn16_4[_bsconvu|_bsconvs_p1d8], cifar_mobilenetv1_w1d2[_bsconvu], "
            "cifar_mobilenetv2_w3d4[_bsconvs_p1d6], cifar_mobilenetv3_small_w7d20[_bsconvs_p1d6] and, for 224x224 "
            "inputs, resnet18[_bsconvu], preresnet34[_bsconvs_p1d8] (depths 10, 18, 26, 34, 68, 102), "
            "mobilenetv1_w1[_bsconvu], mobilenetv2_w1d2[_bsconvs_p1d6], mobilenetv3_large_w1[_bsconvs_p1d6]; "
            "`bsnas baselines` lists them all")
    cifar = name.startswith("cifar_")
    size = (3, 32, 32) if cifar else IMAGENET_INPUT
    classes = num_classes if num_classes is not None else (10 if cifar else IMAGENET_CLASSES)
    return ArchRecord(arch, size, classes, name)
