"""What ``bsnas search`` shows while it runs: one line per finished trial, and on a terminal a bar.

The bar counts the trials toward ``--trials`` (trained, or stopped by successive halving, so under
ASHA it completes), and shows the best full-fidelity accuracy, the running trial (its epoch and
images per second) and an estimate of the time left. The estimate is the time per counted trial so
far in this run times the trials left; before the first one counts, it extrapolates the running
trial's epochs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bsnas.metrics import quality_metrics
from bsnas.results.front import quality_of
from bsnas.status import Status, status_of

__all__ = ["SearchDisplay", "format_seconds", "trial_line"]


def format_seconds(seconds: float) -> str:
    """``75`` → ``1m15s``, ``3725`` → ``1h02m``.

    >>> format_seconds(42.4), format_seconds(75), format_seconds(3725)
    ('42s', '1m15s', '1h02m')
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def quality_in(attrs: dict, quality: str | None = None) -> str | None:
    """The quality a trial stored: the study's ``quality`` when given, else ``accuracy`` or the zero-cost
    score a zero-cost search gave it (a trial of an accuracy search may also hold a screen's score)."""
    names = [quality] if quality else quality_metrics()
    return next((name for name in names if name in attrs), None)


def quality_text(name: str, value: float) -> str:
    """``acc 0.9123`` for accuracy, ``naswot 1234.56`` for a zero-cost score."""
    return f"acc {value:.4f}" if name == "accuracy" else f"{name} {value:.6g}"


def trial_line(t, quality: str | None = None) -> str:
    """One line for a finished trial: number, status, cost, accuracy (or ``quality``, the study's score) or
    why not, architecture."""
    a = t.user_attrs
    quality = quality_in(a, quality)
    cost = f"{a.get('flops', 0) / 1e6:7.3f} MFLOPs {a.get('params', 0) / 1e6:7.4f} Mparams" if "flops" in a else ""
    if isinstance(a.get("latency"), (int, float)):
        cost += f" {a['latency']:7.3f} ms"
    status = status_of(t)
    if status in (Status.TRAINED, Status.REUSED, Status.STOPPED, Status.REUSED_STOPPED) and quality:
        reused = status in (Status.REUSED, Status.REUSED_STOPPED)
        seconds = a.get("train_time", a.get("zero_cost_seconds", 0))
        extra = quality_text(quality, a[quality]) + (f" (reused #{a['reused_from']})" if reused else
                                                     f" {seconds:5.1f}s")
        if status in (Status.STOPPED, Status.REUSED_STOPPED):
            extra += f", not promoted after {a.get('rung')} epochs"
    elif status is Status.INFEASIBLE:
        extra = "over budget, not trained"
    elif status is Status.SURPLUS:
        extra = "stepped back: the target was already reached"
    else:
        extra = a.get("fail_reason", "")
    label = "fail" if status.state.name == "FAIL" else status.value
    if status is Status.TRAINED and quality not in (None, "accuracy"):
        label = "scored"  # a zero-cost evaluation trains nothing
    return f"#{t.number:<4d} {label:10s} {cost}  {extra}  {a.get('arch', '')}"


class SearchDisplay:
    """Trial lines to ``lines`` and, when ``enabled`` (a terminal), a bar on stderr (see the module docstring)."""

    def __init__(self, name: str, target: int, jobs: int = 1, lines=sys.stdout, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic, bar_file=None):
        self.name, self.target, self.jobs, self.lines, self.enabled = name, target, max(1, jobs), lines, enabled
        self.clock, self.bar_file = clock, bar_file
        self.bar, self.best, self.counted, self.first = None, None, 0, 0
        self.started = clock()
        self.running: dict[int, dict] = {}

    def start(self, study) -> None:
        from tqdm import tqdm

        self.counted = self.first = sum(status_of(t).counts_toward_target for t in study.get_trials(deepcopy=False))
        self.started = self.clock()
        self.bar = tqdm(total=self.target, initial=min(self.counted, self.target), unit="arch", dynamic_ncols=True,
                        desc=f"search {self.name}", disable=not self.enabled, file=self.bar_file or sys.stderr,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        self._refresh()

    def trial(self, study, t) -> None:
        if self.bar is None:
            self.start(study)
        quality = quality_of(study)
        self.bar.write(trial_line(t, quality), file=self.lines)
        self.running.pop(t.number, None)
        status = status_of(t)
        if status.counts_toward_target and self.counted < self.target:
            self.counted += 1
            self.bar.update()
        quality = quality_in(t.user_attrs, quality)
        if status is Status.TRAINED and quality:
            value = t.user_attrs[quality]
            self.best = (quality, value if self.best is None else max(self.best[1], value))
        self._refresh()

    def note(self, message: str) -> None:
        """A line about the search itself (a warm-start design, a random-start warning), beside the trials."""
        if self.bar is None:
            print(message, file=self.lines, flush=True)
        else:
            self.bar.write(message, file=self.lines)

    def progress(self, number: int, info: dict) -> None:
        self.running[number] = {**info, "_at": self.clock()}
        self._refresh()

    def eta(self) -> float | None:
        """Seconds left, or None before there is anything to estimate from."""
        left = self.target - self.counted
        if left <= 0:
            return 0.0
        elapsed = self.clock() - self.started
        done = self.counted - self.first
        if done > 0:
            return elapsed / done * left
        fractions = [p["epoch"] / p["epochs"] for p in self.running.values() if p.get("epochs") and p.get("epoch")]
        if not fractions:
            return None
        per_trial = elapsed / max(fractions)
        return max(0.0, per_trial * left / self.jobs - elapsed)

    def postfix(self) -> str:
        parts = [] if self.best is None else ["best " + quality_text(*self.best).replace("acc ", "")]
        if self.running:
            number, p = max(self.running.items(), key=lambda kv: kv[1]["_at"])
            speed = p.get("images_per_sec")
            parts.append(f"#{number} epoch {p.get('epoch')}/{p.get('epochs')}"
                         + (f" {speed:,.0f} img/s" if speed else ""))
        eta = self.eta()
        if eta is not None:
            parts.append(f"eta {format_seconds(eta)}")
        return ", ".join(parts)

    def _refresh(self) -> None:
        if self.bar is not None:
            text = self.postfix()
            self.bar.set_postfix_str(text, refresh=True) if text else self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
