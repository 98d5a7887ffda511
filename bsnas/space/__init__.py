"""Search spaces as data: the YAML format, its choice table, sampling and exact statistics."""

from __future__ import annotations

from bsnas.space.choices import parameter_names, random_archs, sample_arch, walk
from bsnas.space.schema import SearchSpace, find_spaces, load_space
from bsnas.space.stats import SpaceStats, describe_space

__all__ = ["SearchSpace", "SpaceStats", "describe_space", "find_spaces", "load_space", "parameter_names",
           "random_archs", "sample_arch", "walk"]
