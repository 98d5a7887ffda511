"""The layer library and the model builder: conv types, blocks, ``BsnasNet``, drop-in replacement."""

from __future__ import annotations

from bsnas.nn.layers import BSConvS, BSConvU, DSConv, RegularConv, SqueezeExcite, create_act, create_conv, reg_loss
from bsnas.nn.model import BsnasNet, build_model, create_model, load_weights, save_weights
from bsnas.nn.replace import Replacement, replace_convs

__all__ = [
    "BSConvS", "BSConvU", "BsnasNet", "DSConv", "RegularConv", "Replacement", "SqueezeExcite", "build_model",
    "create_act", "create_conv", "create_model", "load_weights", "reg_loss", "replace_convs", "save_weights",
]
