"""What one commit to a study database costs in SQLite's rollback-journal mode and in WAL mode.

Optuna commits once per suggested parameter and per user attribute, so a trial of the ``resnet`` space makes
dozens of commits. This times small insert-and-commit transactions in a temporary folder on the same disk as
``runs/``, interleaving the modes, with ``synchronous`` at SQLite's default (FULL) in both.

Run: ``python benchmarks/sqlite_commit.py [--commits 200 --rounds 3]`` (a few seconds).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

MODES = {"rollback journal (SQLite's default, bsnas)": "DELETE", "write-ahead log": "WAL"}


def ms_per_commit(path: Path, journal_mode: str, commits: int) -> float:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA journal_mode={journal_mode}")
    db.execute("CREATE TABLE attrs (trial INTEGER, value TEXT)")
    db.commit()
    start = time.perf_counter()
    for i in range(commits):
        db.execute("INSERT INTO attrs VALUES (?, ?)", (i, "x" * 40))
        db.commit()
    elapsed = time.perf_counter() - start
    db.close()
    return 1000 * elapsed / commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="runs", help="a folder on the disk to measure")
    args = parser.parse_args()
    Path(args.dir).mkdir(exist_ok=True)
    results = {label: [] for label in MODES}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for _ in range(args.rounds):
            for label, mode in MODES.items():
                results[label].append(ms_per_commit(Path(tmp) / "t.db", mode, args.commits))
    print(f"{args.commits} commits x {args.rounds} rounds, synchronous=FULL, in {args.dir}/\n")
    print("| journal mode | ms per commit, median of rounds |\n|---|---|")
    for label, values in results.items():
        print(f"| {label} | {sorted(values)[len(values) // 2]:.2f} |")


if __name__ == "__main__":
    main()
