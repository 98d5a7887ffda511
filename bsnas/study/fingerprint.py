"""The settings that define a study, stored in it: a resumed run, and the baselines' training, repeat them.

The fingerprint covers the whole recipe: the space's file (by hash), the data (by spec and by
content, :meth:`bsnas.data.split.ProxyData.content_hash`), objectives and budgets, sampler and seed,
every field of the proxy recipe but the device (epochs, subset, batch size, optimiser, learning rate,
weight decay, schedule, warm-up, label smoothing, BSConv-S alpha, augmentation, padding, memory
format, mixed precision), the split, the sizes, successive halving's settings and the evaluator's own
fingerprint. A study made by bsnas 0.1 recorded fewer of these: the ones it lacks are not compared,
and are recorded when it is resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from bsnas.errors import SearchError
from bsnas.metrics import budget_metrics
from bsnas.study.config import SearchConfig
from bsnas.training.config import ProxyConfig

__all__ = ["RECIPE_KEYS", "check_fingerprint", "fingerprint", "fingerprint_keys", "proxy_from_fingerprint"]

#: The proxy recipe's fields a study records (all but the seed, recorded on its own, and the device).
RECIPE_KEYS = tuple(f.name for f in dataclasses.fields(ProxyConfig) if f.name not in ("seed", "device"))


def fingerprint_keys() -> tuple[str, ...]:
    """The settings that define a study, in the order messages list them."""
    budgets = tuple(m.budget_option for m in budget_metrics())
    return ("space_hash", "data", "data_hash", "objectives", *budgets, "sampler", "sampler_options", "seed",
            *RECIPE_KEYS, "resolution", "val_size", "input_size", "val_subset", "fidelity", "min_epochs",
            "max_epochs", "eta", "evaluator", "latency")


def fingerprint(cfg: SearchConfig, space_path: str, input_size: tuple[int, int, int], data_hash: str | None,
                evaluator: dict, latency: dict | None = None) -> dict:
    """The fingerprint of ``cfg`` (see the module docstring); ``input_size`` is the resolved deployment size,
    ``data_hash`` the data's content hash (None when the user's evaluator brings the data) and ``evaluator``
    the evaluator's own fingerprint; ``latency`` the fingerprint of the latency table's device and settings."""
    asha = cfg.fidelity == "asha"
    chosen = ("data", "sampler", "sampler_options", "resolution", "val_size", "val_subset", "fidelity")
    values = {**{k: getattr(cfg, k) for k in chosen},
              **{m.budget_option: getattr(cfg, m.budget_option, None) for m in budget_metrics()},
              **{k: getattr(cfg.proxy, k) for k in RECIPE_KEYS},
              "seed": cfg.seed, "objectives": list(cfg.objectives), "input_size": list(input_size),
              "space_hash": hashlib.sha256(Path(space_path).read_bytes()).hexdigest()[:16], "data_hash": data_hash,
              "min_epochs": cfg.min_epochs if asha else None, "max_epochs": cfg.top_epochs if asha else None,
              "eta": cfg.eta if asha else None, "evaluator": evaluator, "latency": latency}
    return {k: values[k] for k in fingerprint_keys()}


def check_fingerprint(study_name: str, stored: dict, wanted: dict) -> dict:
    """Refuse to resume with other settings; return the fingerprint to store (``stored`` completed with the
    keys an older bsnas did not record)."""
    changed = [f"{k} {stored[k]!r} -> {wanted[k]!r}" for k in wanted if k in stored and stored[k] != wanted[k]]
    if changed:
        raise SearchError(f"study {study_name!r} was created with other settings ({'; '.join(changed)}); "
                          "repeat the original settings to resume, or pick a new --study name")
    return {**wanted, **stored}


def proxy_from_fingerprint(stored: dict, device: str = "auto") -> ProxyConfig:
    """The full-fidelity proxy recipe a study was searched with, from its stored fingerprint."""
    recipe = {k: stored[k] for k in RECIPE_KEYS if k in stored}
    if stored.get("fidelity") == "asha":
        recipe["epochs"] = stored["max_epochs"]
    return ProxyConfig(**recipe, seed=stored["seed"], device=device)
