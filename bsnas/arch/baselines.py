"""The CIFAR model families of the BSConv reference zoo, as architecture data.

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
from fractions import Fraction

from bsnas.arch.record import ArchRecord
from bsnas.arch.spec import Arch, Block, Head, Stem
from bsnas.errors import UnknownNameError

__all__ = ["BASELINE_PREFIXES", "baseline", "is_baseline", "list_baselines"]

#: Every baseline name starts with one of these.
BASELINE_PREFIXES = ("cifar_",)

_RESNET = re.compile(r"^cifar_(?:resnet(?P<depth>20|56|110)|wrn(?P<wdepth>16|28|40)_(?P<k>[1-9]\d*))"
                     r"(?:_(?P<variant>bsconvu|bsconvs_p(?P<pn>\d+)d(?P<pd>[1-9]\d*)))?$")
_MOBILENET = re.compile(r"^cifar_mobilenet(?P<version>v1|v2|v3_small|v3_large)_w(?P<wn>[1-9]\d*)(?:d(?P<wd>[1-9]\d*))?"
                        r"(?:_(?P<variant>bsconvu|bsconvs_p1d6))?$")


def _op(variant: str | None, pn: str | None, pd: str | None) -> tuple[str, float | None]:
    if variant is None:
        return "regular", None
    if variant == "bsconvu":
        return "bsconv_u", None
    return "bsconv_s", int(pn) / int(pd)


def _resnet(depth: int, k: int, preact: bool, op: str, p: float | None) -> Arch:
    units = (depth - 4) // 6 if preact else (depth - 2) // 6
    stem = Block("conv", op, 3, 1, 16, "linear" if preact else "relu", p=p, bn=not preact)
    kind = "pre" if preact else "basic"
    stages = tuple(
        tuple(Block(kind, op, 3, 1 if (i or s == 0) else 2, int(width * k), "relu", p=p) for i in range(units))
        for s, width in enumerate((16, 32, 64))
    )
    return Arch(Stem(stem), stages, Head(bn=True, act="relu") if preact else Head())


def _scale(channels: list[list[int]], w: float) -> list[list[int]]:
    return [[int(c * w) for c in stage] for stage in channels]


def _mobilenet_v1(w: float, op: str) -> Arch:
    channels = _scale([[64], [128, 128], [256, 256], [512] * 6, [1024, 1024]], w)
    stages = tuple(
        tuple(Block("conv", op, 3, stride if i == 0 else 1, c, "relu") for i, c in enumerate(stage))
        for stage, stride in zip(channels, (1, 1, 2, 2, 2), strict=True)
    )
    return Arch(Stem(Block("conv", "regular", 3, 1, int(32 * w), "relu")), stages, Head())


_V2 = dict(stem=32, head=1280, strides=(1, 1, 2, 2, 2), kernels=(3,) * 5, acts=("relu6",) * 5,
           channels=[[16], [24, 24], [32, 32, 32], [64, 64, 64, 64, 96, 96, 96], [160, 160, 160, 320]],
           mids=[[32], [96, 144], [144, 192, 192], [192, 384, 384, 384, 384, 576, 576], [576, 960, 960, 960]],
           se=None, stem_act="relu6", head_se=None)
_V3_SMALL = dict(stem=16, head=576, strides=(1, 2, 2, 2), kernels=(3, 3, 5, 5),
                 acts=("relu", "relu", "hswish", "hswish"),
                 channels=[[16], [24, 24], [40, 40, 40, 48, 48], [96, 96, 96]],
                 mids=[[16], [72, 88], [96, 240, 240, 120, 144], [288, 576, 576]],
                 se=[[1], [0, 0], [1, 1, 1, 1, 1], [1, 1, 1]], stem_act="hswish", head_se=4)
_V3_LARGE = dict(stem=16, head=960, strides=(1, 1, 2, 2, 2), kernels=(3, 3, 5, 3, 5),
                 acts=("relu", "relu", "relu", "hswish", "hswish"),
                 channels=[[16], [24, 24], [40, 40, 40], [80, 80, 80, 80, 112, 112], [160, 160, 160]],
                 mids=[[16], [64, 72], [72, 120, 120], [240, 200, 184, 184, 480, 672], [672, 960, 960]],
                 se=[[0], [0, 0], [1, 1, 1], [0, 0, 0, 0, 1, 1], [1, 1, 1]], stem_act="hswish", head_se=None)


def _mobilenet_ir(cfg: dict, w: float, op: str) -> Arch:
    channels, mids = _scale(cfg["channels"], w), _scale(cfg["mids"], w)
    se = cfg["se"] or [[0] * len(stage) for stage in channels]
    stages = tuple(
        tuple(Block("ir", op, cfg["kernels"][s], cfg["strides"][s] if i == 0 else 1, c, cfg["acts"][s],
                    mid=mids[s][i], se=4 if se[s][i] else None) for i, c in enumerate(stage))
        for s, stage in enumerate(channels)
    )
    head_width = int(cfg["head"] * w) if w > 1.0 else cfg["head"]
    stem = Block("conv", "regular", 3, 1, int(cfg["stem"] * w), cfg["stem_act"])
    return Arch(Stem(stem), stages, Head(width=head_width, act=cfg["stem_act"], se=cfg["head_se"]))


def _arch_for(name: str) -> Arch | None:
    m = _RESNET.match(name)
    if m:
        op, p = _op(m["variant"], m["pn"], m["pd"])
        if m["depth"]:
            return _resnet(int(m["depth"]), 1, False, op, p)
        return _resnet(int(m["wdepth"]), int(m["k"]), True, op, p)
    m = _MOBILENET.match(name)
    if m is None:
        return None
    w = float(Fraction(int(m["wn"]), int(m["wd"] or 1)))
    if m["version"] == "v1":
        return None if m["variant"] == "bsconvs_p1d6" else _mobilenet_v1(w, "bsconv_u" if m["variant"] else "dsc")
    if m["variant"] == "bsconvu":
        return None
    cfg = {"v2": _V2, "v3_small": _V3_SMALL, "v3_large": _V3_LARGE}[m["version"]]
    return _mobilenet_ir(cfg, w, "bsconv_s" if m["variant"] else "dsc")


def list_baselines() -> list[str]:
    """The named baselines (:func:`baseline` also accepts other depths' widths and p = X/Y)."""
    names = []
    resnets = [f"cifar_resnet{d}" for d in (20, 56, 110)]
    resnets += [f"cifar_wrn{d}_{k}" for d in (16, 28, 40) for k in (1, 2, 4, 6, 8, 10, 12)]
    for base in resnets:
        names += [base, f"{base}_bsconvu", f"{base}_bsconvs_p1d4", f"{base}_bsconvs_p1d8"]
    for version, widths, variant in (("v1", ("w1", "w3d4", "w1d2", "w1d4"), "bsconvu"),
                                     ("v2", ("w1", "w3d4", "w1d2", "w1d4"), "bsconvs_p1d6"),
                                     ("v3_small", ("w1", "w3d4", "w1d2", "w7d20"), "bsconvs_p1d6"),
                                     ("v3_large", ("w1", "w3d4", "w1d2", "w7d20"), "bsconvs_p1d6")):
        for width in widths:
            names += [f"cifar_mobilenet{version}_{width}", f"cifar_mobilenet{version}_{width}_{variant}"]
    return names


def is_baseline(name: object) -> bool:
    """Whether ``name`` names a baseline that :func:`baseline` can build."""
    return isinstance(name, str) and _arch_for(name) is not None


def baseline(name: str, num_classes: int = 10) -> ArchRecord:
    """The record (architecture, 3×32×32 input, ``num_classes``) of a reference model."""
    arch = _arch_for(name) if isinstance(name, str) else None
    if arch is None:
        raise UnknownNameError(
            f"unknown baseline {name!r}; names look like cifar_resnet20[_bsconvu|_bsconvs_p1d4], "
            "cifar_wrn16_4[_bsconvu|_bsconvs_p1d8], cifar_mobilenetv1_w1d2[_bsconvu], "
            "cifar_mobilenetv2_w3d4[_bsconvs_p1d6], cifar_mobilenetv3_small_w7d20[_bsconvs_p1d6]; "
            "`bsnas baselines` lists them all")
    return ArchRecord(arch, (3, 32, 32), num_classes, name)
