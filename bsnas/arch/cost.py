"""The public cost model: exact FLOPs (fvcore's convention) and parameters, without building a model.

The convention is fvcore's (``fvcore.nn.FlopCountAnalysis`` on the model
in eval mode): one multiply-add is one FLOP; convolutions count
``out × in/groups × k² × H_out × W_out``, the classifier ``in × out``,
BatchNorm 2 per element, global average pooling 1 per input element;
activations, residual additions, the SE multiplication and max-pooling
count 0.
Parameters are ``sum(p.numel() for p in model.parameters())``. The
arithmetic is in :mod:`bsnas.arch.tally`.
"""

from __future__ import annotations

from pathlib import Path

from bsnas.arch.record import ArchRecord
from bsnas.arch.resolve import as_record
from bsnas.arch.spec import Arch
from bsnas.arch.tally import Cost, StageCost, stage_costs

__all__ = ["Cost", "StageCost", "count", "count_stages"]

ArchLike = ArchRecord | Arch | str | Path


def count_stages(arch: ArchLike, input_size: tuple[int, int, int] | None = None,
                 num_classes: int | None = None) -> list[StageCost]:
    """Per-stage FLOPs and params: ``stem``, ``s1`` ... ``sN``, ``head`` (pool and classifier included).

    ``input_size`` and ``num_classes`` default to the record's (3×32×32 and
    10 for a bare architecture).
    """
    record = as_record(arch, num_classes=num_classes, input_size=input_size)
    return stage_costs(record.arch, record.input_size, record.num_classes)


def count(arch: ArchLike, input_size: tuple[int, int, int] | None = None, num_classes: int | None = None) -> Cost:
    """Exact FLOPs (fvcore convention) and parameters of the model built from ``arch``."""
    rows = count_stages(arch, input_size, num_classes)
    return Cost(sum(r.flops for r in rows), sum(r.params for r in rows))
