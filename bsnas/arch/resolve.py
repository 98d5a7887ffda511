"""One way in: turn whatever names an architecture into an :class:`~bsnas.arch.record.ArchRecord`.

Accepted everywhere an architecture is asked for (:func:`bsnas.count`,
:func:`bsnas.build_model`, :func:`bsnas.create_model`, the CLI's ``ARCH``):

* an :class:`ArchRecord` (its input size and class count come with it);
* an :class:`~bsnas.arch.spec.Arch`;
* a string: an architecture string (``stem_...``), a baseline name
  (``cifar_resnet20_bsconvu``), or the path of a JSON record or of a
  ``bsnas train`` output folder (its ``record.json``);
* a :class:`pathlib.Path` to a record or a run folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bsnas.arch.baselines import BASELINE_PREFIXES, baseline, is_baseline
from bsnas.arch.codec import decode_arch
from bsnas.arch.record import ArchRecord, load_record
from bsnas.arch.spec import Arch
from bsnas.errors import BsnasError

__all__ = ["RECORD_FILE", "as_record"]

#: The record inside a run folder written by ``bsnas train``.
RECORD_FILE = "record.json"


def _from_path(path: Path) -> ArchRecord:
    return load_record(path / RECORD_FILE if path.is_dir() else path)


def _from_text(text: str) -> ArchRecord:
    if text.startswith("stem"):
        return ArchRecord(decode_arch(text))
    if is_baseline(text):
        return baseline(text)
    if text.endswith(".json") or Path(text).exists():
        return _from_path(Path(text))
    if text.startswith(BASELINE_PREFIXES):
        return baseline(text)  # an unknown baseline-like name raises the baseline error with examples
    raise BsnasError(f"cannot read architecture {text!r}: give a record file (*.json), a `bsnas train` output "
                     "folder, a baseline name (see `bsnas baselines`) or an architecture string starting with 'stem'")


def as_record(obj: ArchRecord | Arch | str | Path, *, num_classes: int | None = None,
              input_size: tuple[int, int, int] | None = None, in_channels: int | None = None) -> ArchRecord:
    """The record named by ``obj``; ``num_classes``, ``input_size`` or ``in_channels`` override its own."""
    if isinstance(obj, ArchRecord):
        record = obj
    elif isinstance(obj, Arch):
        record = ArchRecord(obj)
    elif isinstance(obj, str):
        record = _from_text(obj.strip())
    elif isinstance(obj, Path):
        record = _from_path(obj)
    else:
        raise BsnasError(f"expected an architecture (an Arch, an ArchRecord, an architecture string, a baseline "
                         f"name or a record path), but got {type(obj).__name__}")
    size = tuple(input_size) if input_size is not None else record.input_size
    if in_channels is not None:
        size = (in_channels, *size[1:])
    changes = {k: v for k, v in (("input_size", size), ("num_classes", num_classes)) if v is not None}
    return dataclasses.replace(record, **changes) if changes else record
