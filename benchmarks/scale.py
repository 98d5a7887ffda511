"""Many workers on one PostgreSQL server: throughput, storage time, lock wait, and faults, by simulation.

Each setting runs one search of ``--trials`` architectures of the ``tiny`` space with ``--jobs W``
worker processes on one PostgreSQL server (started here as ``.ci/postgres.sh`` starts one, with room
for the connections, unless ``--storage`` names one). Trials are cheap: the user's ``evaluate=``
sleeps ``--sleep`` seconds and returns an accuracy computed from the architecture string, so what is
measured is bsnas and the storage. The sampler is random (TPE's own cost grows with the trials and is
measured in ``benchmarks/tpe_sampling.py``). 10% of the workers are killed (SIGKILL) at random times;
with ``BSNAS_HEARTBEAT_SECONDS=2`` and ``BSNAS_STALE_AFTER=15`` the others find their trials dead.

Each setting runs twice: with the claim under the study's one lock (``BSNAS_CLAIM_LOCK=study``,
bsnas 0.1's claim) and under one lock per architecture (``architecture``, the default now).

Reported per setting: trials per second over the middle 80% of completions (steady state) and over
the whole run; per trial, the seconds of SQL (client side, all statements between two evaluations of a
worker, lock waits included), the claim's lock wait and hold, the claim lock's busy share (summed hold
over the steady-state wall time: at most 1 for one lock); and the checks: exactly N distinct trained
architectures, every trained accuracy equal to the function of its architecture (no lost or mixed-up
result), no trial left running, every failed trial with a reason.

Each setting's result is cached in ``benchmarks/results/scale/`` (``--quick``: ``scale-quick/``) and a
rerun only runs what is missing. Run: ``python benchmarks/scale.py [--quick]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PORT = 55441


def accuracy_of(arch: str) -> float:
    return 0.5 + int(hashlib.sha1(arch.encode()).hexdigest()[:8], 16) / 2**33


_SQL = {"seconds": 0.0, "count": 0, "since": 0.0, "n_since": 0}


def _instrument() -> None:
    """Time every SQL statement of this worker process (all engines), client side."""
    import sqlalchemy

    if _SQL.get("on"):
        return
    _SQL["on"] = True

    def before(conn, cursor, statement, params, context, executemany):
        conn.info.setdefault("t", []).append(time.perf_counter())

    def after(conn, cursor, statement, params, context, executemany):
        _SQL["seconds"] += time.perf_counter() - conn.info["t"].pop()
        _SQL["count"] += 1

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", before)
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "after_cursor_execute", after)


def sleepy_evaluate(model, data, trial) -> dict:
    """The benchmark's user evaluation: sleep, then an accuracy from the architecture string. It also
    reports the SQL time this worker spent since its previous evaluation (that trial's storage work)."""
    _instrument()
    sql, count = _SQL["seconds"] - _SQL["since"], _SQL["count"] - _SQL["n_since"]
    time.sleep(float(os.environ["SCALE_SLEEP"]))
    _SQL["since"], _SQL["n_since"] = _SQL["seconds"], _SQL["count"]
    return {"accuracy": accuracy_of(trial.user_attrs["arch"]) if "arch" in trial.user_attrs else 0.0,
            "sql_seconds": sql, "sql_statements": count}


def start_postgres(root: Path, max_connections: int) -> tuple[str, callable]:
    """A throwaway PostgreSQL server (Debian's), as .ci/postgres.sh starts one; returns its URL and a stop."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins:
        raise SystemExit("no PostgreSQL here: apt-get install postgresql (or pass --storage URL)")
    bin_dir, data = bins[-1], root / "pg"
    root.chmod(0o755)  # the postgres user must reach its data folder
    data.mkdir()
    shutil.chown(data, "postgres")
    run = lambda cmd: subprocess.run(["su", "postgres", "-c", cmd], check=True, capture_output=True)  # noqa: E731
    run(f"{bin_dir}/initdb -D {data} -A trust -U postgres")
    run(f"{bin_dir}/pg_ctl -D {data} -l {data}/server.log -w start -o '-p {PORT} -k /tmp "
        f"-c listen_addresses=127.0.0.1 -c max_connections={max_connections} -c shared_buffers=256MB'")
    return (f"postgresql+psycopg://postgres@127.0.0.1:{PORT}/postgres",
            lambda: run(f"{bin_dir}/pg_ctl -D {data} -m fast stop"))


def killer(url: str, name: str, victims: int, workers: int, window: float, seed: int, killed: list,
           stop: threading.Event) -> None:
    """Once every worker has started a trial (the study holds ``2 * workers`` trials), kill ``victims`` workers
    at random times in the next ``window`` seconds: mid-search, never during start-up."""
    import multiprocessing

    import optuna

    rng = random.Random(seed)
    times = sorted(rng.uniform(0.1, 0.7) * window for _ in range(victims))
    storage = None
    while True:
        if stop.wait(1.0):
            return
        try:
            storage = storage or optuna.storages.RDBStorage(url)
            if storage.get_n_trials(storage.get_study_id_from_name(name)) >= 2 * workers:
                break
        except Exception:  # the study does not exist yet
            continue
    start = time.monotonic()
    for at in times:
        while time.monotonic() - start < at:
            if stop.wait(0.2):
                return
        alive = [p for p in multiprocessing.active_children() if p.pid and p.pid not in killed]
        if alive:
            victim = rng.choice(alive)
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)


def run_setting(url: str, workers: int, trials: int, scope: str, sleep: float, seed: int) -> dict:
    import optuna

    from bsnas.status import Status, status_of
    from bsnas.study import SearchConfig, run_search

    os.environ.update({"BSNAS_CLAIM_LOCK": scope, "SCALE_SLEEP": str(sleep), "BSNAS_HEARTBEAT_SECONDS": "2",
                       "BSNAS_STALE_AFTER": "15"})
    name = f"scale-{workers}-{scope}-{trials}-{seed}"
    with tempfile.TemporaryDirectory() as runs:
        cfg = SearchConfig.from_options(space="tiny", data="digits", trials=trials, jobs=workers, storage=url,
                                        study=name, sampler="random", seed=seed, runs_dir=runs)
        killed, stop = [], threading.Event()
        # 10% of the workers die at random times in the first 70% of the expected run (start-up not counted)
        window = trials * sleep / workers
        thread = threading.Thread(target=killer, args=(url, name, max(1, workers // 10), workers, window, seed, killed,
                                                       stop), daemon=True)
        started = time.perf_counter()
        thread.start()
        try:
            study = run_search(cfg, evaluate=sleepy_evaluate)
        finally:
            stop.set()
        wall = time.perf_counter() - started
    trials_all = study.get_trials(deepcopy=False)
    trained = [t for t in trials_all if status_of(t) is Status.TRAINED]
    archs = [t.user_attrs["arch"] for t in trained]
    ends = np.sort([t.datetime_complete.timestamp() for t in trained])
    lo, hi = ends[int(0.1 * len(ends))], ends[int(0.9 * len(ends)) - 1]
    steady = (int(0.9 * len(ends)) - int(0.1 * len(ends)) - 1) / max(hi - lo, 1e-9)
    window_trials = [t for t in trained if lo <= t.datetime_complete.timestamp() <= hi]
    failed = [t for t in trials_all if t.state == optuna.trial.TrialState.FAIL]
    a = lambda key, ts=trained: np.array([t.user_attrs.get(key, 0.0) for t in ts], dtype=float)  # noqa: E731
    result = {
        "workers": workers, "claim_lock": scope, "trials": trials, "sleep_s": sleep, "seed": seed,
        "wall_s": round(wall, 1), "trials_per_s_steady": round(steady, 2),
        "trials_per_s_overall": round(len(trained) / wall, 2),
        "ideal_trials_per_s": round((workers - len(killed)) / sleep, 1),
        "sql_s_per_trial_median": round(float(np.median(a("sql_seconds"))), 4),
        "sql_s_per_trial_p90": round(float(np.percentile(a("sql_seconds"), 90)), 4),
        "sql_statements_per_trial_median": int(np.median(a("sql_statements"))),
        "claim_wait_s_median": round(float(np.median(a("claim_wait"))), 4),
        "claim_wait_s_p90": round(float(np.percentile(a("claim_wait"), 90)), 4),
        "claim_held_s_median": round(float(np.median(a("claim_held"))), 4),
        "claim_lock_busy_share": round(float(a("claim_held", window_trials).sum() / max(hi - lo, 1e-9)), 3),
        "killed_workers": len(killed),
        "worker_died_trials": sum(status_of(t) is Status.WORKER_DIED for t in failed),
        "checks": {
            "exactly_n_distinct_trained": len(trained) == trials == len(set(archs)),
            "every_result_is_its_architecture_s": all(t.user_attrs["accuracy"] == accuracy_of(t.user_attrs["arch"])
                                                      for t in trained),
            "none_left_running": not any(t.state == optuna.trial.TrialState.RUNNING for t in trials_all),
            "every_failed_trial_has_a_reason": all(t.user_attrs.get("fail_reason") for t in failed),
        },
    }
    optuna.delete_study(study_name=name, storage=url)
    return result


def machine() -> dict:
    import optuna
    import torch

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "optuna": optuna.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 and 8 workers, 200 trials (a few minutes)")
    parser.add_argument("--workers", type=int, nargs="*", default=None, help="worker counts (default 8 32 64)")
    parser.add_argument("--trials", type=int, default=None, help="trials per setting (default 2000)")
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds each evaluation sleeps (default 1)")
    parser.add_argument("--scopes", nargs="*", default=["study", "architecture"], choices=["study", "architecture"])
    parser.add_argument("--storage", default=None, help="a PostgreSQL URL to use instead of starting a server")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    workers = args.workers or ([4, 8] if args.quick else [8, 32, 64])
    trials = args.trials or (200 if args.quick else 2000)
    cache = RESULTS / ("scale-quick" if args.quick else "scale")
    cache.mkdir(parents=True, exist_ok=True)
    todo = [(w, s) for w in workers for s in args.scopes
            if not (cache / f"{w}-{s}-{trials}-{args.seed}.json").exists()]
    root = Path(tempfile.mkdtemp(prefix="bsnas-scale-"))
    url, stop = (args.storage, lambda: None) if args.storage or not todo else start_postgres(
        root, max(200, 6 * max(workers) + 50))
    try:
        for w, scope in todo:
            print(f"running {w} workers, claim lock per {scope}, {trials} trials ...", flush=True)
            result = {**run_setting(url, w, trials, scope, args.sleep, args.seed), "machine": machine()}
            (cache / f"{w}-{scope}-{trials}-{args.seed}.json").write_text(json.dumps(result, indent=1) + "\n")
    finally:
        stop()
        shutil.rmtree(root, ignore_errors=True)
    rows = [json.loads(p.read_text()) for p in sorted(cache.glob(f"*-{trials}-{args.seed}.json"))]
    rows.sort(key=lambda r: (r["workers"], r["claim_lock"]))
    cols = ["workers", "claim_lock", "trials_per_s_steady", "trials_per_s_overall", "ideal_trials_per_s",
            "sql_s_per_trial_median", "claim_wait_s_median", "claim_wait_s_p90", "claim_held_s_median",
            "claim_lock_busy_share", "killed_workers", "worker_died_trials", "wall_s"]
    print("| " + " | ".join(cols) + " | checks |")
    print("|" + "---|" * (len(cols) + 1))
    for r in rows:
        checks = "all hold" if all(r["checks"].values()) else ", ".join(k for k, v in r["checks"].items() if not v)
        print("| " + " | ".join(str(r[c]) for c in cols) + f" | {checks} |")
    summary = RESULTS / ("scale-quick.json" if args.quick else "scale.json")
    summary.write_text(json.dumps({"command": "python benchmarks/scale.py" + (" --quick" if args.quick else ""),
                                   "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
