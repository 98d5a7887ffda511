"""Counting a built model with the reference tools: fvcore (our convention) and thop.

Both trace or run the model, so they are slow; :func:`bsnas.count` gives the
same fvcore numbers analytically. thop agrees on convolutions and linear
layers but counts BatchNorm as 4 FLOPs per element (normalise and affine,
2 each) where fvcore counts 2, and adds one division per output element of
average pooling.
"""

from __future__ import annotations

import copy
import logging
import warnings

import torch
from torch import nn

__all__ = ["fvcore_flops", "thop_flops"]


def _input(model: nn.Module, input_size: tuple[int, int, int]) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else "cpu"
    return torch.zeros(1, *input_size, device=device)


def fvcore_flops(model: nn.Module, input_size: tuple[int, int, int] = (3, 32, 32)) -> int:
    """``fvcore.nn.FlopCountAnalysis(model.eval(), x).total()`` for one input of ``input_size``.

    The model's train/eval mode is restored afterwards.
    """
    from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)  # fvcore logs every op it skips (activations, adds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit tracing is deprecated
            analysis = FlopCountAnalysis(model.eval(), _input(model, input_size))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return int(analysis.total())
    finally:
        logger.setLevel(level)
        model.train(was_training)


def thop_flops(model: nn.Module, input_size: tuple[int, int, int] = (3, 32, 32)) -> int:
    """thop's operation count, on a copy (thop writes ``total_ops`` buffers into what it profiles)."""
    import thop

    probe = copy.deepcopy(model).eval()
    with torch.no_grad():
        ops, _ = thop.profile(probe, inputs=(_input(probe, input_size),), verbose=False)
    return int(ops)
