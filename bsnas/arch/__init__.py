"""Architectures as data: names, the dataclass tree, its string codec, records, baselines and the cost model.

This layer imports nothing from :mod:`bsnas.nn`: it is plain data and
arithmetic, and the layer library maps its names to modules.
"""

from __future__ import annotations

from bsnas.arch.baselines import baseline, is_baseline, list_baselines
from bsnas.arch.codec import decode_arch, encode_arch
from bsnas.arch.cost import Cost, StageCost, count, count_stages
from bsnas.arch.names import ACTIVATIONS, BLOCK_KINDS, CONV_TYPES, OP_CODES
from bsnas.arch.record import ArchRecord, load_record
from bsnas.arch.resolve import as_record
from bsnas.arch.spec import Arch, Block, FlatBlock, Head, Stem

__all__ = [
    "ACTIVATIONS", "BLOCK_KINDS", "CONV_TYPES", "OP_CODES", "Arch", "ArchRecord", "Block", "Cost", "FlatBlock",
    "Head", "StageCost", "Stem", "as_record", "baseline", "count", "count_stages", "decode_arch", "encode_arch",
    "is_baseline", "list_baselines", "load_record",
]
