"""How long a resumed search takes to notice a killed worker, on each storage, at the default settings.

Starts ``bsnas search`` on digits, kills it (SIGKILL) while a trial trains, reruns the same command and
reports the seconds from the rerun's start until the dead trial is marked FAIL, and until the search ends
with exactly N trained architectures. Run: ``python benchmarks/dead_worker.py [--storage sqlite journal]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from bsnas.storage import open_storage


def trials(url: str, study: str):
    try:
        return optuna.load_study(study_name=study, storage=open_storage(url, writing=False)).get_trials()
    except Exception:
        return []


def measure(kind: str, root: Path, n: int) -> dict:
    storage = [] if kind == "sqlite" else ["--storage", str(root / "study.log")]
    url = f"sqlite:///{root / 'runs' / 'dead' / 'study.db'}" if kind == "sqlite" else str(root / "study.log")
    cmd = [sys.executable, "-m", "bsnas", "search", "--space", "tiny", "--data", "digits", "--trials", str(n),
           "--epochs", "60", "--study", "dead", "--runs-dir", str(root / "runs"), "--quiet", *storage]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def training() -> bool:
        return any(t.state == TrialState.RUNNING and t.user_attrs.get("status") == "training"
                   for t in trials(url, "dead"))

    while not training():
        time.sleep(0.1)
    first.kill()
    first.wait()
    start = time.time()
    rerun = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    detected = None
    while rerun.poll() is None:
        if detected is None and any(t.user_attrs.get("fail_kind") == "worker-died" for t in trials(url, "dead")):
            detected = time.time() - start
        time.sleep(0.2)
    done = [t for t in trials(url, "dead") if t.user_attrs.get("status") == "trained" and t.state.name == "COMPLETE"]
    return {"storage": kind, "dead trial failed after s": round(detected or float("nan"), 1),
            "search done after s": round(time.time() - start, 1), "trained": len(done), "exit": rerun.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", nargs="*", default=["sqlite", "journal"], choices=["sqlite", "journal"])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    print(f"BSNAS_STALE_AFTER={os.environ.get('BSNAS_STALE_AFTER', '60 (default)')}")
    for kind in args.storage:
        with tempfile.TemporaryDirectory() as tmp:
            print(measure(kind, Path(tmp), args.trials), flush=True)


if __name__ == "__main__":
    main()
