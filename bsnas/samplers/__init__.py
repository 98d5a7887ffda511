"""Samplers: Optuna's by name, bsnas's TPE that reads the study once per trial, sampling with grouped
writes, and the driver through which an NNI strategy chooses a search's architectures."""

from __future__ import annotations

from bsnas.samplers.factory import SAMPLERS, make_sampler
from bsnas.samplers.sampling import sample_and_store
from bsnas.samplers.tpe import SnapshotTPESampler

__all__ = ["SAMPLERS", "SnapshotTPESampler", "make_sampler", "sample_and_store"]
