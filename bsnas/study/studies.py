"""Creating, resuming and opening the Optuna study of a search, and the folders that belong to it."""

from __future__ import annotations

import hashlib
import json
import uuid
import warnings
from pathlib import Path

import optuna

from bsnas.metrics import get_metric
from bsnas.samplers import make_sampler
from bsnas.space.schema import SearchSpace
from bsnas.storage import open_storage, storage_lock
from bsnas.study.config import SearchConfig
from bsnas.study.fingerprint import check_fingerprint
from bsnas.version import __version__

__all__ = ["checkpoint_folder", "create_or_resume", "open_study"]


def open_study(cfg: SearchConfig, space: SearchSpace, url: str, seed: int | None) -> optuna.Study:
    """Load the existing study of ``cfg`` with its sampler, seeded with ``seed``."""
    # Grouped TPE and metric names are experimental in Optuna; bsnas uses them on purpose.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.load_study(study_name=cfg.study_name, storage=open_storage(url),
                                 sampler=make_sampler(cfg.sampler, seed, cfg.trials, cfg.sampler_options))


def create_or_resume(cfg: SearchConfig, url: str, fingerprint: dict) -> optuna.Study:
    """Create the study of ``cfg`` with its fingerprint, or resume it, refusing other settings.

    Under the study's lock: two processes starting the same new study make one, and the other joins it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = open_storage(url)
        directions = [get_metric(o).direction for o in cfg.objectives]
        with storage_lock(url, cfg.study_name):
            study = optuna.create_study(study_name=cfg.study_name, storage=storage,
                                        sampler=make_sampler(cfg.sampler, cfg.seed, cfg.trials, cfg.sampler_options),
                                        directions=directions,
                                        load_if_exists=True)
            stored = study.user_attrs.get("bsnas_config")
            if stored is None:
                study.set_metric_names(list(cfg.objectives))
                study.set_user_attr("bsnas_config", fingerprint)
                study.set_user_attr("bsnas_version", __version__)
                study.set_user_attr("bsnas_study_id", uuid.uuid4().hex)
                return study
            completed = check_fingerprint(cfg.study_name, stored, fingerprint)
            if completed != stored:  # a study of an older bsnas: record what it did not
                study.set_user_attr("bsnas_config", completed)
            if "bsnas_study_id" not in study.user_attrs:
                study.set_user_attr("bsnas_study_id", uuid.uuid4().hex)
            return study


def checkpoint_folder(cfg: SearchConfig, study: optuna.Study) -> Path:
    """``runs/<study>/checkpoints/<key>``: the key is made of this study's own id and fingerprint, so a new
    study in the same folder (or one of the same name made again) never inherits an old one's checkpoints."""
    attrs = study.user_attrs
    key = json.dumps([attrs.get("bsnas_study_id"), attrs.get("bsnas_config")], sort_keys=True, default=str)
    return cfg.run_dir / "checkpoints" / hashlib.sha256(key.encode()).hexdigest()[:16]
