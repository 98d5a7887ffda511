"""The HTML plot in a real browser (Debian's Chromium, headless): no console errors, every point drawn."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from bsnas.results.front import hypervolume_history, pareto_front, trials_frame
from bsnas.results.plots import PlotData, write_plot
from tests.test_front import synthetic_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: `apt-get install chromium` (bash .ci/run does)")


def render(page, profile) -> tuple[str, str]:
    """The page's DOM after its scripts ran, and Chromium's log (console messages are `CONSOLE` lines)."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
    done = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                          timeout=120)
    return done.stdout, done.stderr


def test_the_check_sees_console_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('checked'); missingFunction();</script></body></html>")
    _, log = render(page, tmp_path / "profile")
    assert "Uncaught ReferenceError" in log and "checked" in log


def test_the_html_plot_renders_every_point_without_console_errors(tmp_path):
    points = [(0.9, 100_000, 10), (0.8, 50_000, 8), (0.95, 400_000, 30), (0.7, 60_000, 9), (0.85, 80_000, 12)]
    study = synthetic_study(points, space_max={"flops": 1_000_000, "params": 100})
    trials, front = trials_frame(study), pareto_front(study)
    baselines = pd.DataFrame({"name": ["cifar_resnet20_bsconvu", "cifar_mobilenetv1_w1d4", "cifar_resnet20"],
                              "accuracy": [0.93, 0.3, 0.96], "flops": [300_000, 200_000, 900_000],
                              "params": [40, 20, 90]})
    page = write_plot(PlotData("s", trials, front, hypervolume_history(study), baselines), tmp_path / "front.html")
    dom, log = render(page, tmp_path / "profile")
    console = [line for line in log.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if re.search(r"Uncaught|rror", line)], console
    drawn = len(re.findall(r'class="(?:point|textpoint)"', dom))  # markers, and labelled markers (baselines)
    assert drawn == len(trials) + len(front) + len(baselines), drawn
    assert "B2 resnet20_bsconvu" in dom and "hypervolume over trials" in dom  # keys in FLOPs order
