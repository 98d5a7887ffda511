"""Architecture records: an architecture with its input size and class count, as JSON.

A record file looks like::

    {"format": "bsnas.arch", "version": 1, "name": "cifar_resnet20",
     "arch": "stem_dbn_reg_k3_s1_c16_relu:...:head",
     "input_size": [3, 32, 32], "num_classes": 10,
     "flops": 41224832, "params": 272480}

``flops`` and ``params`` are written for people and checked on load: a
record whose numbers disagree with its architecture is refused as corrupt.
Any further keys (metrics, provenance, preprocessing) are kept in
:attr:`ArchRecord.extra`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bsnas.arch.codec import decode_arch, encode_arch
from bsnas.arch.spec import Arch
from bsnas.arch.tally import Cost, stage_costs
from bsnas.errors import ArchError, BsnasError, RecordError

__all__ = ["ArchRecord", "check_input", "load_record"]

FORMAT = "bsnas.arch"
VERSION = 1
_KNOWN = {"format", "version", "name", "arch", "input_size", "num_classes", "flops", "params"}


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_input(input_size: object, num_classes: object) -> tuple[int, int, int]:
    """Validate ``(channels, height, width)`` and a class count; return the size as a tuple."""
    if not (isinstance(input_size, (tuple, list)) and len(input_size) == 3 and all(map(_positive_int, input_size))):
        raise BsnasError(f"input_size must be (channels, height, width) of positive ints, but got {input_size!r}")
    if not _positive_int(num_classes):
        raise BsnasError(f"num_classes must be a positive integer, but got {num_classes!r}")
    return tuple(input_size)


@dataclass(frozen=True)
class ArchRecord:
    """An architecture with the input size and class count it is built for."""

    arch: Arch
    input_size: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.arch, Arch):
            raise BsnasError(f"ArchRecord needs an Arch, but got {type(self.arch).__name__}")
        object.__setattr__(self, "input_size", check_input(self.input_size, self.num_classes))

    @property
    def arch_string(self) -> str:
        return encode_arch(self.arch)

    def count(self) -> Cost:
        rows = stage_costs(self.arch, self.input_size, self.num_classes)
        return Cost(sum(r.flops for r in rows), sum(r.params for r in rows))

    def to_dict(self) -> dict[str, Any]:
        cost = self.count()
        return {"format": FORMAT, "version": VERSION, "name": self.name, "arch": self.arch_string,
                "input_size": list(self.input_size), "num_classes": self.num_classes,
                "flops": cost.flops, "params": cost.params, **self.extra}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, data: Any, source: str = "record") -> ArchRecord:
        def bad(msg: str) -> RecordError:
            return RecordError(f"{source}: {msg}")

        if not isinstance(data, dict):
            raise bad(f"a record must be a JSON object, but got {type(data).__name__}")
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise bad(f"expected format {FORMAT!r} version {VERSION}, but got "
                      f"format={data.get('format')!r} version={data.get('version')!r}; "
                      "write records with ArchRecord.save or `bsnas export`")
        for key in ("arch", "input_size", "num_classes"):
            if key not in data:
                raise bad(f"missing key {key!r}")
        size = data["input_size"]
        if not (isinstance(size, list) and len(size) == 3 and all(map(_positive_int, size))):
            raise bad(f"input_size must be [channels, height, width] of positive ints, but got {size!r}")
        if not _positive_int(data["num_classes"]):
            raise bad(f"num_classes must be a positive integer, but got {data['num_classes']!r}")
        try:
            arch = decode_arch(data["arch"])
        except ArchError as err:
            raise bad(str(err)) from None
        record = cls(arch, tuple(size), data["num_classes"], data.get("name"),
                     {k: v for k, v in data.items() if k not in _KNOWN})
        cost = record.count()
        for key, value in (("flops", cost.flops), ("params", cost.params)):
            if key not in data:
                continue
            if not _positive_int(data[key]):
                raise bad(f"{key} must be a positive integer, but got {data[key]!r} "
                          f"({type(data[key]).__name__}); the architecture has {key} {value}")
            if data[key] != value:
                raise bad(f"stored {key} {data[key]} but the architecture has {value}; "
                          "the record is corrupt or was edited by hand")
        return record


def load_record(path: str | Path) -> ArchRecord:
    """Read a record written by :meth:`ArchRecord.save`."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"no record file at {str(path)!r}; check the path")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecordError(f"{path}: not valid JSON ({err}); the record is corrupt") from None
    return ArchRecord.from_dict(data, source=str(path))
