"""Build an ``nn.Module`` from an architecture, and rebuild a saved one with its weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bsnas.arch.record import ArchRecord
from bsnas.arch.resolve import as_record
from bsnas.arch.spec import Arch
from bsnas.errors import BsnasError
from bsnas.files import atomic_write
from bsnas.nn.blocks import ConvBnAct, create_block
from bsnas.nn.layers import SqueezeExcite, create_act

__all__ = ["WEIGHTS_FILE", "BsnasNet", "build_model", "create_model", "load_weights", "save_weights"]

#: The weights inside a run folder written by ``bsnas train``.
WEIGHTS_FILE = "model.safetensors"


class BsnasNet(nn.Module):
    """``stem`` → ``stages`` → ``head`` → global pool → dropout → ``classifier``.

    ``arch`` keeps the :class:`~bsnas.arch.spec.Arch` the network was built from.
    """

    def __init__(self, arch: Arch, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.arch = arch
        blocks = iter(arch.flat_blocks(in_channels))
        stem = next(blocks)
        self.stem = nn.Sequential()
        if arch.stem.data_bn:
            self.stem.add_module("data_bn", nn.BatchNorm2d(in_channels))
        self.stem.add_module("conv", create_block(stem.in_channels, stem.block))
        self.stages = nn.Sequential(*(nn.Sequential() for _ in arch.stages))
        for fb in blocks:
            self.stages[fb.stage - 1].add_module(str(fb.index), create_block(fb.in_channels, fb.block))
        self.head = _head(arch, arch.stages[-1][-1].width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(arch.head.dropout) if arch.head.dropout else nn.Identity()
        self.classifier = nn.Linear(arch.out_channels, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stages(self.stem(x)))
        return self.classifier(self.dropout(self.pool(x).flatten(1)))


def _head(arch: Arch, in_channels: int) -> nn.Sequential:
    head, seq = arch.head, nn.Sequential()
    if head.bn:
        seq.add_module("bn", nn.BatchNorm2d(in_channels))
        seq.add_module("act", create_act(head.act))
    if head.width is not None:
        seq.add_module("conv", ConvBnAct(nn.Conv2d(in_channels, head.width, 1, bias=False), head.width, head.act))
    if head.se is not None:
        seq.add_module("se", SqueezeExcite(head.width, head.se))
    return seq


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)


def build_model(arch: ArchRecord | Arch | str | Path, num_classes: int | None = None,
                in_channels: int | None = None) -> BsnasNet:
    """Build the network for ``arch`` (see :func:`bsnas.as_record` for what it may be), freshly initialised.

    ``num_classes`` and ``in_channels`` default to the record's (10 and 3 for a bare architecture).
    """
    record = as_record(arch, num_classes=num_classes, in_channels=in_channels)
    return BsnasNet(record.arch, record.num_classes, record.input_size[0])


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Write the model's state as safetensors, atomically (a temporary file, then a rename)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a safetensors file into ``model``; a file for another architecture names the first mismatch."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise BsnasError(f"no weights file at {str(path)!r}; check the path")
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types
        raise BsnasError(f"{path}: not a safetensors file ({err}); save weights with `bsnas train`") from None
    own = model.state_dict()
    what = "this architecture"
    for key, tensor in state.items():
        if key not in own:
            raise BsnasError(f"{path} does not fit {what}: it has weight {key!r}, which the model lacks")
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise BsnasError(f"{path} does not fit {what}: weight {key!r} has shape {tuple(tensor.shape)} in the "
                             f"file but {tuple(own[key].shape)} in the model")
    missing = [k for k in own if k not in state]
    if missing:
        raise BsnasError(f"{path} does not fit {what}: it lacks weight {missing[0]!r} "
                         f"({len(missing)} missing in all)")
    model.load_state_dict(state)
    return model


def create_model(arch: ArchRecord | Arch | str | Path, weights: str | Path | None = None, *,
                 num_classes: int | None = None, in_chans: int | None = None) -> BsnasNet:
    """The ``nn.Module`` of an architecture, a record, a record file or a ``bsnas train`` output folder.

    Weights come from ``weights`` or, for a run folder, its ``model.safetensors``;
    otherwise the model is freshly initialised.
    """
    folder = Path(arch) if isinstance(arch, (str, Path)) else None
    if weights is None and folder is not None and (folder / WEIGHTS_FILE).is_file():
        weights = folder / WEIGHTS_FILE
    model = build_model(arch, num_classes, in_chans)
    if weights is not None:
        load_weights(model, weights)
    return model
