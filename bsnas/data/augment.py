"""Batch augmentation as whole-tensor operations, on any device."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["augment_batch"]


def augment_batch(x: torch.Tensor, pad: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding ``pad`` and (if ``hflip``) random horizontal flips, per image.

    Random numbers come from ``generator`` (a CPU generator), so a seed fixes them on any device.
    """
    b, c, h, w = x.shape
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        offsets = torch.randint(0, 2 * pad + 1, (2, b), generator=generator).to(x.device)
        rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (offsets[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(b, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    if hflip:
        flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)[:, None, None, None]
        x = torch.where(flip, x.flip(3), x)
    return x
