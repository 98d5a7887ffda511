"""Predictors of the 50-epoch accuracy, judged on NAS-Bench-Macro networks they were not fitted on.

The test networks are the 40 of ``proxy_vs_table.py`` (evenly spaced in FLOPs). Two kinds of predictor:

* **From the architecture alone**, fitted on ``--train`` other networks of the table (never the 40):
  features that any bsnas space has (log FLOPs, log params, the number of blocks that compute, their
  mean kernel and mean expansion, the shares of kernels 3, 5 and 7 and of stride-2 blocks that compute),
  and scikit-learn's ``HistGradientBoostingRegressor`` and a ridge regression on them. This answers how
  much ground truth such a predictor needs.
* **From cheap measurements**, fitted leave-one-out on the 40 themselves (each network predicted by a
  fit on the other 39): a ridge regression of the table's accuracy on log FLOPs, or on all the
  architecture features, plus one measurement (a proxy's accuracy from ``proxy_vs_table.py``'s cache, or
  a zero-cost score from ``zero_cost_vs_table.py``'s cache), against log FLOPs alone and the
  architecture features alone fitted the same way.

Both are judged as the proxies are: Spearman over the 40 with a bootstrap 90% interval, and the mean
Spearman within FLOPs fifths.

**Across spaces.** The predictors fitted on NAS-Bench-Macro (on every network of the table but the 40;
the NASWOT ridge on those of them whose seed-0 NASWOT ``zero_cost_vs_table.py`` cached) are then judged on
the 12 networks of ``proxy_bias.py`` (the paper's small CIFAR baselines and members of the ``resnet`` and
``mobilenet`` spaces), whose truth is that benchmark's own 10-epoch reference (mean of two seeds): Spearman
and Kendall, and the mean signed rank error by block style. This part needs
``benchmarks/results/proxy_bias.json`` and is left out without it.

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
from proxy_bias import rank_error_by_style
from proxy_faithfulness import bootstrap
from proxy_vs_table import ROOT, cache_dir, kept_rows, networks, print_bias, summarise
from scipy.stats import kendalltau, spearmanr
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bsnas import count, decode_arch
from bsnas.tables import nas_bench_macro as nbm


@cache
def features(key: str) -> tuple[float, ...]:
    """:func:`arch_features` of one NAS-Bench-Macro network."""
    return arch_features(nbm.arch(key))


def arch_features(arch) -> tuple[float, ...]:
    """Space-independent features of one network: cost, depth and the op mix of the blocks that compute."""
    cost = count(arch)
    blocks = [b for stage in arch.stages for b in stage if b.kind != "skip"]
    n = max(1, len(blocks))
    return (math.log(cost.flops), math.log(cost.params), len(blocks),
            sum(b.kernel for b in blocks) / n, sum((b.mid or b.width) / b.width for b in blocks) / n,
            *(sum(b.kernel == k for b in blocks) / n for k in (3, 5, 7)), sum(b.stride == 2 for b in blocks) / n)


def ridge():
    """A ridge regression on standardised features, its strength chosen by cross-validation."""
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))


def fitted(x: np.ndarray, y: np.ndarray) -> dict:
    """The two architecture-feature predictors, fitted on ``x``, ``y``."""
    return {"boosted trees": HistGradientBoostingRegressor(random_state=0, max_iter=200).fit(x, y),
            "ridge": ridge().fit(x, y)}


def leave_one_out(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = ridge().fit(x[keep], y[keep]).predict(x[i:i + 1])[0]
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
        models = fitted(np.array([features(k) for k in train]), np.array([nbm.entry(k).mean for k in train]))
        for label, model in models.items():
            rows.append({**summarise(f"architecture features, {label}, fitted on {n} networks",
                                     model.predict(test_x), truth, flops, None, keys), "fitted_on": int(n)})
    if n < len(others):  # --quick: the across-spaces check still uses predictors fitted on all the others
        models = fitted(np.array([features(k) for k in others]), np.array([nbm.entry(k).mean for k in others]))
    log_flops = np.log(flops)[:, None]
    rows.append(summarise("log FLOPs, ridge, leave-one-out", leave_one_out(log_flops, truth), truth, flops, None, keys))
    rows.append(summarise("architecture features, ridge, leave-one-out", leave_one_out(test_x, truth), truth, flops,
                          None, keys))
    found = measurements(keys)
    for name, values in found.items():
        pred = leave_one_out(np.hstack([log_flops, values[:, None]]), truth)
        rows.append(summarise(f"log FLOPs + {name}, ridge, leave-one-out", pred, truth, flops, None, keys))
        pred = leave_one_out(np.hstack([test_x, values[:, None]]), truth)
        rows.append(summarise(f"architecture features + {name}, ridge, leave-one-out", pred, truth, flops, None,
                              keys))
    across = across_spaces(models, others)
    out = ROOT / "benchmarks" / "results" / f"predictor_vs_table{'_quick' if args.quick else ''}.json"
    rows = kept_rows(out, keys, rows)  # rows measured from caches that are gone stay, with their command
    out.write_text(json.dumps({"command": " ".join(["python benchmarks/predictor_vs_table.py", *sys.argv[1:]]),
                               "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               "networks": keys, "rows": rows, "across_spaces": across}, indent=1) + "\n")
    print("\n| predictor | Spearman (90% CI) | mean Spearman within FLOPs fifths |")
    print("|---|---|---|")
    for r in rows:
        s = r["spearman"]
        print(f"| {r['proxy']} | {s[0]:.3f} ({s[1]:.2f} to {s[2]:.2f}) | {r['within_fifths_spearman']:.3f} |")
    print_bias(rows)
    if across:
        styles = list(across["rows"][0]["rank_error_by_style"])
        print(f"\nAcross spaces: the {len(across['networks'])} networks of proxy_bias.py against its 10-epoch "
              f"reference; the median one has fewer FLOPs than {100 * across['median_table_share_above']:.1f}% of "
              "the table networks the predictors were fitted on\n")
        print("| predictor | Spearman (90% CI) | Kendall (90% CI) | " +
              " | ".join(f"rank error, {s}" for s in styles) + " |")
        print("|---|---|---|" + "---|" * len(styles))
        for r in across["rows"]:
            s, k = r["spearman"], r["kendall"]
            print(f"| {r['predictor']} | {s[0]:.3f} ({s[1]:.2f} to {s[2]:.2f}) | {k[0]:.3f} ({k[1]:.2f} to "
                  f"{k[2]:.2f}) | " + " | ".join(f"{v:+.3f}" for v in r["rank_error_by_style"].values()) + " |")
    print(f"\nwrote {out.relative_to(ROOT)}")


def across_spaces(models: dict, others: list[str]) -> dict | None:
    """The NAS-Bench-Macro predictors (``models``, fitted on the table networks ``others``; with NASWOT, a
    ridge on those of ``others`` whose seed-0 NASWOT ``zero_cost_vs_table.py`` cached) judged on
    ``proxy_bias.py``'s networks of other spaces against its reference; None when its results file is absent."""
    path = ROOT / "benchmarks" / "results" / "proxy_bias.json"
    if not path.exists():
        return None
    nets = json.loads(path.read_text())["rows"]
    target = np.array([np.mean(r["reference"]) for r in nets])
    test_x = np.array([arch_features(decode_arch(r["arch"])) for r in nets])
    test_flops = test_x[:, :1]  # log FLOPs

    def judged(name: str, score: np.ndarray) -> dict:
        return {"predictor": name, "spearman": list(bootstrap(score, target, spearmanr)),
                "kendall": list(bootstrap(score, target, kendalltau)),
                "rank_error_by_style": rank_error_by_style(score, target, [r["style"] for r in nets])}

    rows = [judged("FLOPs alone", test_flops[:, 0]),
            judged("the recommended proxy (no fit)", np.array([r["proxy"][0] for r in nets])),
            judged("NASWOT (no fit)", np.array([r["naswot"] for r in nets]))]
    rows += [judged(f"architecture features, {label}, fitted on {len(others)} NAS-Bench-Macro networks",
                    model.predict(test_x)) for label, model in models.items()]
    scored = {p.name.split("_")[0]: json.loads(p.read_text())["naswot"]
              for p in cache_dir("zero_cost_vs_table").glob("*_seed0_naswot.json")}
    fit_keys = [k for k in others if k in scored]
    if len(fit_keys) >= 40:
        fit = ridge().fit(np.array([[features(k)[0], scored[k]] for k in fit_keys]),
                          [nbm.entry(k).mean for k in fit_keys])
        rows.append(judged(f"log FLOPs + NASWOT, ridge fitted on {len(fit_keys)} NAS-Bench-Macro networks",
                           fit.predict(np.hstack([test_flops, np.array([[r["naswot"]] for r in nets])]))))
    table_flops = np.array([features(k)[0] for k in others])
    return {"networks": [r["name"] for r in nets], "truth": "proxy_bias.py's reference, mean of its seeds",
            "median_table_share_above": float(np.median([np.mean(table_flops > f) for f in test_flops[:, 0]])),
            "rows": rows}


if __name__ == "__main__":
    main()
