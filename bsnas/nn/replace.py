"""Drop-in replacement of an existing model's regular convs by BSConv (as the reference replacers do)."""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

from bsnas.errors import BsnasError
from bsnas.nn.layers import BSConvS, BSConvU

__all__ = ["Replacement", "replace_convs"]


class Replacement(NamedTuple):
    """What :func:`replace_convs` did. ``model`` is the same object, changed in place."""

    model: nn.Module
    replaced: int
    params_before: int
    params_after: int


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _kernel_pairs(kernel_sizes) -> set[tuple[int, int]]:
    pairs = set()
    for k in kernel_sizes:
        pair = (k, k) if isinstance(k, int) else tuple(k)
        if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
            raise BsnasError(f"kernel_sizes must hold ints or (h, w) pairs, but got {k!r} in {kernel_sizes!r}")
        pairs.add(pair)
    return pairs


def replace_convs(model: nn.Module, kind: str = "bsconv_u", kernel_sizes=(3, 5), p: float = 0.25,
                  with_bn: bool = False) -> Replacement:
    """Replace every ``nn.Conv2d`` with ``groups == 1`` and a listed kernel size by ``kind``.

    ``kind`` is ``"bsconv_u"`` or ``"bsconv_s"`` (with middle-width ratio
    ``p``); ``with_bn`` adds the inner BatchNorm(s). Stride, padding,
    dilation, padding mode and the presence of a bias are kept. Train a
    ``bsconv_s`` result with ``loss + bsnas.reg_loss(model)``.
    """
    if kind not in ("bsconv_u", "bsconv_s"):
        raise BsnasError(f"kind must be 'bsconv_u' or 'bsconv_s', but got {kind!r}")
    pairs = _kernel_pairs(kernel_sizes)
    before = _params(model)
    if isinstance(model, nn.Conv2d):
        raise BsnasError("replace_convs needs a model that contains convs, not a bare nn.Conv2d; "
                         "wrap it in nn.Sequential")

    def convert(conv: nn.Conv2d) -> nn.Module:
        extra = {"p": p} if kind == "bsconv_s" else {}
        new = (BSConvS if kind == "bsconv_s" else BSConvU)(
            conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
            dilation=conv.dilation, bias=conv.bias is not None, with_bn=with_bn, **extra)
        new.dw.padding_mode = conv.padding_mode
        return new.to(device=conv.weight.device, dtype=conv.weight.dtype)

    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and child.groups == 1 and child.kernel_size in pairs:
                setattr(parent, name, convert(child))
                replaced += 1
    return Replacement(model, replaced, before, _params(model))
