"""The paper's hand-designed families on a study's own proxy task (or, for a zero-cost study, scored by its
zero-cost score), cached in the study."""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pandas as pd

from bsnas.arch.baselines import baseline
from bsnas.arch.cost import count
from bsnas.errors import BsnasError
from bsnas.study.config import load_search_data
from bsnas.study.fingerprint import proxy_from_fingerprint
from bsnas.training.engine import resolve_device
from bsnas.training.proxy import train_proxy
from bsnas.training.zero_cost import zero_cost_scores

__all__ = ["DEFAULT_BASELINES", "evaluate_baselines"]

#: Small members of each family, plain and BSConv, that fit 8×8 inputs and short proxies.
DEFAULT_BASELINES = (
    "cifar_resnet20", "cifar_resnet20_bsconvu", "cifar_resnet20_bsconvs_p1d8",
    "cifar_mobilenetv1_w1d4", "cifar_mobilenetv1_w1d4_bsconvu",
    "cifar_mobilenetv2_w1d4", "cifar_mobilenetv2_w1d4_bsconvs_p1d6",
)


def evaluate_baselines(study: optuna.Study, names=DEFAULT_BASELINES, device: str = "auto",
                       log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Train each named baseline with the study's proxy settings (once: results are stored in the
    study's user attributes as ``baseline:<name>``) and return name, accuracy, FLOPs and params. A study
    searched with ``--evaluator zero-cost`` scores them as its trials were, and the column is the score's."""
    cfg = study.user_attrs.get("bsnas_config")
    if not cfg:
        raise BsnasError(f"study {study.study_name!r} was not created by `bsnas search`; it has no proxy settings")
    evaluator = cfg.get("evaluator") or {}
    if evaluator.get("name") == "table" or not cfg.get("data"):
        raise BsnasError(f"study {study.study_name!r} was not searched on data of its own (evaluator "
                         f"{evaluator.get('name')!r}), so there is nothing to train the baselines on; leave out "
                         "--baselines")
    quality = cfg.get("objectives", ["accuracy"])[0]
    data, rows = None, []
    for name in names:
        key = f"baseline:{name}" if quality == "accuracy" else f"baseline:{name}:{quality}"
        cached = study.user_attrs.get(key)
        if cached is None:
            size = tuple(cfg.get("input_size") or study.user_attrs["data_info"]["input_size"])
            if data is None:
                data = load_search_data(cfg["data"], cfg["resolution"], cfg["val_size"], cfg["seed"], device,
                                        cfg.get("val_subset"), size[1])
            arch = baseline(name).arch
            cost = count(arch, size, data.num_classes)  # at the study's deployment size, as its trials
            try:
                value, diverged = _score(arch, data, cfg, quality, evaluator, device)
            except BsnasError as err:
                raise BsnasError(f"baseline {name}: {err}") from None
            cached = {quality: value, "flops": cost.flops, "params": cost.params, "diverged": diverged}
            study.set_user_attr(key, cached)
            if log:
                shown = f"acc {value:.4f}" if quality == "accuracy" else f"{quality} {value:.6g}"
                log(f"baseline {name}: {shown}, {cost.flops / 1e6:.3f} MFLOPs")
        rows.append({"name": name, **cached})
    return pd.DataFrame(rows, columns=["name", quality, "flops", "params", "diverged"])


def _score(arch, data, cfg: dict, quality: str, evaluator: dict, device: str) -> tuple[float, str | None]:
    """(quality, divergence reason): the proxy's accuracy, or the study's zero-cost score as its trials got it."""
    if quality == "accuracy":
        result = train_proxy(arch, data, proxy_from_fingerprint(cfg, device))
        return result.val_acc, result.diverged
    out = zero_cost_scores(arch, data, [quality], batch_size=evaluator.get("batch_size", 64), seed=cfg["seed"],
                           device=resolve_device(device))
    return out[quality], None
