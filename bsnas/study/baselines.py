"""The paper's hand-designed families on a study's own proxy task, cached in the study."""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pandas as pd

from bsnas.arch.baselines import baseline
from bsnas.arch.cost import count
from bsnas.errors import BsnasError
from bsnas.study.config import load_search_data
from bsnas.study.fingerprint import proxy_from_fingerprint
from bsnas.training.proxy import train_proxy

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
    study's user attributes as ``baseline:<name>``) and return name, accuracy, FLOPs and params."""
    cfg = study.user_attrs.get("bsnas_config")
    if not cfg:
        raise BsnasError(f"study {study.study_name!r} was not created by `bsnas search`; it has no proxy settings")
    data, rows = None, []
    for name in names:
        key = f"baseline:{name}"
        cached = study.user_attrs.get(key)
        if cached is None:
            size = tuple(cfg.get("input_size") or study.user_attrs["data_info"]["input_size"])
            if data is None:
                data = load_search_data(cfg["data"], cfg["resolution"], cfg["val_size"], cfg["seed"], device,
                                        cfg.get("val_subset"), size[1])
            arch = baseline(name).arch
            cost = count(arch, size, data.num_classes)  # at the study's deployment size, as its trials
            try:
                result = train_proxy(arch, data, proxy_from_fingerprint(cfg, device))
            except BsnasError as err:
                raise BsnasError(f"baseline {name}: {err}") from None
            cached = {"accuracy": result.val_acc, "flops": cost.flops, "params": cost.params,
                      "diverged": result.diverged}
            study.set_user_attr(key, cached)
            if log:
                log(f"baseline {name}: acc {result.val_acc:.4f}, {cost.flops / 1e6:.3f} MFLOPs")
        rows.append({"name": name, **cached})
    return pd.DataFrame(rows, columns=["name", "accuracy", "flops", "params", "diverged"])
