"""The vocabulary of architectures: conv types, activations and block kinds, as plain names.

These names belong to the data layer. :mod:`bsnas.nn` maps each one to a
module; the codec, the cost model and the search spaces only read them.
"""

from __future__ import annotations

__all__ = ["ACTIVATIONS", "BLOCK_KINDS", "CONV_TYPES", "MAX_KERNEL", "OP_CODES"]

#: Convolution types, with their short code in architecture strings.
OP_CODES = {"regular": "reg", "dsc": "dsc", "bsconv_u": "bsu", "bsconv_s": "bss"}
CONV_TYPES = tuple(OP_CODES)

#: ``linear`` is the identity.
ACTIVATIONS = ("relu", "relu6", "hswish", "swish", "hsigmoid", "sigmoid", "linear")

#: ``conv``: conv–BN–act. ``basic``: ResNet basic block (post-activation).
#: ``pre``: pre-activation basic block (WideResNet). ``ir``: inverted residual.
#: ``skip``: an identity layer; where it changes the stride or the width, a 1×1 conv (no bias) and BN
#: project the input (NAS-Bench-Macro's identity choice). It has no conv type of its own.
BLOCK_KINDS = ("conv", "basic", "pre", "ir", "skip")

MAX_KERNEL = 11
