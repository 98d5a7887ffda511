"""Build an ``nn.Module`` from an architecture."""

from __future__ import annotations

import torch
from torch import nn

from bsnas.arch import Arch
from bsnas.blocks import ConvBnAct, create_block
from bsnas.codec import decode_arch
from bsnas.errors import BsnasError
from bsnas.layers import SqueezeExcite, create_act

__all__ = ["BsnasNet", "build_model"]


class BsnasNet(nn.Module):
    """``stem`` → ``stages`` → ``head`` → global pool → dropout → ``classifier``.

    ``arch`` keeps the :class:`~bsnas.arch.Arch` the network was built from.
    """

    def __init__(self, arch: Arch, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.arch = arch
        blocks = iter(arch.flat_blocks(in_channels))
        stem = next(blocks)
        self.stem = nn.Sequential()
        if arch.stem.data_bn:
            self.stem.add_module("data_bn", nn.BatchNorm2d(in_channels))
        self.stem.add_module("conv", create_block(stem.in_channels, stem.block))
        self.stages = nn.Sequential(*(nn.Sequential() for _ in arch.stages))
        for fb in blocks:
            self.stages[fb.stage - 1].add_module(str(fb.index), create_block(fb.in_channels, fb.block))
        self.head = _head(arch, arch.stages[-1][-1].width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(arch.head.dropout) if arch.head.dropout else nn.Identity()
        self.classifier = nn.Linear(arch.out_channels, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stages(self.stem(x)))
        return self.classifier(self.dropout(self.pool(x).flatten(1)))


def _head(arch: Arch, in_channels: int) -> nn.Sequential:
    head, seq = arch.head, nn.Sequential()
    if head.bn:
        seq.add_module("bn", nn.BatchNorm2d(in_channels))
        seq.add_module("act", create_act(head.act))
    if head.width is not None:
        seq.add_module("conv", ConvBnAct(nn.Conv2d(in_channels, head.width, 1, bias=False), head.width, head.act))
    if head.se is not None:
        seq.add_module("se", SqueezeExcite(head.width, head.se))
    return seq


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)


def build_model(arch: Arch | str, num_classes: int = 10, in_channels: int = 3) -> BsnasNet:
    """Build the network for ``arch`` (an :class:`~bsnas.arch.Arch` or its string)."""
    if isinstance(arch, str):
        arch = decode_arch(arch)
    if not isinstance(arch, Arch):
        raise BsnasError(f"build_model needs an Arch or an architecture string, but got {type(arch).__name__}")
    for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BsnasError(f"{name} must be a positive integer, but got {value!r}")
    return BsnasNet(arch, num_classes, in_channels)
