"""Predictors of the 50-epoch accuracy, judged on NAS-Bench-Macro networks they were not fitted on.

The test networks are the 40 of ``proxy_vs_table.py`` (evenly spaced in FLOPs). Two kinds of predictor:

* **From the architecture alone**, fitted on ``--train`` other networks of the table (never the 40):
  features that any bsnas space has (log FLOPs, log params, the number of blocks that compute, their
  mean kernel and mean expansion, the shares of kernels 3, 5 and 7 and of stride-2 blocks that compute),
  and scikit-learn's ``HistGradientBoostingRegressor`` and a ridge regression on them. This answers how
  much ground truth such a predictor needs.
* **From cheap measurements**, fitted leave-one-out on the 40 themselves (each network predicted by a
  fit on the other 39): a ridge regression of the table's accuracy on log FLOPs plus one measurement
  (a proxy's accuracy from ``proxy_vs_table.py``'s cache, or a zero-cost score from
  ``zero_cost_vs_table.py``'s cache), against log FLOPs alone fitted the same way.

Both are judged as the proxies are: Spearman over the 40 with a bootstrap 90% interval, and the mean
Spearman within FLOPs fifths. Only NAS-Bench-Macro has ground truth here, so no predictor is judged on
another space.

Run: ``python benchmarks/predictor_vs_table.py`` (seconds; reads the caches of the two other benchmarks,
using whatever they hold for the 40 networks) or ``--quick`` (fewer training sizes). Writes
``benchmarks/results/predictor_vs_table[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from functools import cache

import numpy as np
from proxy_vs_table import ROOT, cache_dir, networks, print_bias, summarise
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bsnas import count
from bsnas.tables import nas_bench_macro as nbm


@cache
def features(key: str) -> tuple[float, ...]:
    """Space-independent features of one network: cost, depth and the op mix of the blocks that compute."""
    arch = nbm.arch(key)
    cost = count(arch)
    blocks = [b for stage in arch.stages for b in stage if b.kind != "skip"]
    n = max(1, len(blocks))
    return (math.log(cost.flops), math.log(cost.params), len(blocks),
            sum(b.kernel for b in blocks) / n, sum((b.mid or b.width) / b.width for b in blocks) / n,
            *(sum(b.kernel == k for b in blocks) / n for k in (3, 5, 7)), sum(b.stride == 2 for b in blocks) / n)


def leave_one_out(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))).fit(x[keep], y[keep])
        out[i] = model.predict(x[i:i + 1])[0]
    return out


def measurements(keys: list[str]) -> dict[str, np.ndarray]:
    """Every proxy candidate and zero-cost score the other benchmarks' caches hold for all of ``keys``."""
    found = {}
    proxy_cache = cache_dir("proxy_vs_table")
    for name in sorted({p.name.rsplit("_", 1)[0] for p in proxy_cache.glob("*.json")}):
        paths = [proxy_cache / f"{name}_{k}.json" for k in keys]
        if all(p.exists() for p in paths):
            found[f"proxy {name}"] = np.array([json.loads(p.read_text())["acc"] for p in paths])
    zc_cache = cache_dir("zero_cost_vs_table")
    rows = {k: [json.loads(p.read_text()) for p in sorted(zc_cache.glob(f"{k}_seed*.json"))] for k in keys}
    if all(rows.values()):
        for score in rows[keys[0]][0]:
            if score != "seconds":
                values = np.array([np.mean([r[score] for r in rows[k]]) for k in keys])
                found[score] = np.log(values) if score == "synflow" else values
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="training sizes 50 and 200 only")
    args = parser.parse_args()
    keys = networks(40)
    truth = np.array([nbm.entry(k).mean for k in keys])
    flops = np.array([count(nbm.arch(k)).flops for k in keys], dtype=float)
    test_x = np.array([features(k) for k in keys])
    others = sorted(set(nbm.networks()) - set(keys))
    rows = [summarise("FLOPs alone", flops, truth, flops, None, keys)]
    for n in (50, 200) if args.quick else (50, 200, 1000, len(others)):
        train = np.random.default_rng(0).choice(others, size=n, replace=False)
        x, y = np.array([features(k) for k in train]), np.array([nbm.entry(k).mean for k in train])
        for label, model in (("boosted trees", HistGradientBoostingRegressor(random_state=0, max_iter=200)),
                             ("ridge", make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))))):
            pred = model.fit(x, y).predict(test_x)
            rows.append({**summarise(f"architecture features, {label}, fitted on {n} networks", pred, truth, flops,
                                     None, keys), "fitted_on": int(n)})
    log_flops = np.log(flops)[:, None]
    rows.append(summarise("log FLOPs, ridge, leave-one-out", leave_one_out(log_flops, truth), truth, flops, None, keys))
    for name, values in measurements(keys).items():
        pred = leave_one_out(np.hstack([log_flops, values[:, None]]), truth)
        rows.append(summarise(f"log FLOPs + {name}, ridge, leave-one-out", pred, truth, flops, None, keys))
    out = ROOT / "benchmarks" / "results" / f"predictor_vs_table{'_quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"command": " ".join(["python benchmarks/predictor_vs_table.py", *sys.argv[1:]]),
                               "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               "networks": keys, "rows": rows}, indent=1) + "\n")
    print("\n| predictor | Spearman (90% CI) | mean Spearman within FLOPs fifths |")
    print("|---|---|---|")
    for r in rows:
        s = r["spearman"]
        print(f"| {r['proxy']} | {s[0]:.3f} ({s[1]:.2f} to {s[2]:.2f}) | {r['within_fifths_spearman']:.3f} |")
    print_bias(rows)
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
