from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

import bsnas
from bsnas.cli import main


def test_help_runs_as_a_console_script():
    out = subprocess.run([sys.executable, "-m", "bsnas", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "profile" in out.stdout and "baselines" in out.stdout


def test_profile_table(capsys):
    assert main(["profile", "cifar_resnet20_bsconvu"]) == 0
    out = capsys.readouterr().out
    assert "params: 40720" in out and "flops: 7662208" in out
    for stage in ("stem", "s1", "s2", "s3", "head"):
        assert stage in out


REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_counts.json").read_text())["models"]


def test_profile_json_with_verify_and_override(capsys):
    assert main(["profile", "cifar_wrn16_1_bsconvs_p1d4", "--verify", "--format", "json", "--num-classes", "100"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == data["built_params"] == REFERENCE["cifar_wrn16_1_bsconvs_p1d4"]["params_100"]
    assert data["flops"] == data["fvcore_flops"]
    assert [r["stage"] for r in data["rows"]] == ["stem", "s1", "s2", "s3", "head"]


def test_profile_record_and_string_agree(tmp_path, capsys):
    record = bsnas.baseline("cifar_mobilenetv1_w1d4_bsconvu")
    path = record.save(tmp_path / "rec.json")
    main(["profile", str(path), "--format", "json"])
    from_file = json.loads(capsys.readouterr().out)
    main(["profile", record.arch_string, "--format", "json"])
    from_string = json.loads(capsys.readouterr().out)
    reference = REFERENCE["cifar_mobilenetv1_w1d4_bsconvu"]
    assert from_file["flops"] == from_string["flops"] == reference["fvcore_flops_10"]
    assert from_file["params"] == from_string["params"] == reference["params_10"]


def test_profile_input_size_csv(capsys):
    assert main(["profile", "cifar_resnet20", "--input-size", "3,64,64", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "stage,blocks,out_shape,flops,params"
    assert "16x64x64" in out


def test_baselines_lists_all_with_counts(capsys):
    assert main(["baselines", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == len(bsnas.list_baselines())
    imagenet = json.loads((Path(__file__).parent / "data" / "reference_counts_imagenet.json").read_text())["models"]
    # each at its record's input size and class count: CIFAR 32x32 and 10, ImageNet-size 224x224 and 1000
    expected = {**{n: (c["params_10"], c["fvcore_flops_10"]) for n, c in REFERENCE.items()},
                **{n: (c["params_1000"], c["fvcore_flops_1000"]) for n, c in imagenet.items()}}
    assert all((r["params"], r["flops"]) == expected[r["name"]] for r in rows)


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["profile", "nonsense"], "cannot read architecture 'nonsense'"),
        (["profile", "cifar_resnet21"], "unknown baseline 'cifar_resnet21'"),
        (["profile", "missing.json"], "no record file"),
        (["profile", "stem_reg_k4_s1_c8_relu:conv_reg_k3_s1_c8_relu:head"], "kernel must be odd"),
        (["baselines", "--filter", "vgg"], "no baseline name contains 'vgg'"),
    ],
)
def test_errors_are_one_line_with_exit_code_1(argv, fragment, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("bsnas: error: ") and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--debug", "profile", "nonsense"], ["profile", "nonsense", "--debug"]])
def test_debug_shows_the_traceback(argv):
    out = subprocess.run([sys.executable, "-m", "bsnas", *argv], capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" in out.stderr and "BsnasError" in out.stderr


def test_unexpected_errors_are_one_line_too(monkeypatch, capsys):
    import bsnas.cli.model_commands as cli

    def broken(args):
        raise RuntimeError("database exploded\nwith a second line")

    monkeypatch.setattr(cli, "cmd_baselines", broken)
    assert main(["baselines"]) == 1
    err = capsys.readouterr().err
    assert err == ("bsnas: error: unexpected RuntimeError: database exploded; rerun with --debug for the "
                   "traceback\n")


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.run(f"{sys.executable} -m bsnas baselines | head -n 1", shell=True, capture_output=True,
                          text=True)
    assert proc.stdout.split() == ["name", "input", "mflops", "params", "flops"] and proc.stderr == ""


def test_usage_errors_are_one_line_with_exit_code_2(capsys):
    assert main(["search", "--space", "tiny", "--sampler", "cmaes"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'cmaes'" in err and "bsnas search --help" in err


def test_every_command_has_a_description_an_example_and_help_on_every_option():
    from bsnas.cli.main import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"search", "front", "export", "train", "spaces", "profile", "baselines", "proxy", "proxy-check",
            "kernels"} <= set(commands)
    for name, command in commands.items():
        assert command.description and "example:\n  bsnas " in command.description, name
        for action in command._actions:
            if isinstance(action, argparse._HelpAction) or action.dest == "debug":
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.option_strings or action.dest}"
