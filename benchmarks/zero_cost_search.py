"""What does a search scored by NASWOT (``--evaluator zero-cost``) find, judged by full training?

Each search runs through ``bsnas.run_search`` on the ``nas_bench_macro`` space with CIFAR-10's training
file, objectives NASWOT and FLOPs, exactly as ``bsnas search --evaluator zero-cost`` does, except that a
network's NASWOT (seed 0, 64 images) is read from the cache of ``zero_cost_vs_table.py`` (computed and
added there when missing), so every search seed reuses the scores of the networks others met. The search
ends with its front of NASWOT against FLOPs; the user then trains those networks. Judged here by the
table's mean 50-epoch accuracy of the front's networks, with the hypervolume regret of
``sampler_quality.py`` (error and FLOPs normalised as ``bsnas front`` does).

Beside it, searches with the table evaluator (``--evaluator table``: every evaluation a full 50-epoch
training, the best any trained proxy could do) of random sampling and bsnas's default TPE, at budgets of
full trainings. A NASWOT search of N networks costs N forward passes plus the training of its front, so
compare its regret with the table searches at a budget of about its front's size: each row's p is a
one-sided paired Wilcoxon test against random search with at least as many full trainings.

Run: ``python benchmarks/zero_cost_search.py`` (NASWOT searches of 50, 100 and 200 networks by random and
TPE, 10 seeds; fast once ``zero_cost_vs_table.py --all --scores naswot`` has scored the table, else about a
second per new network on one core) or ``--quick`` (50 networks, 3 seeds). Writes
``benchmarks/results/zero_cost_search[_quick].json`` and prints the README table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
from proxy_vs_table import DATA, ROOT, cache_dir
from sampler_quality import regret_curve, search, truth
from scipy.stats import wilcoxon

from bsnas import count
from bsnas.data import load_data
from bsnas.evaluators import Evaluation, Evaluator
from bsnas.results.front import normalised_hypervolume
from bsnas.samplers.factory import random_start
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search
from bsnas.tables import nas_bench_macro as nbm
from bsnas.training import ProxyConfig
from bsnas.training.zero_cost import zero_cost_scores


class CachedNaswot(Evaluator):
    """NASWOT of a table network (seed 0), from ``zero_cost_vs_table.py``'s cache; computed and cached when
    missing, on the same data (CIFAR-10's training file, 10,000 images held out, seed 0)."""

    name = "zero-cost"

    def __init__(self, data_spec: str):
        self.data_spec, self.data, self.computed = data_spec, None, 0

    def fingerprint(self) -> dict:
        return {"name": self.name, "score": "naswot", "batch_size": 64}

    def score(self, key: str) -> float:
        path = cache_dir("zero_cost_vs_table") / f"{key}_seed0_naswot.json"
        if not path.exists():
            if self.data is None:
                self.data = load_data(self.data_spec, val_size=10_000, seed=0)
            path.write_text(json.dumps(zero_cost_scores(nbm.arch(key), self.data, ["naswot"], seed=0)))
            self.computed += 1
        return float(json.loads(path.read_text())["naswot"])

    def evaluate(self, request) -> Evaluation:
        key = nbm.key_of_string(request.arch_string)
        return Evaluation({"naswot": self.score(key)}, {"table_key": key})


def naswot_search(sampler: str, budget: int, seed: int, evaluator: CachedNaswot) -> tuple[list[str], list[str]]:
    """(the keys a NASWOT search scored, in order; the keys of its front of NASWOT against FLOPs)."""
    options = {"n_startup_trials": random_start(budget)} if sampler == "tpe" else None
    cfg = SearchConfig(space="nas_bench_macro", data=evaluator.data_spec, evaluator="zero-cost",
                       objectives=("naswot", "flops"), trials=budget, sampler=sampler, sampler_options=options,
                       proxy=ProxyConfig(seed=seed), storage="memory:", val_size=10_000,
                       study=f"naswot-{sampler}-b{budget}-s{seed}", runs_dir=str(ROOT / "runs" / "zero_cost_search"))
    study = run_search(cfg, evaluator=evaluator, log=lambda m: None)
    trials = sorted((t for t in study.get_trials(deepcopy=False) if status_of(t) is Status.TRAINED),
                    key=lambda t: t.number)
    keys = [t.user_attrs["table_key"] for t in trials]
    return keys, front_of([t.user_attrs["naswot"] for t in trials], keys)


def front_of(scores: list[float], keys: list[str]) -> list[str]:
    """The keys no other beats on both NASWOT (higher) and FLOPs (lower)."""
    flops = [count(nbm.arch(k)).flops for k in keys]
    def beaten(i: int) -> bool:
        return any(scores[j] >= scores[i] and flops[j] <= flops[i] and (scores[j] > scores[i] or flops[j] < flops[i])
                   for j in range(len(keys)))

    return [k for i, k in enumerate(keys) if not beaten(i)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="NASWOT searches of 50 networks, 3 seeds")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the scores still missing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    budgets = [50] if args.quick else [50, 100, 200]
    table_budgets = [10, 15, 20, 25, 30, 40, 50] + ([] if args.quick else [75, 100])
    seeds = range(args.seeds or (3 if args.quick else 10))
    points, scale, true_hv = truth()
    evaluator = CachedNaswot(args.data)
    start = time.perf_counter()
    regret, sizes = {}, {}
    for sampler in ("random", "tpe"):
        for budget in budgets:
            name = f"naswot {sampler}, {budget} scored"
            for seed in seeds:
                _, front = naswot_search(sampler, budget, seed, evaluator)
                rows = np.array([points[k] for k in front])
                regret.setdefault(name, []).append(true_hv - normalised_hypervolume(rows))
                sizes.setdefault(name, []).append(len(front))
            print(f"{name}: median regret {np.median(regret[name]):.4f}, front {np.median(sizes[name]):.0f} "
                  f"networks ({evaluator.computed} scores computed so far)", flush=True)
    cache = cache_dir("sampler_quality", quick=True)  # table searches take seconds: not committed
    for method in ("random", "tpe"):
        runs = {seed: search(method, max(table_budgets), seed, cache) for seed in seeds}
        for budget in table_budgets:
            name = f"table {method}, {budget} trained"
            regret[name] = [regret_curve(runs[s], points, true_hv)[budget - 1] for s in seeds]
            sizes[name] = [budget] * len(seeds)
    against = {b: f"table random, {b} trained" for b in table_budgets}
    rows = []
    for name, values in regret.items():
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        trained = float(np.median(sizes[name]))
        # against random search with at least as many full trainings as the front hands the user to train
        nearest = min((b for b in table_budgets if b >= trained), default=max(table_budgets))
        ref = np.array(regret[against[nearest]])
        p = float(wilcoxon(values, ref, alternative="less").pvalue) if np.any(np.array(values) != ref) else None
        rows.append({"method": name, "median": float(med), "q1": float(q1), "q3": float(q3),
                     "median_trained": trained, "compared_with": against[nearest], "p": p})
    out = ROOT / "benchmarks" / "results" / f"zero_cost_search{'_quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"command": " ".join(["python benchmarks/zero_cost_search.py", *sys.argv[1:]]),
                               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "torch": torch.__version__},
                               "seeds": len(seeds), "true_hypervolume": true_hv, "rows": rows,
                               "scores_computed": evaluator.computed,
                               "seconds_this_run": round(time.perf_counter() - start, 1)}, indent=1) + "\n")
    print(f"\nNAS-Bench-Macro, NASWOT and FLOPs; {len(seeds)} seeds; regret of the table's accuracy of what each "
          "search hands the user to train\n")
    print("| search | networks to train (median) | regret median [IQR] | one-sided Wilcoxon p against |")
    print("|---|---|---|---|")
    for r in rows:
        p = "" if r["p"] is None else f"{r['p']:.2g} against {r['compared_with']}"
        print(f"| {r['method']} | {r['median_trained']:.0f} | {r['median']:.4f} [{r['q1']:.4f}, {r['q3']:.4f}] "
              f"| {p} |")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
