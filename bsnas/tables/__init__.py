"""Tables of fully trained networks: ground truth a search can be checked against, and answered from."""

from __future__ import annotations

from bsnas.tables import nas_bench_macro

__all__ = ["nas_bench_macro"]
