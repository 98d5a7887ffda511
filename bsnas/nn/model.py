"""Build an ``nn.Module`` from an architecture, and rebuild a saved one with its weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bsnas.arch.record import ArchRecord
from bsnas.arch.resolve import as_record
from bsnas.arch.spec import Arch, Head
from bsnas.errors import BsnasError
from bsnas.files import atomic_write
from bsnas.nn.blocks import ConvBnAct, create_block
from bsnas.nn.layers import SqueezeExcite, create_act

__all__ = ["WEIGHTS_FILE", "BsnasNet", "build_model", "create_model", "head_module", "load_weights", "save_weights"]

#: The weights inside a run folder written by ``bsnas train``.
WEIGHTS_FILE = "model.safetensors"


class BsnasNet(nn.Module):
    """``stem`` (data BN, conv, max-pool) → ``stages`` → ``head`` → global pool → dropout → ``classifier``.

    ``arch`` keeps the :class:`~bsnas.arch.spec.Arch` the network was built from. Like a timm model it has
    :meth:`forward_features` (the unpooled features), :meth:`forward_head`, :meth:`reset_classifier`,
    ``num_features``, ``num_classes`` and ``pretrained_cfg`` (alias ``default_cfg``): the input size and,
    when the network comes from a trained record, the preprocessing it was trained with (mean and std in
    the pixel units of the data, channel order, class names).
    """

    def __init__(self, arch: Arch, num_classes: int = 10, in_channels: int = 3,
                 preprocessing: dict | None = None, input_size: tuple[int, int, int] | None = None):
        super().__init__()
        self.arch = arch
        self.num_features = arch.out_channels
        self.num_classes = num_classes
        self.pretrained_cfg = _cfg(arch, num_classes, input_size or (in_channels, None, None), preprocessing)
        blocks = iter(arch.flat_blocks(in_channels))
        stem = next(blocks)
        self.stem = nn.Sequential()
        if arch.stem.data_bn:
            self.stem.add_module("data_bn", nn.BatchNorm2d(in_channels))
        self.stem.add_module("conv", create_block(stem.in_channels, stem.block))
        if arch.stem.pool is not None:
            self.stem.add_module("pool", nn.MaxPool2d(arch.stem.pool, stride=2, padding=arch.stem.pool // 2))
        self.stages = nn.Sequential(*(nn.Sequential() for _ in arch.stages))
        for fb in blocks:
            self.stages[fb.stage - 1].add_module(str(fb.index), create_block(fb.in_channels, fb.block))
        self.head = head_module(arch.head, arch.stages[-1][-1].width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(arch.head.dropout) if arch.head.dropout else nn.Identity()
        self.classifier = nn.Linear(arch.out_channels, num_classes)
        _init_weights(self)

    @property
    def default_cfg(self) -> dict:
        return self.pretrained_cfg

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The features before global pooling: (N, ``num_features``, H', W')."""
        return self.head(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, dropout and classify features; ``pre_logits`` returns the pooled features instead."""
        x = self.dropout(self.pool(x).flatten(1))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """A new, freshly initialised classifier for ``num_classes`` (0: none, the model returns features)."""
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
            raise BsnasError(f"num_classes must be an integer >= 0, but got {num_classes!r}")
        device = self.classifier.weight.device if isinstance(self.classifier, nn.Linear) else None
        self.classifier = nn.Linear(self.num_features, num_classes, device=device) if num_classes else nn.Identity()
        if num_classes:
            nn.init.normal_(self.classifier.weight, std=0.01)
            nn.init.zeros_(self.classifier.bias)
        self.num_classes = num_classes
        self.pretrained_cfg = {**self.pretrained_cfg, "num_classes": num_classes}


def _cfg(arch: Arch, num_classes: int, input_size: tuple, preprocessing: dict | None) -> dict:
    """A timm-style configuration: where the classifier and first conv are, and the preprocessing."""
    pre = preprocessing or {}
    cfg = {"architecture": "bsnas", "num_classes": num_classes, "classifier": "classifier",
           "first_conv": "stem.conv.conv", "input_size": tuple(pre.get("input_size") or input_size),
           "interpolation": "bilinear", "crop_pct": 1.0}
    if pre.get("mean") is not None:  # timm scales pixels to [0, 1] first; bsnas keeps the data's own units
        top = float(pre.get("pixel_max", 255))
        cfg.update(mean=tuple(m / top for m in pre["mean"]), std=tuple(s / top for s in pre["std"]))
    if pre:
        cfg["bsnas_preprocessing"] = pre
    return cfg


def head_module(head: Head, in_channels: int) -> nn.Sequential:
    """The head ``head`` fed ``in_channels``: BN + act (pre-activation), 1x1 conv, SE, before pooling."""
    seq = nn.Sequential()
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
    return BsnasNet(record.arch, record.num_classes, record.input_size[0], record.extra.get("preprocessing"),
                    record.input_size)


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
    """The ``nn.Module`` of a baseline name, an architecture string, an :class:`ArchRecord` or ``Arch``, a
    record file or a ``bsnas train`` output folder (timm's ``create_model``, for bsnas architectures).

    Weights come from ``weights`` or, for a run folder, its ``model.safetensors``; otherwise the model
    is freshly initialised. With weights, a ``num_classes`` other than the record's loads everything but
    the classifier and gives a new one (fine-tuning on another class count).
    """
    folder = Path(arch) if isinstance(arch, (str, Path)) else None
    if weights is None and folder is not None and (folder / WEIGHTS_FILE).is_file():
        weights = folder / WEIGHTS_FILE
    if weights is None:
        return build_model(arch, num_classes, in_chans)
    record = as_record(arch)
    if in_chans is not None and in_chans != record.input_size[0]:
        raise BsnasError(f"the weights in {str(weights)!r} were trained on {record.input_size[0]} input channels, "
                         f"so in_chans={in_chans} cannot load them; leave in_chans out")
    model = load_weights(build_model(record), weights)
    if num_classes is not None and num_classes != record.num_classes:
        model.reset_classifier(num_classes)
    return model
