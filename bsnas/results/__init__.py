"""Results of a search: the Pareto front as data, its hypervolume, plots and exports."""

from __future__ import annotations

from bsnas.results.export import FORMATS, export_front, export_record, export_trial, trial_record
from bsnas.results.front import hypervolume, hypervolume_history, pareto_front, trials_frame

__all__ = ["FORMATS", "export_front", "export_record", "export_trial", "hypervolume", "hypervolume_history",
           "pareto_front", "trial_record", "trials_frame"]
