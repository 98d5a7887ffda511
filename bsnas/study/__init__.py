"""Searching: the configuration, the trial objective, the bookkeeping rules, storage and the run."""

from __future__ import annotations

from bsnas.study.config import OBJECTIVES, SAMPLERS, SearchConfig, parse_amount
from bsnas.study.objective import trained_trials
from bsnas.study.run import run_search
from bsnas.study.storage import load_existing_study, open_storage

__all__ = ["OBJECTIVES", "SAMPLERS", "SearchConfig", "load_existing_study", "open_storage", "parse_amount",
           "run_search", "trained_trials"]
