"""Width rules shared by the layer library, the cost model and the search spaces."""

from __future__ import annotations

import math

from bsnas.errors import BsnasError

__all__ = ["bsconv_s_mid_channels", "expanded_width"]


def bsconv_s_mid_channels(in_channels: int, p: float, min_mid_channels: int = 4) -> int:
    """Middle width of BSConv-S: ``min(in, max(min_mid, ceil(p * in)))`` (the reference's rule)."""
    if not 0.0 <= p <= 1.0:
        raise BsnasError(f"BSConv-S needs 0 <= p <= 1, but got p={p!r}; pick a ratio such as 0.25")
    return min(in_channels, max(min_mid_channels, math.ceil(p * in_channels)))


def expanded_width(in_width: int, expansion: float) -> int:
    """Expanded width of an ir block in a search space: ``round(in_width * expansion)``, at least 1."""
    return max(1, int(round(in_width * expansion)))
