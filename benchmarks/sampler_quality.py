"""Which sampler finds NAS-Bench-Macro's accuracy-FLOPs front soonest? Ground truth, no training.

Every search runs through ``bsnas.run_search`` with the table evaluator (``--evaluator table``): a trial
gets one of the table's three 50-epoch runs of its network (real seed noise), and goes through the same
sampling, bookkeeping and storage as any search. Objectives are accuracy and FLOPs.

A search of budget B stops after B distinct networks. Its quality is the **hypervolume regret**: the
hypervolume of the table's true front (all 6,561 networks, mean accuracy) minus that of the networks the
search evaluated (scored by their mean accuracy, whatever run the search saw), with error and FLOPs
normalised as ``bsnas front`` does (FLOPs over the space's largest, reference point (1, 1)). 0 is the true
front found.

Methods (``METHODS``): ``random``; ``tpe-10`` (TPE with Optuna's 10 random start trials, bsnas 0.2's
setting); ``tpe-small`` (a random start of a tenth of the budget, 4 to 10 trials); ``tpe`` (bsnas's
default, ``bsnas.samplers.factory.random_start``: 10, or half of a budget under 20);
``nsga2`` (population a fifth of the budget, 8 to 50); ``gp`` (its random start as TPE's);
``nni-evolution`` (population a third of the budget, 8 to 32) and ``nni-tpe``. Budgets whose sampler settings
are the same share one run of the largest of them, and the smaller budgets are that run's first B
networks (the same networks a shorter run of the same seed draws).

Each method is compared with random at each budget, paired by seed, by a one-sided Wilcoxon signed-rank
test (alternative: the method's regret is lower).

Run: ``python benchmarks/sampler_quality.py`` (budgets 25, 50, 100, 200 with 20 seeds) or ``--quick``
(budgets 25 and 50, 6 seeds, three methods; a few minutes). Each search's networks are cached in
``runs/sampler_quality/``, so a rerun only does what is missing. Writes
``benchmarks/results/sampler_quality.json``, ``docs/sampler_quality.png`` and prints the README table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import optuna

from bsnas import count
from bsnas.results.front import normalised_hypervolume
from bsnas.samplers.factory import population, random_start
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search
from bsnas.tables import nas_bench_macro as nbm
from bsnas.training import ProxyConfig

ROOT = Path(__file__).resolve().parents[1]
#: name -> (sampler, its options for a budget)
METHODS = {
    "random": ("random", lambda b: None),
    "tpe-10": ("tpe", lambda b: {"n_startup_trials": 10}),
    "tpe-small": ("tpe", lambda b: {"n_startup_trials": max(4, min(10, b // 10))}),
    "tpe": ("tpe", lambda b: {"n_startup_trials": random_start(b)}),
    "nsga2": ("nsga2", lambda b: {"population_size": population(b)}),
    "gp": ("gp", lambda b: {"n_startup_trials": random_start(b)}),
    "nni-evolution": ("nni-evolution", lambda b: {"population": max(8, min(32, b // 3))}),
    "nni-tpe": ("nni-tpe", lambda b: None),
}
DEFAULT = "tpe"


def truth() -> tuple[dict[str, np.ndarray], float, float]:
    """Normalised (error, FLOPs) of every network by key, the FLOPs scale, and the true front's hypervolume."""
    flops = {k: count(nbm.arch(k)).flops for k in nbm.keys()}
    scale = float(max(flops.values()))  # the space's largest: what `bsnas front` normalises by
    points = {k: np.array([1.0 - nbm.entry(k).mean, flops[k] / scale]) for k in nbm.keys()}
    return points, scale, normalised_hypervolume(np.array(list(points.values())))


def search(method: str, budget: int, seed: int, cache: Path) -> list[str]:
    """The keys of the networks one search evaluated, in order (cached)."""
    path = cache / f"{method}_b{budget}_s{seed}.json"
    if path.exists():
        return json.loads(path.read_text())["keys"]
    sampler, options = METHODS[method]
    given = None if sampler.startswith("nni-") else options(budget)  # NNI's sizes come from --trials itself
    cfg = SearchConfig(space="nas_bench_macro", data=None, evaluator="table", trials=budget, sampler=sampler,
                       sampler_options=given, proxy=ProxyConfig(seed=seed), storage="memory:",
                       study=f"{method}-b{budget}-s{seed}", runs_dir=str(cache / "studies"))
    start = time.perf_counter()
    study = run_search(cfg, log=lambda m: None)
    trials = sorted((t for t in study.get_trials(deepcopy=False) if status_of(t) is Status.TRAINED),
                    key=lambda t: t.number)
    keys = [t.user_attrs["table_key"] for t in trials]
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"keys": keys, "seconds": round(time.perf_counter() - start, 2)}))
    return keys


def runs_needed(method: str, budgets: list[int]) -> dict[int, int]:
    """For each budget, the budget of the run whose first networks answer it: budgets whose sampler settings
    are the same share the longest run (a shorter run of the same seed draws the same first networks)."""
    options = METHODS[method][1]
    groups: dict[str, int] = {}
    for b in budgets:
        key = json.dumps(options(b), sort_keys=True)
        groups[key] = max(groups.get(key, 0), b)
    return {b: groups[json.dumps(options(b), sort_keys=True)] for b in budgets}


def regret_curve(keys: list[str], points: dict, true_hv: float) -> list[float]:
    """Regret after each of the search's networks."""
    rows = np.array([points[k] for k in keys])
    return [true_hv - normalised_hypervolume(rows[:i]) for i in range(1, len(rows) + 1)]


def run(methods: list[str], budgets: list[int], seeds: int, cache: Path) -> dict:
    points, scale, true_hv = truth()
    curves: dict = {}
    regret: dict = {}
    for method in methods:
        needed = runs_needed(method, budgets)
        for seed in range(seeds):
            for run_budget in sorted(set(needed.values())):
                keys = search(method, run_budget, seed, cache)
                curves.setdefault(method, {}).setdefault(str(seed), {})[str(run_budget)] = \
                    regret_curve(keys, points, true_hv)
        regret[method] = {b: [curves[method][str(s)][str(needed[b])][b - 1] for s in range(seeds)] for b in budgets}
        print(f"{method}: done ({seeds} seeds)", flush=True)
    return {"true_hypervolume": true_hv, "flops_scale": scale, "budgets": budgets, "seeds": seeds,
            "regret": regret, "curves": curves}


def compare(result: dict) -> list[dict]:
    from scipy.stats import wilcoxon

    rows = []
    for method, by_budget in result["regret"].items():
        for budget, values in by_budget.items():
            v, r = np.array(values), np.array(result["regret"]["random"][budget])
            p = None
            if method != "random" and np.any(v != r):
                p = float(wilcoxon(v, r, alternative="less").pvalue)
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            rows.append({"method": method, "budget": int(budget), "median": float(med), "q1": float(q1),
                         "q3": float(q3), "p_vs_random": p, "wins_vs_random": int(np.sum(v < r))})
    return rows


def reach(result: dict, method: str, limit: int = 100) -> int | None:
    """The fewest evaluations after which ``method``'s median regret (over seeds, its run sized for ``limit``
    evaluations) is down to random's median at the largest budget; None if not within ``limit``."""
    goal = np.median(result["regret"]["random"][max(result["budgets"])])
    run_budget = str(runs_needed(method, result["budgets"])[limit])
    median = np.median([runs[run_budget][:limit] for runs in result["curves"][method].values()], axis=0)
    hit = np.flatnonzero(median <= goal)
    return int(hit[0]) + 1 if len(hit) else None


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method, by_budget in result["regret"].items():
        budgets = sorted(int(b) for b in by_budget)
        med = [np.median(by_budget[b]) for b in budgets]
        lo = [np.percentile(by_budget[b], 25) for b in budgets]
        hi = [np.percentile(by_budget[b], 75) for b in budgets]
        ax.plot(budgets, med, marker="o", label=method, lw=2.2 if method == DEFAULT else 1.2)
        ax.fill_between(budgets, lo, hi, alpha=0.12)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(result["budgets"], [str(b) for b in result["budgets"]])
    ax.set_xlabel("evaluations (distinct networks)")
    ax.set_ylabel("hypervolume regret (median, IQR)")
    ax.set_title(f"NAS-Bench-Macro, accuracy vs FLOPs, {result['seeds']} seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def table(rows: list[dict], budgets: list[int]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = "| method | " + " | ".join(f"{b} evals: regret median [IQR], p vs random" for b in budgets) + " |"
    lines = [head, "|" + "---|" * (len(budgets) + 1)]
    for m in methods:
        cells = []
        for b in budgets:
            r = next(x for x in rows if x["method"] == m and x["budget"] == b)
            p = "" if r["p_vs_random"] is None else f", p={r['p_vs_random']:.2g}"
            cells.append(f"{r['median']:.4f} [{r['q1']:.4f}, {r['q3']:.4f}]{p}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="budgets 25 and 50, 6 seeds, three methods")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--methods", default=None, help="comma-separated subset of " + ", ".join(METHODS))
    parser.add_argument("--only-seeds", default=None, metavar="A:B",
                        help="run seeds A..B-1 into the cache and stop (to share the work between processes); a "
                             "run without it reads the cache and writes the results")
    parser.add_argument("--out", default=None, help="results JSON (default benchmarks/results/sampler_quality.json)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    budgets = [25, 50] if args.quick else [25, 50, 100, 200]
    seeds = args.seeds or (6 if args.quick else 20)
    methods = args.methods.split(",") if args.methods else (["random", "tpe-10", "tpe"] if args.quick
                                                            else list(METHODS))
    if "random" not in methods:
        methods = ["random", *methods]
    cache = ROOT / "runs" / "sampler_quality"
    if args.only_seeds:
        first, last = (int(v) for v in args.only_seeds.split(":"))
        for method in methods:
            for seed in range(first, last):
                for run_budget in sorted(set(runs_needed(method, budgets).values())):
                    search(method, run_budget, seed, cache)
            print(f"{method}: seeds {first}..{last - 1} cached", flush=True)
        return
    start = time.perf_counter()
    result = run(methods, budgets, seeds, cache)
    rows = compare(result)
    name = "sampler_quality_quick" if args.quick else "sampler_quality"
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"{name}.json"
    limit = 100 if 100 in budgets else max(budgets)
    reached = {m: reach(result, m, limit) for m in methods}
    summary = {"command": "python benchmarks/sampler_quality.py" + (" --quick" if args.quick else ""),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "optuna": optuna.__version__},
               "seconds": round(time.perf_counter() - start, 1), "true_hypervolume": result["true_hypervolume"],
               "budgets": budgets, "seeds": seeds, "rows": rows,
               "reaches_random_median_at_largest_budget_within": limit,
               "reaches_random_median_at_largest_budget_after": reached, "regret": result["regret"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    plot(result, ROOT / "docs" / f"{name}.png")
    print(table(rows, budgets))
    print(f"evaluations (of at most {limit}) after which the median regret is down to random's median at "
          f"{max(budgets)}: {reached}")
    print(f"wrote {out.relative_to(ROOT)} and docs/{name}.png in {summary['seconds']} s")


if __name__ == "__main__":
    main()
