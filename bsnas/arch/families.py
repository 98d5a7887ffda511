"""What the CIFAR and the ImageNet baselines share: the MobileNet families and the BSConv name suffixes.

zeiss-microscopy/BSConv defines each MobileNet once and changes only its
geometry between the two input sizes: the CIFAR variant keeps the stem at
stride 1 and drops one stage stride, the ImageNet variant has a stride-2
stem and a total stride of 32. The tables below hold the reference's
channels, expanded widths, kernels, activations and squeeze-excitation
flags per stage; widths are truncated with ``int()`` as the reference does,
and the head conv of MobileNetV2/V3 only grows for multipliers above 1.
:func:`variant_op` reads the suffixes ``_bsconvu`` and ``_bsconvs_pXdY``.
"""

from __future__ import annotations

from fractions import Fraction

from bsnas.arch.spec import Arch, Block, Head, Stem

__all__ = ["GEOMETRIES", "MOBILENET_MEMBERS", "MOBILENET_V2", "MOBILENET_V3_LARGE", "MOBILENET_V3_SMALL",
           "mobilenet_from", "mobilenet_ir", "mobilenet_names", "mobilenet_v1", "split_by_width", "variant_op"]

#: ``cifar``: 32×32 inputs, stem stride 1. ``imagenet``: 224×224 inputs, stem stride 2.
GEOMETRIES = ("cifar", "imagenet")
_STEM_STRIDE = {"cifar": 1, "imagenet": 2}

_V1_CHANNELS = [[64], [128, 128], [256, 256], [512] * 6, [1024, 1024]]
_V1_STRIDES = {"cifar": (1, 1, 2, 2, 2), "imagenet": (1, 2, 2, 2, 2)}

MOBILENET_V2 = dict(
    stem=32, head=1280, strides={"cifar": (1, 1, 2, 2, 2), "imagenet": (1, 2, 2, 2, 2)}, kernels=(3,) * 5,
    acts=("relu6",) * 5, channels=[[16], [24, 24], [32, 32, 32], [64, 64, 64, 64, 96, 96, 96], [160, 160, 160, 320]],
    mids=[[32], [96, 144], [144, 192, 192], [192, 384, 384, 384, 384, 576, 576], [576, 960, 960, 960]],
    se=None, stem_act="relu6", head_se=None)
MOBILENET_V3_SMALL = dict(
    stem=16, head=576, strides={"cifar": (1, 2, 2, 2), "imagenet": (2, 2, 2, 2)}, kernels=(3, 3, 5, 5),
    acts=("relu", "relu", "hswish", "hswish"), channels=[[16], [24, 24], [40, 40, 40, 48, 48], [96, 96, 96]],
    mids=[[16], [72, 88], [96, 240, 240, 120, 144], [288, 576, 576]],
    se=[[1], [0, 0], [1, 1, 1, 1, 1], [1, 1, 1]], stem_act="hswish", head_se=4)
MOBILENET_V3_LARGE = dict(
    stem=16, head=960, strides={"cifar": (1, 1, 2, 2, 2), "imagenet": (1, 2, 2, 2, 2)}, kernels=(3, 3, 5, 3, 5),
    acts=("relu", "relu", "relu", "hswish", "hswish"),
    channels=[[16], [24, 24], [40, 40, 40], [80, 80, 80, 80, 112, 112], [160, 160, 160]],
    mids=[[16], [64, 72], [72, 120, 120], [240, 200, 184, 184, 480, 672], [672, 960, 960]],
    se=[[0], [0, 0], [1, 1, 1], [0, 0, 0, 0, 1, 1], [1, 1, 1]], stem_act="hswish", head_se=None)


def variant_op(variant: str | None, pn: str | None = None, pd: str | None = None) -> tuple[str, float | None]:
    """Conv type and BSConv-S ratio of a name suffix: none, ``bsconvu`` or ``bsconvs_p{pn}d{pd}``."""
    if variant is None:
        return "regular", None
    if variant == "bsconvu":
        return "bsconv_u", None
    return "bsconv_s", int(pn) / int(pd)


def _scale(channels: list[list[int]], w: float) -> list[list[int]]:
    return [[int(c * w) for c in stage] for stage in channels]


def mobilenet_v1(w: float, op: str, geometry: str) -> Arch:
    """MobileNetV1 at width ``w``; ``op`` is ``dsc`` (plain) or ``bsconv_u`` (the reference's BSConv-U variant)."""
    stages = tuple(
        tuple(Block("conv", op, 3, stride if i == 0 else 1, c, "relu") for i, c in enumerate(stage))
        for stage, stride in zip(_scale(_V1_CHANNELS, w), _V1_STRIDES[geometry], strict=True)
    )
    stem = Block("conv", "regular", 3, _STEM_STRIDE[geometry], int(32 * w), "relu")
    return Arch(Stem(stem), stages, Head())


def mobilenet_ir(cfg: dict, w: float, op: str, geometry: str) -> Arch:
    """A MobileNetV2/V3 table at width ``w``; ``op`` is ``dsc`` (plain) or ``bsconv_s`` (the p=1/6 variant)."""
    channels, mids = _scale(cfg["channels"], w), _scale(cfg["mids"], w)
    se = cfg["se"] or [[0] * len(stage) for stage in channels]
    strides = cfg["strides"][geometry]
    stages = tuple(
        tuple(Block("ir", op, cfg["kernels"][s], strides[s] if i == 0 else 1, c, cfg["acts"][s],
                    mid=mids[s][i], se=4 if se[s][i] else None) for i, c in enumerate(stage))
        for s, stage in enumerate(channels)
    )
    head_width = int(cfg["head"] * w) if w > 1.0 else cfg["head"]
    stem = Block("conv", "regular", 3, _STEM_STRIDE[geometry], int(cfg["stem"] * w), cfg["stem_act"])
    return Arch(Stem(stem), stages, Head(width=head_width, act=cfg["stem_act"], se=cfg["head_se"]))


def split_by_width(arch: Arch) -> Arch:
    """The same network with one stage per run of equal output width (the MobileNet papers' tables).

    Only the grouping changes: every block, and so every count, stays the same.
    """
    stages = []
    for stage in arch.stages:
        runs = [[stage[0]]]
        for block in stage[1:]:
            if block.width == runs[-1][-1].width:
                runs[-1].append(block)
            else:
                runs.append([block])
        stages += [tuple(run) for run in runs]
    return Arch(arch.stem, tuple(stages), arch.head)


#: The named MobileNet members of the reference zoo: version, widths, the BSConv variant it defines.
MOBILENET_MEMBERS = (("v1", ("w1", "w3d4", "w1d2", "w1d4"), "bsconvu"),
                     ("v2", ("w1", "w3d4", "w1d2", "w1d4"), "bsconvs_p1d6"),
                     ("v3_small", ("w1", "w3d4", "w1d2", "w7d20"), "bsconvs_p1d6"),
                     ("v3_large", ("w1", "w3d4", "w1d2", "w7d20"), "bsconvs_p1d6"))


def mobilenet_names(prefix: str) -> list[str]:
    """``<prefix>mobilenet<version>_<width>`` plain and with its BSConv variant, for every named member."""
    return [name for version, widths, variant in MOBILENET_MEMBERS for width in widths
            for name in (f"{prefix}mobilenet{version}_{width}", f"{prefix}mobilenet{version}_{width}_{variant}")]


def mobilenet_from(match, geometry: str) -> Arch | None:
    """The MobileNet a parsed name (groups ``version``, ``wn``, ``wd``, ``variant``) stands for, or None when
    the reference defines no such variant (BSConv-S for V1, BSConv-U for V2/V3)."""
    w = float(Fraction(int(match["wn"]), int(match["wd"] or 1)))
    if match["version"] == "v1":
        return None if match["variant"] == "bsconvs_p1d6" else mobilenet_v1(
            w, "bsconv_u" if match["variant"] else "dsc", geometry)
    if match["variant"] == "bsconvu":
        return None
    cfg = {"v2": MOBILENET_V2, "v3_small": MOBILENET_V3_SMALL, "v3_large": MOBILENET_V3_LARGE}[match["version"]]
    return mobilenet_ir(cfg, w, "bsconv_s" if match["variant"] else "dsc", geometry)
