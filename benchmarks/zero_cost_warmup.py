"""Does a NASWOT warm start (``--warm-start naswot:K``) find NAS-Bench-Macro's front sooner than the default?

Each search runs through ``bsnas.run_search`` with the table evaluator, as in ``sampler_quality.py``, and is
judged by the same hypervolume regret (accuracy and FLOPs). A warm-started search first screens K networks and
enqueues N of them by Pareto rank of (NASWOT, FLOPs) (``bsnas.study.screen.pareto_picks``; N =
``screened_count``, 10 at these budgets, in place of TPE's 10 random start trials), then goes on with its
sampler. ``--rule band`` replays the first rule tried instead (the best NASWOT in each of N equal-count FLOPs
bands), which the README reports as rejected. The K networks are drawn, per seed, from the 300 random table
networks whose NASWOT score on CIFAR-10 at 32x32 ``zero_cost_vs_table.py --fresh 300`` has cached, so no score
is computed here: the picks are what ``bsnas search --warm-start naswot:K`` would enqueue if its K random
networks were those. The screen's cost (about 3 s of one core per network) is not in the regret, which counts
trained networks only.

Methods: ``random`` and ``tpe`` (bsnas's default, as in ``sampler_quality.py``, whose cached runs are reused),
``random+naswot100`` and ``tpe+naswot100`` / ``tpe+naswot200`` (K = 100 or 200; seeds share much of the
300-network pool at K = 200). Each is compared with ``tpe`` and with ``random`` at each budget, paired by
seed, by a one-sided Wilcoxon test.

Run: ``python benchmarks/zero_cost_warmup.py`` (budgets 25, 50, 100, 20 seeds; 71 s with the random and tpe runs of
``sampler_quality.py`` cached, which it makes otherwise)
or ``--quick`` (budgets 25 and 50, 5 seeds, K = 100). Needs ``benchmarks/cache/zero_cost_vs_table/`` (run
``zero_cost_vs_table.py --fresh 300 --scores naswot`` first). Writes
``benchmarks/results/zero_cost_warmup[_quick][_band].json`` and prints the README table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from sampler_quality import regret_curve, search, truth
from scipy.stats import wilcoxon
from zero_cost_vs_table import fresh_networks

from bsnas import count, encode_arch
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search
from bsnas.study.screen import pareto_picks, screened_count
from bsnas.tables import nas_bench_macro as nbm
from bsnas.training import ProxyConfig

ROOT = Path(__file__).resolve().parents[1]
SCORES = ROOT / "benchmarks" / "cache" / "zero_cost_vs_table"  # zero_cost_vs_table.py --fresh 300


def scored_pool() -> dict[str, float]:
    """NASWOT (seed 0) of the 300 random table networks of the zero-cost benchmark's ``--fresh 300``, by key
    (not its 40 networks spaced evenly in FLOPs, whose extremes a random draw of the space would rarely hold)."""
    pool = {}
    for key in fresh_networks(300):  # only these: the cache also holds networks other benchmarks scored
        path = SCORES / f"{key}_seed0_naswot.json"
        if path.exists():
            pool[key] = float(json.loads(path.read_text())["naswot"])
    return pool


def band_picks(scores: list[float], costs: list[float], n: int) -> list[int]:
    """The rejected first rule: the best-scored network of each of ``n`` equal-count cost bands."""
    order = np.lexsort((np.arange(len(costs)), costs))
    return [int(max(band, key=lambda i: (scores[i], -costs[i]))) for band in np.array_split(order, n)]


RULES = {"pareto": pareto_picks, "band": band_picks}


def picks(pool: dict[str, float], k: int, n: int, seed: int, rule: str) -> list[str]:
    """The keys a NASWOT screen of ``k`` networks drawn from ``pool`` would enqueue."""
    keys = sorted(pool)
    drawn = list(np.random.default_rng(seed).choice(keys, size=min(k, len(keys)), replace=False))
    chosen = RULES[rule]([pool[key] for key in drawn], [count(nbm.arch(key)).flops for key in drawn], n)
    return [drawn[i] for i in chosen]


def warm_search(sampler: str, k: int, budget: int, seed: int, pool: dict[str, float], cache: Path,
                rule: str) -> list[str]:
    """The keys one warm-started search evaluated, in order (cached)."""
    path = cache / f"{sampler}+naswot{k}-{rule}_b{budget}_s{seed}.json"
    if path.exists():
        return json.loads(path.read_text())["keys"]
    chosen = picks(pool, k, screened_count(sampler, budget), seed, rule)
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "warm.txt"
        listing.write_text("\n".join(encode_arch(nbm.arch(key)) for key in chosen) + "\n")
        cfg = SearchConfig(space="nas_bench_macro", data=None, evaluator="table", trials=budget, sampler=sampler,
                           proxy=ProxyConfig(seed=seed), storage="memory:", warm_start=str(listing),
                           study=f"{sampler}-naswot{k}-b{budget}-s{seed}", runs_dir=str(Path(tmp) / "studies"))
        start = time.perf_counter()
        study = run_search(cfg, log=lambda m: None)
    trials = sorted((t for t in study.get_trials(deepcopy=False) if status_of(t) is Status.TRAINED),
                    key=lambda t: t.number)
    keys = [t.user_attrs["table_key"] for t in trials]
    if keys[:len(chosen)] != [nbm.canonical_key(key) for key in chosen]:
        raise RuntimeError(f"the warm start did not come first: {keys[:len(chosen)]} against {chosen}")
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"keys": keys, "picks": chosen, "seconds": round(time.perf_counter() - start, 2)}))
    return keys


def compare(regret: dict, against: str) -> dict:
    out = {}
    for method, by_budget in regret.items():
        for budget, values in by_budget.items():
            v, r = np.array(values), np.array(regret[against][budget])
            p = float(wilcoxon(v, r, alternative="less").pvalue) if method != against and np.any(v != r) else None
            out.setdefault(method, {})[budget] = p
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="budgets 25 and 50, 5 seeds, K = 100")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--rule", choices=sorted(RULES), default="pareto",
                        help="how the screen picks (default pareto, bsnas's rule; band: the rejected first rule)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    budgets = [25, 50] if args.quick else [25, 50, 100]
    seeds = args.seeds or (5 if args.quick else 20)
    ks = [100] if args.quick else [100, 200]
    pool = scored_pool()
    if len(pool) < max(ks):
        raise SystemExit(f"only {len(pool)} networks have a cached NASWOT score in {SCORES}; run "
                         "benchmarks/zero_cost_vs_table.py --fresh 300 --scores naswot first")
    points, _, true_hv = truth()
    cache = ROOT / "runs" / "sampler_quality"
    start = time.perf_counter()
    top = max(budgets)
    runs = {"random": lambda s: search("random", 200, s, cache), "tpe": lambda s: search("tpe", 200, s, cache),
            "random+naswot100": lambda s: warm_search("random", 100, top, s, pool, cache, args.rule)}
    for k in ks:
        runs[f"tpe+naswot{k}"] = lambda s, k=k: warm_search("tpe", k, top, s, pool, cache, args.rule)
    regret: dict = {}
    for method, run in runs.items():
        for seed in range(seeds):
            curve = regret_curve(run(seed)[:top], points, true_hv)
            for b in budgets:
                regret.setdefault(method, {}).setdefault(b, []).append(curve[b - 1])
        print(f"{method}: done", flush=True)
    p_tpe, p_random = compare(regret, "tpe"), compare(regret, "random")
    rows = []
    for method, by_budget in regret.items():
        for b, values in by_budget.items():
            q1, med, q3 = np.percentile(values, [25, 50, 75])
            rows.append({"method": method, "budget": b, "median": float(med), "q1": float(q1), "q3": float(q3),
                         "p_vs_tpe": p_tpe[method][b], "p_vs_random": p_random[method][b]})
    name = "zero_cost_warmup" + ("_quick" if args.quick else "") + ("_band" if args.rule == "band" else "")
    command = "python benchmarks/zero_cost_warmup.py" + (" --quick" if args.quick else "")
    summary = {"command": command + (f" --rule {args.rule}" if args.rule != "pareto" else ""), "rule": args.rule,
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "optuna": optuna.__version__},
               "pool": len(pool), "budgets": budgets, "seeds": seeds, "seconds": round(time.perf_counter() - start, 1),
               "rows": rows, "regret": {m: {str(b): v for b, v in r.items()} for m, r in regret.items()}}
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print("| method | " + " | ".join(f"{b} evals: regret median [IQR], p vs tpe, p vs random" for b in budgets) + " |")
    print("|" + "---|" * (len(budgets) + 1))
    fmt = lambda p: "-" if p is None else f"{p:.2g}"  # noqa: E731
    for method in regret:
        cells = [f"{r['median']:.4f} [{r['q1']:.4f}, {r['q3']:.4f}], {fmt(r['p_vs_tpe'])}, {fmt(r['p_vs_random'])}"
                 for r in rows if r["method"] == method]
        print(f"| {method} | " + " | ".join(cells) + " |")
    print(f"wrote {out.relative_to(ROOT)} in {summary['seconds']} s")


if __name__ == "__main__":
    main()
