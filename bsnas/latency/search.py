"""The latency table a search reads: one the user built (``--latency-table FILE``), or one that fills itself
in the study folder as the search meets new blocks (``--latency-backend``; ``runs/<study>/latency_table.json``).

The table's fingerprint must be this machine's under the search's backend and thread count (batch 1); it is
part of the study's fingerprint, so a study resumed with a table from another device or setup is refused.
"""

from __future__ import annotations

from pathlib import Path

from bsnas.latency.fingerprint import device_fingerprint
from bsnas.latency.table import LatencyTable
from bsnas.space.choices import random_archs
from bsnas.space.schema import SearchSpace

#: Random networks a lazy table measures to scale latency when it does not yet hold every unit.
SCALE_SAMPLE = 8

__all__ = ["LATENCY_FILE", "latency_scale", "search_latency_table"]

LATENCY_FILE = "latency_table.json"


def search_latency_table(cfg, device: str = "cpu") -> tuple[LatencyTable | None, list[str]]:
    """The table of search ``cfg`` (None when it uses no latency) and the warnings loading it gave."""
    if not cfg.uses_latency:
        return None, []
    lazy = cfg.latency_backend is not None
    path = Path(cfg.latency_table) if cfg.latency_table else cfg.run_dir / LATENCY_FILE
    if not lazy:
        table, warnings = LatencyTable.load_here(path, allow_foreign=cfg.allow_foreign_table)
    elif path.exists():
        here = device_fingerprint(cfg.latency_backend, cfg.latency_threads, 1, device)
        table, warnings = LatencyTable.load(path, expect=here, allow_foreign=cfg.allow_foreign_table, lazy=True,
                                            device=device)
    else:
        table = LatencyTable(device_fingerprint(cfg.latency_backend, cfg.latency_threads, 1, device), lazy=True,
                             device=device)
        warnings = []
    table.path = path if lazy else None
    return table, warnings


def latency_scale(table: LatencyTable, space: SearchSpace, input_size: tuple[int, int, int], num_classes: int,
                  seed: int = 0) -> float:
    """The latency a search normalises by (:meth:`LatencyTable.scale`). A table that lacks units of the space
    (a lazy one) first predicts :data:`SCALE_SAMPLE` random networks, measuring their units, and its scale is
    at least 1.5 times the dearest of them: an estimate, not a bound, until every unit is measured."""
    floor = 0.0
    if not table.complete_for(space, input_size, num_classes):
        archs = random_archs(space, SCALE_SAMPLE, seed=seed)
        floor = 1.5 * max(table.predict(a, input_size, num_classes) for a in archs)
    return table.scale(space, input_size, num_classes, floor)
