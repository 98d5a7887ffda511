"""The nn.Modules for each block kind of :mod:`bsnas.arch.spec`.

How a block's conv type (``op``) is realised:

* ``conv``, ``basic`` and ``pre`` blocks use :func:`block_conv`: a
  :class:`~bsnas.nn.layers.RegularConv`, a :class:`~bsnas.nn.layers.DSConv` with
  BN and the block activation between ``dw`` and ``pw`` (MobileNetV1), a
  :class:`~bsnas.nn.layers.BSConvU` without inner BN, or a
  :class:`~bsnas.nn.layers.BSConvS` with inner BNs. These are the settings of
  the reference model zoo. Convs carry no bias; a BN follows.
* ``ir`` blocks (expand → spatial → [SE] → project) vary how the input
  reaches the expanded width: ``dsc`` is the MobileNetV2/V3 block (1×1
  expand–BN–act, depthwise k×k–BN–act); ``bsconv_s`` is the same with the
  orthonormality loss on the projection weight, as the reference's
  MobileNetV2/V3 BSConv-S variants do; ``bsconv_u`` makes the expansion a
  :class:`~bsnas.nn.layers.BSConvU` (linear 1×1 then depthwise, one BN–act
  after); ``regular`` is a fused k×k conv straight to the expanded width
  (Fused-MBConv).
"""

from __future__ import annotations

import torch
from torch import nn

from bsnas.arch.spec import Block
from bsnas.nn.layers import BSConvU, RegularConv, SqueezeExcite, create_act, create_conv, orthonormality_loss

__all__ = [
    "BasicBlock", "ConvBnAct", "InvertedResidual", "InvertedResidualS", "PreactBlock", "block_conv", "create_block",
]


def block_conv(op: str, in_channels: int, out_channels: int, kernel: int, stride: int,
               act: str, p: float | None) -> nn.Module:
    """The conv of a conv/basic/pre block, configured as in the reference zoo."""
    extra = {"dsc": {"with_bn": True, "act": act}, "bsconv_u": {"with_bn": False},
             "bsconv_s": {"with_bn": True, "p": p}}.get(op, {})
    return create_conv(op, in_channels, out_channels, kernel, stride, bias=False, **extra)


class ConvBnAct(nn.Sequential):
    """``conv``, then optional ``bn`` and ``act`` (``act=None`` or ``linear`` adds none)."""

    def __init__(self, conv: nn.Module, out_channels: int, act: str | None, bn: bool = True):
        super().__init__()
        self.conv = conv
        if bn:
            self.bn = nn.BatchNorm2d(out_channels)
        if act not in (None, "linear"):
            self.act = create_act(act)


def _conv_block(in_channels: int, b: Block, stride: int | None = None, act: str | None = "block",
                bn: bool = True, width: int | None = None) -> ConvBnAct:
    out = b.width if width is None else width
    conv = block_conv(b.op, in_channels, out, b.kernel, b.stride if stride is None else stride, b.act, b.p)
    return ConvBnAct(conv, out, b.act if act == "block" else act, bn=bn)


def _shortcut(in_channels: int, b: Block, bn: bool) -> nn.Module | None:
    if b.stride == 1 and in_channels == b.width:
        return None
    return ConvBnAct(RegularConv(in_channels, b.width, 1, b.stride, bias=False), b.width, None, bn=bn)


class BasicBlock(nn.Module):
    """ResNet basic block: conv–BN–act, conv–BN, add the shortcut, act."""

    def __init__(self, in_channels: int, b: Block):
        super().__init__()
        self.conv1 = _conv_block(in_channels, b)
        self.conv2 = _conv_block(b.width, b, stride=1, act=None)
        self.shortcut = _shortcut(in_channels, b, bn=True)
        self.act = create_act(b.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.conv2(self.conv1(x)) + residual)


class PreactBlock(nn.Module):
    """Pre-activation basic block (WideResNet): BN–act, conv–BN–act, conv, add."""

    def __init__(self, in_channels: int, b: Block):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.act = create_act(b.act)
        self.conv1 = _conv_block(in_channels, b)
        self.conv2 = _conv_block(b.width, b, stride=1, act=None, bn=False)
        self.shortcut = _shortcut(in_channels, b, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act(self.bn(x))
        residual = x if self.shortcut is None else self.shortcut(pre)
        return self.conv2(self.conv1(pre)) + residual


class InvertedResidual(nn.Module):
    """Inverted residual: reach ``mid`` channels (see the module docstring), [SE], 1×1 project–BN."""

    def __init__(self, in_channels: int, b: Block):
        super().__init__()
        self.has_skip = b.stride == 1 and in_channels == b.width
        pad = (b.kernel - 1) // 2
        if b.op in ("dsc", "bsconv_s"):
            self.expand = ConvBnAct(nn.Conv2d(in_channels, b.mid, 1, bias=False), b.mid, b.act)
            self.spatial = ConvBnAct(nn.Conv2d(b.mid, b.mid, b.kernel, b.stride, pad, groups=b.mid, bias=False),
                                     b.mid, b.act)
        elif b.op == "bsconv_u":
            self.spatial = ConvBnAct(BSConvU(in_channels, b.mid, b.kernel, b.stride, bias=False), b.mid, b.act)
        else:
            self.spatial = ConvBnAct(RegularConv(in_channels, b.mid, b.kernel, b.stride, bias=False), b.mid, b.act)
        if b.se is not None:
            self.se = SqueezeExcite(b.mid, b.se)
        self.project = ConvBnAct(nn.Conv2d(b.mid, b.width, 1, bias=False), b.width, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for module in self.children():
            out = module(out)
        return out + x if self.has_skip else out


class InvertedResidualS(InvertedResidual):
    """The ``bsconv_s`` inverted residual: orthonormality loss on the projection weight (out, mid)."""

    def regularization_loss(self) -> torch.Tensor:
        return orthonormality_loss(self.project.conv.weight)


def create_block(in_channels: int, b: Block) -> nn.Module:
    """The module for one :class:`~bsnas.arch.spec.Block`."""
    if b.kind == "skip":  # an identity layer: the projection where it changes the stride or the width
        return _shortcut(in_channels, b, bn=True) or nn.Identity()
    if b.kind == "conv":
        return _conv_block(in_channels, b, bn=b.bn)
    if b.kind == "ir":
        return (InvertedResidualS if b.op == "bsconv_s" else InvertedResidual)(in_channels, b)
    return {"basic": BasicBlock, "pre": PreactBlock}[b.kind](in_channels, b)
