"""bsnas: neural architecture search over blueprint separable convolutions."""

from __future__ import annotations

from bsnas.arch import Arch, Block, Head, Stem
from bsnas.baselines import baseline, list_baselines
from bsnas.codec import decode_arch, encode_arch
from bsnas.cost import Cost, StageCost, count, count_stages
from bsnas.data import load_data
from bsnas.errors import ArchError, BsnasError, RecordError, SearchError, SpaceError, UnknownNameError
from bsnas.front import hypervolume, pareto_front
from bsnas.layers import CONV_TYPES, BSConvS, BSConvU, DSConv, RegularConv, create_conv, reg_loss
from bsnas.model import BsnasNet, build_model
from bsnas.record import ArchRecord, load_record
from bsnas.replace import Replacement, replace_convs
from bsnas.space import load_space, sample_arch
from bsnas.train import create_model
from bsnas.version import __version__ as __version__

__all__ = [
    "Arch", "ArchError", "ArchRecord", "BSConvS", "BSConvU", "Block", "BsnasError", "BsnasNet", "CONV_TYPES",
    "Cost", "DSConv", "Head", "RecordError", "RegularConv", "Replacement", "StageCost", "Stem",
    "UnknownNameError", "baseline", "build_model", "count", "count_stages", "create_conv", "decode_arch",
    "encode_arch", "list_baselines", "load_record", "reg_loss", "replace_convs", "SearchError", "SpaceError",
    "create_model", "hypervolume", "load_data", "load_space", "pareto_front", "sample_arch",
]
