"""A per-block latency lookup table (FBNet's answer to measuring thousands of sampled networks).

Each unit of a network (:mod:`bsnas.latency.units`: the stem, every block at its input size, the head)
is measured once as the backend runs it, and a network's latency is predicted as
``intercept + slope * sum(units)``. The two coefficients are fitted by least squares on networks measured
end to end when the table is built (``calibrate``): a network is not exactly the sum of its parts (the
per-call overhead of one module call against many, caches warmed by the previous block). A table built
without calibration, or one that fills itself as a search meets new blocks (``lazy``), predicts the plain
sum. The table records the fingerprint of the machine and settings it was measured with
(:mod:`bsnas.latency.fingerprint`) and refuses to answer under another.

The file is JSON: ``{"format": "bsnas-latency-table", "version": 1, "fingerprint": {...}, "units":
{key: ms}, "fit": {...}, "timing": {...}}``. Saving merges with what is on disk, so workers that fill one
table lazily do not lose each other's units.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from bsnas.arch.spec import Arch
from bsnas.errors import BsnasError
from bsnas.files import atomic_write_text
from bsnas.latency.fingerprint import check_same, device_fingerprint
from bsnas.latency.timing import Timing, call_times, check_settings
from bsnas.latency.units import Unit, arch_units, space_units
from bsnas.space.schema import SearchSpace

__all__ = ["FORMAT", "LatencyTable"]

FORMAT, VERSION = "bsnas-latency-table", 1
#: How a unit is timed: fewer runs than an end-to-end measurement, since thousands are measured.
UNIT_TIMING = {"warmup": 5, "min_runs": 20, "min_time": 0.05}


class LatencyTable:
    """Unit latencies in ms under one fingerprint, with the fitted per-network overhead (see the module
    docstring). ``lazy`` measures a unit the first time a prediction needs it."""

    def __init__(self, fingerprint: dict, units: dict[str, float] | None = None, fit: dict | None = None,
                 *, lazy: bool = False, device: str = "cpu", timing: dict | None = None):
        self.fingerprint = dict(fingerprint)
        self.units: dict[str, float] = dict(units or {})
        self.fit = dict(fit or {"intercept_ms": 0.0, "slope": 1.0, "networks": 0})
        self.lazy, self.device = lazy, device
        self.timing = {**UNIT_TIMING, **(timing or {})}
        self.measured_now = 0  # units measured by this object (lazily or by a build)
        self.path: Path | None = None  # where a lazy table saves each unit it measures

    @classmethod
    def new(cls, backend: str = "torch", threads: int = 1, batch: int = 1, device: str = "cpu",
            lazy: bool = False) -> LatencyTable:
        """An empty table for measurements on this machine with these settings."""
        check_settings(backend, threads, batch, device)
        return cls(device_fingerprint(backend, threads, batch, device), lazy=lazy, device=device)

    # -- measuring -------------------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self.fingerprint["backend"]

    def unit_times(self, unit: Unit) -> list[float]:
        """One round of per-call times (seconds) of ``unit`` under the table's settings."""
        fp = self.fingerprint
        return call_times(unit.build(), (fp["batch"], *unit.shape), backend=fp["backend"], threads=fp["threads"],
                          device=self.device, **self.timing)

    def measure_unit(self, unit: Unit) -> float:
        self.units[unit.key] = round(Timing.of(self.unit_times(unit)).median_ms, 6)
        self.measured_now += 1
        return self.units[unit.key]

    def unit_ms(self, unit: Unit) -> float:
        if unit.key in self.units:
            return self.units[unit.key]
        if not self.lazy:
            raise BsnasError(f"the latency table has no entry for {unit.key}; build it for this space and input size "
                             "(bsnas latency-table build --space NAME --input-size ...), or let a search fill one "
                             "lazily (--latency-backend)")
        value = self.measure_unit(unit)
        if self.path is not None:
            self.save(self.path)
        return value

    def units_sum(self, arch: Arch, input_size: tuple[int, int, int], num_classes: int) -> float:
        return float(sum(self.unit_ms(u) for u in arch_units(arch, tuple(input_size), num_classes)))

    def predict(self, arch: Arch, input_size: tuple[int, int, int], num_classes: int) -> float:
        """The predicted end-to-end latency of ``arch`` in ms."""
        units = arch_units(arch, tuple(input_size), num_classes)
        total = sum(self.unit_ms(u) for u in units)
        fit = self.fit
        return max(0.0, fit["intercept_ms"] + fit["slope"] * total + fit.get("per_unit_ms", 0.0) * len(units))

    def build(self, space: SearchSpace, input_size: tuple[int, int, int], num_classes: int, rounds: int = 3,
              progress: Callable[[int, int], None] | None = None) -> int:
        """Measure every unit ``space`` can produce at ``input_size`` not yet in the table; return how many.

        Each unit is timed in ``rounds`` passes over the whole list, and its latency is the median of the
        pooled calls: on a shared machine a slow spell of a second then touches one pass of a unit, not all.
        """
        if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
            raise BsnasError(f"rounds must be a positive integer, but got {rounds!r}")
        todo = {u.key: u for group in space_units(space, input_size, num_classes) for u in group
                if u.key not in self.units}
        times: dict[str, list[float]] = {key: [] for key in todo}
        done = 0
        for _ in range(rounds):
            for key, unit in todo.items():
                times[key] += self.unit_times(unit)
                done += 1
                if progress:
                    progress(done, rounds * len(todo))
        for key, pooled in times.items():
            self.units[key] = round(Timing.of(pooled).median_ms, 6)
        self.measured_now += len(todo)
        return len(todo)

    def calibrate(self, archs: Iterable[Arch], input_size: tuple[int, int, int], num_classes: int,
                  measure: Callable[[Arch], float]) -> dict:
        """Fit ``intercept + slope * sum(units) + per_unit * units`` to the end-to-end ``measure(arch)`` (ms) of
        ``archs`` by least squares: the per-call overhead a unit measured alone carries and the network does
        not (or the reverse) grows with the number of units. With under 4 networks, only the intercept and
        slope are fitted."""
        sums, counts, measured = [], [], []
        for arch in archs:
            sums.append(self.units_sum(arch, input_size, num_classes))
            counts.append(len(arch_units(arch, tuple(input_size), num_classes)))
            measured.append(float(measure(arch)))
        if len(sums) < 2:
            raise BsnasError(f"calibrating a latency table needs at least 2 networks, but got {len(sums)}")
        x, n, y = np.asarray(sums), np.asarray(counts, float), np.asarray(measured)
        columns = [np.ones_like(x), x] + ([n] if len(x) >= 4 and np.ptp(n) > 0 else [])
        coef = np.linalg.lstsq(np.column_stack(columns), y, rcond=None)[0]
        intercept, slope, per_unit = float(coef[0]), float(coef[1]), float(coef[2]) if len(coef) > 2 else 0.0
        if slope < 0:  # no sense in a table whose units make a network faster: fall back to the plain ratio
            intercept, slope, per_unit = 0.0, float(np.median(y / x)), 0.0
        fitted = intercept + slope * x + per_unit * n
        ss = float(np.sum((y - y.mean()) ** 2))
        self.fit = {"intercept_ms": intercept, "slope": slope, "per_unit_ms": per_unit, "networks": len(sums),
                    "r2": 1.0 - float(np.sum((y - fitted) ** 2)) / ss if ss > 0 else 1.0,
                    "median_abs_rel_error_in_sample": float(np.median(np.abs(fitted - y) / y)),
                    "sum_over_measured_median": float(np.median(x / y))}
        return self.fit

    def complete_for(self, space: SearchSpace, input_size: tuple[int, int, int], num_classes: int) -> bool:
        """Whether the table holds every unit ``space`` can produce at ``input_size``."""
        return all(u.key in self.units for g in space_units(space, input_size, num_classes) for u in g)

    def scale(self, space: SearchSpace, input_size: tuple[int, int, int], num_classes: int,
              floor: float = 0.0) -> float:
        """The space's largest predicted latency, to normalise it for the hypervolume.

        An upper bound from the units the table holds: the intercept plus the slope times the dearest path
        through the stages (the dearest stem, each stage's dearest first block and its deepest run of its
        dearest later block, the dearest head), as :func:`bsnas.space.describe_space` bounds FLOPs. Exact
        when the table holds every unit of the space; a table that lacks some also takes ``floor``.
        """
        groups = space_units(space, input_size, num_classes)
        dearest = [max((self.units[u.key] for u in g if u.key in self.units), default=0.0) for g in groups]
        total = dearest[0] + dearest[-1]
        for s, st in enumerate(space.stages):
            total += dearest[1 + 2 * s] + (max(st.depth) - 1) * dearest[2 + 2 * s]
        most_units = 2 + sum(max(st.depth) for st in space.stages)
        bound = (self.fit["intercept_ms"] + self.fit["slope"] * total
                 + max(0.0, self.fit.get("per_unit_ms", 0.0)) * most_units)
        if not self.complete_for(space, input_size, num_classes):
            bound = max(bound, floor)
        if not bound > 0:
            raise BsnasError("the latency table holds no unit of this space yet, so it cannot scale latency; build "
                             "it first (bsnas latency-table build)")
        return float(bound)

    # -- files -----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "fingerprint": self.fingerprint, "timing": self.timing,
                "fit": self.fit, "units": dict(sorted(self.units.items()))}

    def save(self, path: str | Path) -> Path:
        """Write the table (merged with the units a file already there holds, under the same fingerprint)."""
        path = Path(path)
        units = dict(self.units)
        if path.exists():
            try:
                other = _parse(path)
                if other["fingerprint"] == self.fingerprint:
                    units = {**other["units"], **units}
            except BsnasError:
                pass  # a corrupt file is replaced
        self.units = units
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path, *, expect: dict | None = None, allow_foreign: bool = False,
             lazy: bool = False, device: str = "cpu") -> tuple[LatencyTable, list[str]]:
        """Read a table; with ``expect`` (the fingerprint of here and now) refuse one from elsewhere. Returns the
        table and the warnings (a foreign table used with ``allow_foreign``)."""
        raw = _parse(Path(path))
        warnings = check_same(raw["fingerprint"], expect, f"latency table {path}", allow_foreign) if expect else []
        return cls(raw["fingerprint"], raw["units"], raw["fit"], lazy=lazy, device=device,
                   timing=raw.get("timing")), warnings


    @classmethod
    def load_here(cls, path: str | Path, *, allow_foreign: bool = False, lazy: bool = False,
                  device: str | None = None) -> tuple[LatencyTable, list[str]]:
        """Read a table and check it against this machine under the table's own backend, threads and batch
        (on ``device``, default the table's): the file is read once."""
        raw = _parse(Path(path))
        fp = raw["fingerprint"]
        device = device or fp["device"]
        here = device_fingerprint(fp["backend"], fp["threads"], fp["batch"], device)
        warnings = check_same(fp, here, f"latency table {path}", allow_foreign)
        return cls(fp, raw["units"], raw["fit"], lazy=lazy, device=device, timing=raw.get("timing")), warnings


def _parse(path: Path) -> dict:
    """The checked contents of a table file, or a one-line error saying what is wrong with it."""
    def bad(why: str) -> BsnasError:
        return BsnasError(f"{path} is not a valid bsnas latency table ({why}); rebuild it with bsnas latency-table "
                          "build")

    if not path.is_file():
        raise BsnasError(f"latency table {path} does not exist; build one with bsnas latency-table build --space NAME "
                         f"--out {path}")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise bad(f"{type(err).__name__}: {err}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise bad(f"format is {raw.get('format') if isinstance(raw, dict) else type(raw).__name__!r}, not {FORMAT!r}")
    if raw.get("version") != VERSION:
        raise bad(f"version {raw.get('version')!r}; this bsnas reads version {VERSION}")
    fp, units, fit = raw.get("fingerprint"), raw.get("units"), raw.get("fit")
    if not isinstance(fp, dict) or not {"backend", "threads", "batch", "device"} <= set(fp):
        raise bad("its fingerprint is missing or incomplete")
    if not isinstance(units, dict) or not all(isinstance(k, str) and _finite(v, 0.0) for k, v in units.items()):
        raise bad("its units must map keys to latencies >= 0 ms")
    if not isinstance(fit, dict) or not _finite(fit.get("intercept_ms"), -math.inf) or not _finite(fit.get("slope"),
                                                                                                   0.0):
        raise bad("its fit must hold a finite intercept_ms and a slope >= 0")
    return raw


def _finite(value: object, low: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= low
