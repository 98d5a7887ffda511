"""Image folders read at the deployment size (224), trained at a lower resolution; the README's commands."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bsnas
import bsnas.data.readers as readers
from bsnas.data import load_data

README = Path(__file__).resolve().parents[1] / "README.md"
COLOURS = {"daisy": (230, 230, 60), "rose": (200, 30, 50), "tulip": (120, 40, 160)}


def make_folder(root: Path, per_class: int, seed: int) -> Path:
    """Class subfolders of coloured images of mixed sizes and aspect ratios, PNG and JPEG."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            w, h = rng.integers(160, 320), rng.integers(160, 320)
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def test_a_folder_is_read_at_the_deployment_size_centre_cropped_and_trained_smaller(tmp_path):
    folder = make_folder(tmp_path / "train", 4, 0)
    wide = np.full((100, 300, 3), 255, np.uint8)
    wide[:, 100:200] = (255, 0, 0)  # a red square in the middle of a wide white image
    Image.fromarray(wide).save(folder / "rose" / "wide.png")
    data = load_data(f"folder:{folder}", read_size=224, resolution=112, val_size=3)
    assert data.native_size == (3, 224, 224) and data.input_size == (3, 112, 112)
    whole = readers.read_dataset(f"folder:{folder}", 224)
    image = whole.x[list(whole.y).index(1) + 4]  # the rose folder's last file: wide.png
    assert tuple(image[:, 112, 112]) == (255, 0, 0) and tuple(image[:, 112, 2]) == (255, 0, 0)  # the crop
    assert data.classes == ("daisy", "rose", "tulip")


def test_a_folder_too_large_for_memory_is_refused_before_reading(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "train", 2, 0)
    monkeypatch.setattr(readers, "free_memory", lambda: 100_000)
    with pytest.raises(bsnas.BsnasError, match=r"6 images at 224x224 need 903,168 bytes \(0.0 GB\) of memory, "
                                               r"but only 0.0 GB are free"):
        load_data(f"folder:{folder}", read_size=224)


def test_a_folder_test_set_must_have_the_same_classes(tmp_path):
    train = make_folder(tmp_path / "train", 3, 0)
    other = make_folder(tmp_path / "other", 1, 1)
    (other / "tulip").rename(other / "violet")
    with pytest.raises(bsnas.BsnasError, match="class 2 is 'violet' there but 'tulip' in training"):
        load_data(f"folder:{train}", read_size=64, test_spec=f"folder:{other}")
    test = make_folder(tmp_path / "test", 2, 2)
    data = load_data(f"folder:{train}", read_size=64, resolution=32, test_spec=f"folder:{test}")
    assert data.test_x.shape == (6, 3, 32, 32)


@pytest.mark.slow
def test_the_readme_commands_run_on_generated_folders(tmp_path):
    make_folder(tmp_path / "data" / "flowers" / "train", 8, 0)
    make_folder(tmp_path / "data" / "flowers" / "test", 3, 1)
    block = re.search(r"<!-- tested: folder224 -->\n```bash\n(.*?)```", README.read_text(), re.S).group(1)
    outputs = []
    for command in block.replace("\\\n", " ").strip().splitlines():
        argv = shlex.split(command)
        assert argv[0] == "bsnas"
        done = subprocess.run([sys.executable, "-m", "bsnas", *argv[1:]], cwd=tmp_path, capture_output=True,
                              text=True, timeout=900, env={**os.environ})
        assert done.returncode == 0, (command, done.stderr)
        outputs.append(done.stdout)
    study = bsnas.study.load_existing_study("flowers", runs_dir=tmp_path / "runs")
    assert study.user_attrs["data_info"]["input_size"] == [3, 224, 224]
    assert study.user_attrs["data_info"]["train_resolution"] == [3, 112, 112]
    warm = [t.user_attrs.get("warm_start") for t in study.trials[:2]]
    assert warm == ["mobilenetv2_w1", "mobilenetv2_w1_bsconvs_p1d6"]
    for t in study.trials:
        assert t.user_attrs["flops"] == bsnas.count(t.user_attrs["arch"], (3, 224, 224), 3).flops
    index = json.loads((tmp_path / "runs" / "flowers-export" / "index.json").read_text())
    record = bsnas.load_record(tmp_path / "runs" / "flowers-export" / index["front"][0]["json"])
    assert record.input_size == (3, 224, 224) and record.extra["preprocessing"]["classes"] == list(COLOURS)
    assert (tmp_path / "runs" / "flowers-export" / index["front"][0]["onnx"]).is_file()
    metrics = json.loads(outputs[-1])
    assert metrics["epochs_run"] == 1
    assert abs(metrics["test_acc"] * 9 - round(metrics["test_acc"] * 9)) < 1e-9  # scored on the 9 test images
