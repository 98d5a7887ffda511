"""The ImageNet-size model families of the BSConv reference zoo, as architecture data.

Names follow zeiss-microscopy/BSConv (``bsconv.pytorch.get_model`` without
the ``cifar_`` prefix); their records default to 3×224×224 inputs and 1000
classes:

* ``resnet{10,18,26,34,68,102}`` and ``preresnet{...}`` (pre-activation),
  plain, ``_bsconvu`` and ``_bsconvs_p{X}d{Y}`` (any p = X/Y; p 1/4 and 1/8
  are listed). All use basic blocks (units per stage 1-1-1-1, 2-2-2-2,
  3-3-3-3, 3-4-6-3, 3-4-23-3, 3-8-36-3; widths 64-128-256-512). The stem is
  data BN, a 7×7 stride-2 conv–BN–ReLU and a 3×3 stride-2 max-pool (token
  ``mp3``), also in the pre-activation nets; the pre-activation nets end
  with BN–ReLU (head ``bn``). As the reference's replacers only touch 3×3
  and 5×5 convs, the BSConv variants keep the 7×7 stem conv and the 1×1
  shortcuts regular and turn every 3×3 conv of the blocks into BSConv-U
  (no inner BN) or BSConv-S (inner BNs).
* ``mobilenetv1_w{1,3d4,1d2,1d4}`` plain and ``_bsconvu``;
  ``mobilenetv2_w{1,3d4,1d2,1d4}`` and
  ``mobilenetv3_{small,large}_w{1,3d4,1d2,7d20}`` plain and
  ``_bsconvs_p1d6`` (any width ``w{X}[d{Y}]`` parses). The CIFAR tables with
  a stride-2 stem and a total stride of 32. Stages are grouped as runs of
  one output width (the papers' tables, e.g. MobileNetV2's seven bottleneck
  sequences), so a space with one width per stage can express them; the
  reference groups by resolution, which changes no module and no count.
"""

from __future__ import annotations

import re

from bsnas.arch.families import mobilenet_from, mobilenet_names, split_by_width, variant_op
from bsnas.arch.spec import Arch, Block, Head, Stem

__all__ = ["IMAGENET_CLASSES", "IMAGENET_INPUT", "IMAGENET_PREFIXES", "imagenet_arch", "imagenet_names"]

IMAGENET_INPUT = (3, 224, 224)
IMAGENET_CLASSES = 1000
#: Every ImageNet-size baseline name starts with one of these.
IMAGENET_PREFIXES = ("resnet", "preresnet", "mobilenet")

_UNITS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 26: (3, 3, 3, 3), 34: (3, 4, 6, 3), 68: (3, 4, 23, 3),
          102: (3, 8, 36, 3)}
_RESNET = re.compile(r"^(?P<pre>pre)?resnet(?P<depth>10|18|26|34|68|102)"
                     r"(?:_(?P<variant>bsconvu|bsconvs_p(?P<pn>\d+)d(?P<pd>[1-9]\d*)))?$")
_MOBILENET = re.compile(r"^mobilenet(?P<version>v1|v2|v3_small|v3_large)_w(?P<wn>[1-9]\d*)(?:d(?P<wd>[1-9]\d*))?"
                        r"(?:_(?P<variant>bsconvu|bsconvs_p1d6))?$")


def _resnet(depth: int, preact: bool, op: str, p: float | None) -> Arch:
    stem = Stem(Block("conv", "regular", 7, 2, 64, "relu"), pool=3)
    kind = "pre" if preact else "basic"
    stages = tuple(
        tuple(Block(kind, op, 3, 2 if (i == 0 and s > 0) else 1, width, "relu", p=p) for i in range(units))
        for s, (width, units) in enumerate(zip((64, 128, 256, 512), _UNITS[depth], strict=True))
    )
    return Arch(stem, stages, Head(bn=True, act="relu") if preact else Head())


def imagenet_arch(name: str) -> Arch | None:
    """The architecture of an ImageNet-size baseline name, or None when the name is not one."""
    m = _RESNET.match(name)
    if m:
        op, p = variant_op(m["variant"], m["pn"], m["pd"])
        return _resnet(int(m["depth"]), bool(m["pre"]), op, p)
    m = _MOBILENET.match(name)
    arch = None if m is None else mobilenet_from(m, "imagenet")
    return arch if arch is None or m["version"] == "v1" else split_by_width(arch)


def imagenet_names() -> list[str]:
    """The named ImageNet-size baselines: the reference README's examples."""
    names = []
    for base in [f"{pre}resnet{d}" for pre in ("", "pre") for d in _UNITS]:
        names += [base, f"{base}_bsconvu", f"{base}_bsconvs_p1d4", f"{base}_bsconvs_p1d8"]
    return names + mobilenet_names("")
