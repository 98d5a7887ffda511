"""The convolution layer library: regular, DSC, BSConv-U and BSConv-S.

All four share one constructor signature::

    (in_channels, out_channels, kernel_size, stride=1, padding=None,
     dilation=1, bias=True, ...)

``padding=None`` means "same" padding for odd kernels,
``dilation * (kernel_size - 1) // 2``. :func:`create_conv` builds any of
them by name. BSConv-U and BSConv-S follow the reference implementation
(zeiss-microscopy/BSConv, ``bsconv/pytorch/modules.py``) exactly: the same
submodule order, the same bias placement, the same middle width and the
same orthonormality regulariser.
"""

from __future__ import annotations

import torch
from torch import nn

from bsnas.arch.names import ACTIVATIONS, CONV_TYPES
from bsnas.arch.widths import bsconv_s_mid_channels
from bsnas.errors import BsnasError, unknown_name

__all__ = [
    "BSConvS",
    "BSConvU",
    "DSConv",
    "RegularConv",
    "SqueezeExcite",
    "bsconv_s_mid_channels",
    "create_act",
    "create_conv",
    "reg_loss",
    "regularized_modules",
]

_ACT_LAYERS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "hswish": lambda: nn.Hardswish(inplace=True),
    "swish": lambda: nn.SiLU(inplace=True),
    "hsigmoid": lambda: nn.Hardsigmoid(inplace=True),
    "sigmoid": nn.Sigmoid,
    "linear": nn.Identity,
}


def create_act(name: str) -> nn.Module:
    """Return a fresh activation module by name (``linear`` is the identity)."""
    if name not in _ACT_LAYERS:
        raise unknown_name("activation", name, ACTIVATIONS)
    return _ACT_LAYERS[name]()


def _same_padding(kernel_size: int, dilation: int, padding: int | None) -> int:
    if padding is not None:
        return padding
    if not (isinstance(kernel_size, int) and not isinstance(kernel_size, bool) and kernel_size >= 1
            and kernel_size % 2 == 1):
        raise BsnasError(f"padding=None means 'same' padding, which needs an odd kernel_size, but got "
                         f"kernel_size={kernel_size!r}; use an odd kernel or pass padding explicitly")
    return dilation * (kernel_size - 1) // 2


def _check_channels(in_channels: object, out_channels: object) -> None:
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BsnasError(f"{name} must be a positive integer, but got {value!r}")


def _bn(channels: int, with_bn: bool) -> nn.Module | None:
    return nn.BatchNorm2d(channels) if with_bn else None


def _add(seq: nn.Sequential, name: str, module: nn.Module | None) -> None:
    if module is not None:
        seq.add_module(name, module)


class RegularConv(nn.Conv2d):
    """A plain k×k convolution with the shared constructor."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, bias: bool = True):
        _check_channels(in_channels, out_channels)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=_same_padding(kernel_size, dilation, padding),
                         dilation=dilation, bias=bias)


class DSConv(nn.Sequential):
    """Depthwise separable conv (MobileNetV1 order): ``dw`` k×k, [``bn``, ``act``], ``pw`` 1×1.

    Stride, padding and dilation apply to the depthwise conv; the bias sits
    on the pointwise conv, the last one.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, bias: bool = True,
                 with_bn: bool = False, act: str | None = None):
        super().__init__()
        _check_channels(in_channels, out_channels)
        self.dw = nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride,
                            padding=_same_padding(kernel_size, dilation, padding),
                            dilation=dilation, groups=in_channels, bias=False)
        _add(self, "bn", _bn(in_channels, with_bn))
        _add(self, "act", None if act is None else create_act(act))
        self.pw = nn.Conv2d(in_channels, out_channels, 1, bias=bias)


class BSConvU(nn.Sequential):
    """Unconstrained blueprint separable conv: ``pw`` 1×1 (no bias), [``bn``], ``dw`` k×k.

    Stride, padding, dilation and the bias apply to the depthwise conv only.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, bias: bool = True,
                 with_bn: bool = False):
        super().__init__()
        _check_channels(in_channels, out_channels)
        self.pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        _add(self, "bn", _bn(out_channels, with_bn))
        self.dw = nn.Conv2d(out_channels, out_channels, kernel_size, stride=stride,
                            padding=_same_padding(kernel_size, dilation, padding),
                            dilation=dilation, groups=out_channels, bias=bias)


class BSConvS(nn.Sequential):
    """Subspace blueprint separable conv: ``pw1`` in→mid, [``bn1``], ``pw2`` mid→out, [``bn2``], ``dw``.

    :meth:`regularization_loss` is ``‖W Wᵀ − I‖_F`` (not squared) on the
    ``pw1`` weight W of shape (mid, in).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, bias: bool = True,
                 with_bn: bool = False, p: float = 0.25, min_mid_channels: int = 4):
        super().__init__()
        _check_channels(in_channels, out_channels)
        mid = bsconv_s_mid_channels(in_channels, p, min_mid_channels)
        self.pw1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        _add(self, "bn1", _bn(mid, with_bn))
        self.pw2 = nn.Conv2d(mid, out_channels, 1, bias=False)
        _add(self, "bn2", _bn(out_channels, with_bn))
        self.dw = nn.Conv2d(out_channels, out_channels, kernel_size, stride=stride,
                            padding=_same_padding(kernel_size, dilation, padding),
                            dilation=dilation, groups=out_channels, bias=bias)

    def regularization_loss(self) -> torch.Tensor:
        return orthonormality_loss(self.pw1.weight)


def orthonormality_loss(weight: torch.Tensor) -> torch.Tensor:
    """``‖W Wᵀ − I‖_F`` for a 1×1 conv weight of shape (rows, cols, 1, 1)."""
    w = weight.flatten(1)
    gram = w @ w.t()
    return torch.linalg.matrix_norm(gram - torch.eye(gram.shape[0], device=w.device, dtype=w.dtype))


_CONV_CLASSES = {"regular": RegularConv, "dsc": DSConv, "bsconv_u": BSConvU, "bsconv_s": BSConvS}


def create_conv(name: str, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                **kwargs) -> nn.Module:
    """Build one of :data:`CONV_TYPES` by name with the shared signature.

    Extra keyword arguments go to the class (``with_bn`` for all but
    ``regular``, ``act`` for ``dsc``, ``p`` and ``min_mid_channels`` for
    ``bsconv_s``); one the class does not take is an error.
    """
    if name not in _CONV_CLASSES:
        raise unknown_name("conv type", name, CONV_TYPES)
    try:
        return _CONV_CLASSES[name](in_channels, out_channels, kernel_size, stride, **kwargs)
    except TypeError as err:
        raise BsnasError(f"conv type {name!r} does not take these arguments {sorted(kwargs)}: {err}") from None


class SqueezeExcite(nn.Module):
    """Squeeze-excitation as in the reference MobileNetV3: squeeze to ``channels // divisor``."""

    def __init__(self, channels: int, divisor: int = 4):
        super().__init__()
        squeeze = channels // divisor
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


def regularized_modules(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` that define ``regularization_loss()`` (BSConv-S parts)."""
    return [m for m in model.modules() if hasattr(m, "regularization_loss")]


def reg_loss(model: nn.Module, alpha: float = 0.1, modules: list[nn.Module] | None = None) -> torch.Tensor:
    """``alpha`` times the sum of ``regularization_loss()`` over all modules that define one.

    ``modules`` may pass :func:`regularized_modules` computed once, to spare a
    training loop the walk over the model at every step. Returns a zero
    tensor for a model without BSConv-S parts.
    """
    terms = [m.regularization_loss() for m in (regularized_modules(model) if modules is None else modules)]
    if not terms:
        return torch.zeros(())
    return alpha * torch.stack(terms).sum()
