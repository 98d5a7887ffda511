"""Bad input is refused with one clear line, and nothing is written.

Every CLI case asserts: a non-zero exit, exactly one line on stderr, no traceback, the offending value
named, and no file changed in the workspace. Every Python case asserts a :class:`bsnas.BsnasError` whose
one-line message names the value, and no file changed.
"""

from __future__ import annotations

import json
import pickle
import sqlite3

import numpy as np
import pytest
from PIL import Image

import bsnas
from bsnas.cli import main
from bsnas.data import load_data
from bsnas.study import SearchConfig, parse_amount, run_search, trained_trials

TINY = "stem_reg_k3_s1_c8_relu:conv_bsu_k3_s1_c16_relu:conv_bsu_k3_s2_c16_relu:head"


def _npz(path, x, y, **extra):
    np.savez(path, x=x, y=y, **extra)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace holding a finished study, records, a trained run and every kind of broken file."""
    ws = tmp_path_factory.mktemp("ws")
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=3, epochs=1, subset=256, study="s",
                                    runs_dir=str(ws / "runs"), max_flops=400_000, sampler="random", seed=3)
    study = run_search(cfg)
    trial = trained_trials(study)[0].number
    infeasible = next(t.number for t in study.trials if t.user_attrs.get("status") == "infeasible")
    data = ws / "data"
    data.mkdir()
    (data / "notzip.npz").write_bytes(b"this is not an archive")
    np.savez(data / "objects.npz", x=np.array([object()], dtype=object), y=np.zeros(1))
    x = np.zeros((20, 8, 8, 3), np.uint8)
    _npz(data / "oneclass.npz", x, np.zeros(20, int))
    _npz(data / "gaps.npz", x, np.array([0, 9000] * 10))
    _npz(data / "float.npz", x.astype(float), np.arange(20) % 2)
    _npz(data / "mismatch.npz", x, np.zeros(19, int))
    _npz(data / "named_test.npz", np.zeros((4, 8, 8, 1), np.uint8), np.arange(4) % 2, classes=np.array(["a", "b"]))
    _npz(data / "named_train.npz", np.zeros((40, 8, 8, 1), np.uint8), np.arange(40) % 2,
         classes=np.array(["cat", "dog"]))
    (data / "file.txt").write_text("x")
    for name, files in (("folder_empty", {"a": ["0.png"], "b": []}), ("folder_bad", {"a": ["0.png"]})):
        for cls, images in files.items():
            (data / name / cls).mkdir(parents=True)
            for image in images:
                Image.new("RGB", (4, 4)).save(data / name / cls / image)
    (data / "folder_bad" / "a" / "1.png").write_bytes(b"not an image")
    (data / "cifar_list").mkdir()
    for i in range(1, 6):
        (data / "cifar_list" / f"data_batch_{i}").write_bytes(pickle.dumps([1, 2, 3]))
    (data / "cifar_none").mkdir()
    (ws / "empty.db").write_bytes(b"")
    (ws / "garbage.db").write_bytes(b"garbage that is no database" * 10)
    with sqlite3.connect(ws / "foreign.db") as db:
        db.execute("CREATE TABLE foo (x INTEGER)")
    (ws / "bad.log").write_text("not a journal\n")
    (ws / "bad.yaml").write_text("name: [unclosed\n")
    (ws / "even.yaml").write_text("name: even\nstem: {width: [8]}\nstages:\n  - {block: conv, stride: 1, depth: [1], "
                                  "width: [8], ops: [regular], kernel: [4]}\n")
    good = bsnas.baseline("cifar_resnet20").to_dict()
    records = {"record": good, "rec_bool": {**good, "num_classes": True},
               "rec_flops_str": {**good, "flops": str(good["flops"])}, "rec_v2": {**good, "version": 2}}
    for name, content in records.items():
        (ws / f"{name}.json").write_text(json.dumps(content))
    (ws / "rec_garbage.json").write_text("{not json")
    bsnas.training.train(TINY, "digits", 1, ws / "run")
    (ws / "garbage.safetensors").write_bytes(b"\x00" * 64)
    assert main(["export", "--study", "s", "--runs-dir", str(ws / "runs"), "--trial", str(trial), "--out",
                 str(ws / "out")]) == 0
    return {"ws": ws, "trial": trial, "infeasible": infeasible}


def snapshot(root):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".bsnas-lock")}


def _search(ws, *extra):
    return ["search", "--space", "tiny", "--data", "digits", "--trials", "2", "--epochs", "1",
            "--runs-dir", str(ws / "runs"), "--study", "new", *extra]


def _export(ws, *extra):
    return ["export", "--study", "s", "--runs-dir", str(ws / "runs"), "--out", str(ws / "out"), *extra]


D = "{ws}/data/"
CLI_CASES = {
    # search: settings
    "epochs 0": (_search, ["--epochs", "0"], "got 0"),
    "epochs negative": (_search, ["--epochs", "-3"], "got -3"),
    "subset 0": (_search, ["--subset", "0"], "got 0"),
    "subset 1": (_search, ["--subset", "1"], "got 1"),
    "batch size 0": (_search, ["--batch-size", "0"], "got 0"),
    "lr negative": (_search, ["--lr", "-1"], "got -1.0"),
    "lr nan": (_search, ["--lr", "nan"], "got nan"),
    "lr inf": (_search, ["--lr", "inf"], "got inf"),
    "val size 1.5": (_search, ["--val-size", "1.5"], "'1.5'"),
    "val size 0": (_search, ["--val-size", "0"], "'0'"),
    "val size negative": (_search, ["--val-size", "-0.2"], "'-0.2'"),
    "val size too many": (_search, ["--val-size", "5000"], "got 5000"),
    "val size text": (_search, ["--val-size", "half"], "'half'"),
    "trials 0": (_search, ["--trials", "0"], "got 0"),
    "jobs 0": (_search, ["--jobs", "0"], "got 0"),
    "seed negative": (_search, ["--seed", "-1"], "got -1"),
    "budget unit": (_search, ["--max-flops", "50X"], "'50X'"),
    "budget negative": (_search, ["--max-flops=-5M"], "'-5M'"),
    "budget zero": (_search, ["--max-flops", "0"], "'0'"),
    "budget infinite": (_search, ["--max-flops", "inf"], "'inf'"),
    "params budget text": (_search, ["--max-params", "abc"], "'abc'"),
    "budget below the smallest": (_search, ["--max-params", "10"], "budget of 10"),
    "objectives order": (_search, ["--objectives", "flops,accuracy"], "flops,accuracy"),
    "objectives one": (_search, ["--objectives", "accuracy"], "but got accuracy"),
    "objectives repeated": (_search, ["--objectives", "accuracy,flops,flops"], "accuracy,flops,flops"),
    "objectives unknown": (_search, ["--objectives", "accuracy,loss"], "accuracy,loss"),
    "latency without a table": (_search, ["--objectives", "accuracy,latency"], "needs a latency table"),
    "latency budget unreadable": (_search, ["--max-latency", "soon"], "cannot read 'soon' as a latency"),
    "sampler unknown": (_search, ["--sampler", "cmaes"], "'cmaes'"),
    "optimizer unknown": (_search, ["--optimizer", "lion"], "'lion'"),
    "study escapes": (_search, ["--study", "../../x"], "'../../x'"),
    "study absolute": (_search, ["--study", "/abs/path"], "'/abs/path'"),
    "study hidden": (_search, ["--study", ".hidden"], "'.hidden'"),
    "study space": (_search, ["--study", "a b"], "'a b'"),
    "space missing": (_search, ["--space", "nope"], "'nope'"),
    "space not yaml": (_search, ["--space", "{ws}/bad.yaml"], "bad.yaml"),
    "space even kernel": (_search, ["--space", "{ws}/even.yaml"], "got 4"),
    "resolution 0": (_search, ["--resolution", "0"], "got 0"),
    "resolution below stride": (_search, ["--resolution", "1"], "1x1"),
    "subset too large": (_search, ["--subset", "100000"], "100000"),
    "device cuda absent": (_search, ["--device", "cuda"], "'cuda'"),
    "device unknown": (_search, ["--device", "tpu"], "'tpu'"),
    # search: data
    "data kind": (_search, ["--data", "imagenet:/x"], "'imagenet'"),
    "data missing file": (_search, ["--data", "npz:{ws}/missing.npz"], "missing.npz"),
    "data not zip": (_search, ["--data", f"npz:{D}notzip.npz"], "notzip.npz"),
    "data objects": (_search, ["--data", f"npz:{D}objects.npz"], "objects.npz"),
    "data one class": (_search, ["--data", f"npz:{D}oneclass.npz"], "'0'"),
    "data label gaps": (_search, ["--data", f"npz:{D}gaps.npz"], "[0, 9000]"),
    "data floats": (_search, ["--data", f"npz:{D}float.npz"], "float64"),
    "data count mismatch": (_search, ["--data", f"npz:{D}mismatch.npz"], "19 labels"),
    "digits with a path": (_search, ["--data", "digits:/x"], "'digits:/x'"),
    "folder missing": (_search, ["--data", "folder:{ws}/nothing"], "nothing"),
    "folder is a file": (_search, ["--data", f"folder:{D}file.txt"], "file.txt"),
    "folder empty class": (_search, ["--data", f"folder:{D}folder_empty"], "folder_empty/b"),
    "folder bad image": (_search, ["--data", f"folder:{D}folder_bad"], "1.png"),
    "cifar wrong type": (_search, ["--data", f"cifar10:{D}cifar_list"], "holds a list"),
    "cifar no files": (_search, ["--data", f"cifar10:{D}cifar_none"], "cifar_none"),
    # search: storage
    "storage scheme": (_search, ["--storage", "mongodb:/x"], "'mongodb:/x'"),
    "storage empty file": (_search, ["--storage", "sqlite:///{ws}/empty.db"], "empty.db"),
    "storage not sqlite": (_search, ["--storage", "sqlite:///{ws}/garbage.db"], "garbage.db"),
    "storage foreign sqlite": (_search, ["--storage", "sqlite:///{ws}/foreign.db"], "foreign.db"),
    "storage bad journal": (_search, ["--storage", "{ws}/bad.log"], "bad.log"),
    "storage missing folder": (_search, ["--storage", "sqlite:///{ws}/nowhere/x.db"], "nowhere"),
    "storage secret masked": (_search, ["--storage", "postgresql+psycopg://bob:hunter2@127.0.0.1:1/db"], "bob:***@"),
    "changed settings": (lambda ws, *e: [*_search(ws, *e)[:-2], "--study", "s", *e], ["--epochs", "2"],
                         "epochs 1 -> 2"),
    # front
    "front missing study": (lambda ws, *e: ["front", "--study", "missing", "--runs-dir", str(ws / "runs"), *e], [],
                            "'missing'"),
    "front study escapes": (lambda ws, *e: ["front", "--study", "../x", "--runs-dir", str(ws / "runs"), *e], [],
                            "'../x'"),
    "front unknown baseline": (lambda ws, *e: ["front", "--study", "s", "--runs-dir", str(ws / "runs"), *e],
                               ["--baselines", "cifar_vgg"], "'cifar_vgg'"),
    "front plot suffix": (lambda ws, *e: ["front", "--study", "s", "--runs-dir", str(ws / "runs"), *e],
                          ["--plot", "{ws}/plot.svg"], "plot.svg"),
    "front corrupt storage": (lambda ws, *e: ["front", "--study", "s", *e], ["--storage", "sqlite:///{ws}/garbage.db"],
                              "garbage.db"),
    "front format": (lambda ws, *e: ["front", "--study", "s", "--runs-dir", str(ws / "runs"), *e],
                     ["--format", "xml"], "'xml'"),
    # export
    "export trial missing": (_export, ["--trial", "999"], "999"),
    "export trial negative": (_export, ["--trial", "-1"], "-1"),
    "export format": (_export, ["--trial", "{trial}", "--format", "tflite"], "'tflite'"),
    "export overwrite": (_export, ["--trial", "{trial}"], "s-trial{trial}.json"),
    "export infeasible": (_export, ["--trial", "{infeasible}"], "trial {infeasible}"),
    "export weights missing": (_export, ["--trial", "{trial}", "--force", "--format", "onnx", "--weights",
                                         "{ws}/none.safetensors"], "none.safetensors"),
    "export weights garbage": (_export, ["--trial", "{trial}", "--force", "--format", "onnx", "--weights",
                                         "{ws}/garbage.safetensors"], "garbage.safetensors"),
    "export weights of another arch": (_export, ["--trial", "{trial}", "--force", "--format", "pt2", "--weights",
                                                 "{ws}/run/model.safetensors"], "'classifier.weight'"),
    # profile and baselines
    "profile nonsense": (lambda ws, *e: ["profile", "nonsense", *e], [], "'nonsense'"),
    "profile unknown baseline": (lambda ws, *e: ["profile", "cifar_resnet21", *e], [], "'cifar_resnet21'"),
    "profile missing record": (lambda ws, *e: ["profile", "{ws}/missing.json", *e], [], "missing.json"),
    "profile even kernel": (lambda ws, *e: ["profile", TINY.replace("k3_s1_c8", "k4_s1_c8"), *e], [], "got 4"),
    "profile full-width digit": (lambda ws, *e: ["profile", TINY.replace("c16", "c\uff11\uff16", 1), *e], [],
                                 "c\uff11\uff16"),
    "profile minus sign": (lambda ws, *e: ["profile", TINY.replace("s2", "s-1"), *e], [], "s-1"),
    "profile classes 0": (lambda ws, *e: ["profile", "cifar_resnet20", *e], ["--num-classes", "0"], "got 0"),
    "profile input size": (lambda ws, *e: ["profile", "cifar_resnet20", *e], ["--input-size", "3,0,32"], "'3,0,32'"),
    "record bool classes": (lambda ws, *e: ["profile", "{ws}/rec_bool.json", *e], [], "got True"),
    "record flops string": (lambda ws, *e: ["profile", "{ws}/rec_flops_str.json", *e], [], "'41224832'"),
    "record version": (lambda ws, *e: ["profile", "{ws}/rec_v2.json", *e], [], "version=2"),
    "record not json": (lambda ws, *e: ["profile", "{ws}/rec_garbage.json", *e], [], "rec_garbage.json"),
    "baselines filter": (lambda ws, *e: ["baselines", *e], ["--filter", "vgg"], "'vgg'"),
    "baselines classes": (lambda ws, *e: ["baselines", *e], ["--num-classes", "0"], "got 0"),
    # proxy, train, spaces, proxy-check
    "proxy epochs": (lambda ws, *e: ["proxy", TINY, *e], ["--epochs", "0"], "got 0"),
    "proxy subset": (lambda ws, *e: ["proxy", TINY, *e], ["--subset", "99999"], "99999"),
    "proxy label smoothing": (lambda ws, *e: ["proxy", TINY, *e], ["--label-smoothing", "1.5"], "got 1.5"),
    "proxy test classes": (lambda ws, *e: ["proxy", TINY, "--data", f"npz:{D}named_train.npz", *e],
                           ["--test-data", f"npz:{D}named_test.npz"], "'a'"),
    "train nothing to resume": (lambda ws, *e: ["train", TINY, "--epochs", "1", "--out", "{ws}/fresh", *e],
                                ["--resume"], "fresh"),
    "train existing run": (lambda ws, *e: ["train", TINY, "--epochs", "1", "--out", "{ws}/run", *e], [], "run"),
    "train other settings": (lambda ws, *e: ["train", TINY, "--epochs", "1", "--out", "{ws}/run", *e],
                             ["--resume", "--lr", "0.5"], "(lr)"),
    "train out is a file": (lambda ws, *e: ["train", TINY, "--epochs", "1", *e], ["--out", "{ws}/record.json"],
                            "record.json"),
    "train epochs 0": (lambda ws, *e: ["train", TINY, "--out", "{ws}/fresh", *e], ["--epochs", "0"], "got 0"),
    "spaces missing": (lambda ws, *e: ["spaces", "{ws}/none.yaml", *e], [], "none.yaml"),
    "proxy-check random without space": (lambda ws, *e: ["proxy-check", *e], ["--random", "3"], "--random"),
    "proxy-check budget": (lambda ws, *e: ["proxy-check", TINY, TINY, TINY, *e], ["--proxy", "epochs2"], "'epochs2'"),
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_refuses_with_one_line_and_changes_nothing(ws, capsys, name):
    build, extra, fragment = CLI_CASES[name]
    root = ws["ws"]
    values = {"ws": root, "trial": ws["trial"], "infeasible": ws["infeasible"]}
    argv = [a.format(**values) for a in build(root, *extra)]
    fragment = fragment.format(**values)
    before = snapshot(root)
    code = main(argv) if "--help" not in argv else 0
    err = capsys.readouterr().err
    assert code != 0, f"{name}: accepted {argv}"
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err and fragment in err, err
    assert snapshot(root) == before, f"{name} changed files"


def _arch():
    return bsnas.decode_arch(TINY)


API_CASES = {
    "count unknown string": (lambda: bsnas.count("x"), "'x'"),
    "count input size": (lambda: bsnas.count(_arch(), (32, 32)), "(32, 32)"),
    "count classes": (lambda: bsnas.count(_arch(), num_classes=0), "got 0"),
    "build bool classes": (lambda: bsnas.build_model(_arch(), num_classes=True), "got True"),
    "record bool classes": (lambda: bsnas.ArchRecord(_arch(), num_classes=True), "got True"),
    "record not an arch": (lambda: bsnas.ArchRecord("stem"), "str"),
    "decode full-width": (lambda: bsnas.decode_arch(TINY.replace("c8", "c\uff18")), "c\uff18"),
    "conv zero width": (lambda: bsnas.create_conv("bsconv_u", 4, 0, 3), "got 0"),
    "conv even kernel": (lambda: bsnas.create_conv("dsc", 4, 4, 4), "kernel_size=4"),
    "bsconv_s p": (lambda: bsnas.BSConvS(8, 8, 3, p=2.0), "p=2.0"),
    "conv type": (lambda: bsnas.create_conv("sep", 4, 4, 3), "'sep'"),
    "val size": (lambda: load_data("digits", val_size=1.5), "1.5"),
    "test size": (lambda: load_data("digits", test_size=0), "got 0"),
    "proxy lr": (lambda: bsnas.ProxyConfig(lr=-1.0), "got -1.0"),
    "search study": (lambda: SearchConfig.from_options(space="tiny", study="../x"), "'../x'"),
    "search option": (lambda: SearchConfig.from_options(space="tiny", epoch=3), "'epoch'"),
    "replace kind": (lambda: bsnas.replace_convs(__import__("torch").nn.Sequential(), kind="dsc"), "'dsc'"),
    "as_record type": (lambda: bsnas.as_record(42), "int"),
    "space file": (lambda: bsnas.load_space("no_such_space"), "'no_such_space'"),
    "amount": (lambda: parse_amount("-1"), "'-1'"),
}


@pytest.mark.parametrize("name", list(API_CASES))
def test_python_api_refuses_with_a_clear_error(ws, name):
    call, fragment = API_CASES[name]
    before = snapshot(ws["ws"])
    with pytest.raises(bsnas.BsnasError) as info:
        call()
    message = str(info.value)
    assert fragment in message and "\n" not in message, message
    assert snapshot(ws["ws"]) == before


def test_there_are_at_least_80_cases():
    assert len(CLI_CASES) + len(API_CASES) >= 80
