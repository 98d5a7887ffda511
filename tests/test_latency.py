"""Latency: timing, the units a network is cut into, the lookup table, its files and fingerprints, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bsnas
from bsnas.cli import main
from bsnas.errors import BsnasError
from bsnas.latency import LatencyTable, measure_latency, time_module
from bsnas.latency.fingerprint import check_same, device_fingerprint
from bsnas.latency.timing import Timing, check_settings
from bsnas.latency.units import arch_units, space_units
from bsnas.metrics.builtin import parse_duration
from bsnas.nn.model import BsnasNet
from bsnas.space import load_space, random_archs

FAST = {"warmup": 1, "min_runs": 2, "min_time": 0.0}


def tiny_table(lazy: bool = False, backend: str = "torch") -> LatencyTable:
    table = LatencyTable.new(backend=backend, lazy=lazy)
    table.timing = FAST
    return table


def test_timing_is_the_median_and_quartiles_of_the_calls_in_ms():
    t = Timing.of([0.001, 0.002, 0.003, 0.004])
    assert (t.median_ms, t.q1_ms, t.q3_ms, t.runs) == pytest.approx((2.5, 1.75, 3.25, 4))
    assert t.to_dict()["iqr_ms"] == pytest.approx(1.5)


def test_the_device_timer_synchronises_around_events_and_reads_their_elapsed_time():
    """The CUDA code path (no GPU here): events and synchronisation stood in for by fakes on the CPU."""
    import time

    from bsnas.latency.timing import event_call

    log = []

    class FakeEvent:
        def record(self):
            log.append("record")
            self.at = time.perf_counter()

        def elapsed_time(self, other):  # milliseconds, as CUDA events give
            return (other.at - self.at) * 1e3

    call = event_call(lambda: (log.append("run"), time.sleep(0.002)), FakeEvent, lambda: log.append("sync"))
    seconds = call()
    assert log == ["sync", "record", "run", "record", "sync"] and 0.002 <= seconds < 0.5


def test_time_module_counts_calls_and_restores_the_thread_count():
    before = torch.get_num_threads()
    t = time_module(torch.nn.Conv2d(3, 8, 3), (1, 3, 16, 16), threads=1, warmup=1, min_runs=7, min_time=0.0)
    assert t.runs == 7 and 0 < t.q1_ms <= t.median_ms <= t.q3_ms
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(("args", "message"), [
    (("tf", 1, 1), "unknown latency backend 'tf'; choose one of torch, onnxruntime"),
    (("torch", 0, 1), "--threads must be a positive integer, but got 0"),
    (("torch", 1, True), "--batch must be a positive integer, but got True"),
    (("onnxruntime", 1, 1, "cuda"), "onnxruntime backend measures on the CPU"),
])
def test_bad_settings_are_one_line_errors(args, message):
    with pytest.raises(BsnasError, match=message.replace("(", r"\(")):
        check_settings(*args)


def test_parse_duration_reads_units_and_refuses_nonsense():
    assert [parse_duration(v) for v in ("2ms", "500us", "0.01s", "3", 1.5)] == pytest.approx([2, 0.5, 10, 3, 1.5])
    for bad in ("fast", "-1ms", "0"):
        with pytest.raises(BsnasError, match="latency"):
            parse_duration(bad)


@pytest.mark.parametrize("space", ["tiny", "resnet", "mobilenet", "nas_bench_macro"])
def test_every_unit_of_a_random_network_is_among_the_spaces_units(space):
    sp = load_space(space)
    known = {u.key for group in space_units(sp, sp.input_size, sp.num_classes) for u in group}
    for arch in random_archs(sp, 40, seed=3):
        assert {u.key for u in arch_units(arch, sp.input_size, sp.num_classes)} <= known


@pytest.mark.parametrize("name", ["cifar_resnet20_bsconvs_p1d4", "cifar_mobilenetv2_w1d4", "mobilenetv3_large_w1"])
def test_the_units_run_in_a_row_are_the_network(name):
    record = bsnas.as_record(name)
    size = (3, 32, 32) if record.input_size[1] <= 32 else (3, 64, 64)
    units = arch_units(record.arch, size, record.num_classes)
    torch.manual_seed(0)
    net = BsnasNet(record.arch, record.num_classes, 3).eval()
    modules = [u.build().eval() for u in units]
    # give the units the network's weights, in the order the network holds them
    params = [p for m in modules for p in m.state_dict().values()]
    assert sum(p.numel() for p in params) == sum(v.numel() for v in net.state_dict().values())
    with torch.no_grad():
        for mine, (key, theirs) in zip(params, net.state_dict().items(), strict=True):
            assert mine.shape == theirs.shape, key
            mine.copy_(theirs)
    x = torch.randn(2, *size)
    with torch.no_grad():
        y = x
        for unit, module in zip(units, modules, strict=True):
            assert tuple(y.shape[1:]) == unit.shape
            y = module(y)
        assert torch.allclose(y, net(x), atol=1e-5)


def test_a_built_table_predicts_the_sum_of_units_and_fits_the_overhead():
    sp = load_space("tiny")
    table = tiny_table()
    n = table.build(sp, sp.input_size, sp.num_classes, rounds=1)
    keys = {u.key for g in space_units(sp, sp.input_size, sp.num_classes) for u in g}
    assert n == len(keys) == len(table.units) and table.build(sp, sp.input_size, sp.num_classes) == 0
    archs = random_archs(sp, 6, seed=1)
    sums = [sum(table.units[u.key] for u in arch_units(a, sp.input_size, sp.num_classes)) for a in archs]
    assert [table.predict(a, sp.input_size, sp.num_classes) for a in archs] == pytest.approx(sums)
    fit = table.calibrate(archs, sp.input_size, sp.num_classes, lambda a: 0.2 + 0.8 * table.units_sum(a, sp.input_size,
                                                                                                       sp.num_classes))
    assert (fit["intercept_ms"], fit["slope"], fit["r2"]) == pytest.approx((0.2, 0.8, 1.0))
    assert table.predict(archs[0], sp.input_size, sp.num_classes) == pytest.approx(0.2 + 0.8 * sums[0])
    bound = table.scale(sp, sp.input_size, sp.num_classes)
    assert all(table.predict(a, sp.input_size, sp.num_classes) <= bound + 1e-9 for a in random_archs(sp, 200, seed=2))


def test_a_table_without_the_unit_names_it_and_a_lazy_one_measures_and_saves_it(tmp_path):
    sp = load_space("tiny")
    arch = random_archs(sp, 1, seed=4)[0]
    with pytest.raises(BsnasError, match="has no entry for stem:.*build it for this space"):
        tiny_table().predict(arch, sp.input_size, sp.num_classes)
    lazy = tiny_table(lazy=True)
    lazy.path = tmp_path / "lazy.json"
    ms = lazy.predict(arch, sp.input_size, sp.num_classes)
    units = arch_units(arch, sp.input_size, sp.num_classes)
    assert ms > 0 and lazy.measured_now == len({u.key for u in units})
    again, _ = LatencyTable.load(lazy.path)
    assert again.predict(arch, sp.input_size, sp.num_classes) == pytest.approx(ms)


def test_table_files_round_trip_and_bad_ones_are_one_line_errors(tmp_path):
    sp = load_space("tiny")
    table = tiny_table()
    table.build(sp, sp.input_size, sp.num_classes, rounds=1)
    path = table.save(tmp_path / "t.json")
    loaded, warnings = LatencyTable.load(path, expect=table.fingerprint)
    assert loaded.units == table.units and loaded.fingerprint == table.fingerprint and warnings == []
    for text, why in (("{", "JSONDecodeError"), ("[]", "format"), (json.dumps({**table.to_dict(), "version": 9}),
                                                                      "version 9"),
                      (json.dumps({**table.to_dict(), "units": {"a": -1}}), "latencies >= 0"),
                      (json.dumps({**table.to_dict(), "fit": {"slope": 1}}), "intercept_ms")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(BsnasError, match=f"not a valid bsnas latency table.*{why}.*rebuild it") as err:
            LatencyTable.load(tmp_path / "bad.json")
        assert "\n" not in str(err.value)
    with pytest.raises(BsnasError, match="does not exist; build one"):
        LatencyTable.load(tmp_path / "missing.json")


def test_a_table_from_another_device_is_refused_naming_both_unless_allowed(tmp_path):
    table = tiny_table()
    table.fingerprint = {**table.fingerprint, "processor": "Some Other CPU", "threads": 4}
    path = table.save(tmp_path / "foreign.json")
    here = device_fingerprint("torch", 1, 1)
    with pytest.raises(BsnasError, match="another device.*Some Other CPU, 4 threads.*threads 4 vs 1.*"
                                         "--allow-foreign-table"):
        LatencyTable.load(path, expect=here)
    _, warnings = LatencyTable.load(path, expect=here, allow_foreign=True)
    assert len(warnings) == 1 and warnings[0].startswith("warning:")
    assert check_same(here, here, "x") == []


def test_measure_latency_reports_the_fingerprint():
    lat = measure_latency("cifar_resnet20_bsconvu", min_runs=3, min_time=0.0)
    fp = lat.fingerprint
    assert lat.timing.median_ms > 0 and lat.input_size == (3, 32, 32)
    assert fp["backend"] == "torch" and fp["threads"] == 1 and fp["batch"] == 1 and fp["torch"] == torch.__version__
    assert fp["processor"] and fp["logical_cores"] >= 1


def test_onnxruntime_backend_times_a_network_and_a_unit():
    pytest.importorskip("onnxruntime", reason="install bsnas[onnx] to test the onnxruntime backend")
    lat = measure_latency("cifar_resnet20_bsconvu", backend="onnxruntime", min_runs=3, min_time=0.0)
    assert lat.timing.median_ms > 0 and lat.fingerprint["onnxruntime"]
    sp = load_space("tiny")
    table = tiny_table(lazy=True, backend="onnxruntime")
    assert table.predict(random_archs(sp, 1)[0], sp.input_size, sp.num_classes) > 0


def test_the_latency_cli_prints_a_table_or_json_and_one_line_errors(capsys):
    assert main(["latency", "cifar_resnet20", "--min-time", "0", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fingerprint"]["backend"] == "torch" and out["rows"][0]["median_ms"] > 0
    assert out["rows"][0]["mflops"] == pytest.approx(bsnas.count("cifar_resnet20").flops / 1e6, abs=1e-3)
    assert main(["latency", "cifar_resnet20", "--backend", "tf"]) == 1
    assert capsys.readouterr().err.strip() == "bsnas: error: unknown latency backend 'tf'; choose one of torch, " \
                                              "onnxruntime"
    assert main(["latency", "cifar_resnet20", "--threads", "0"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_latency_table_build_and_check_from_the_cli(tmp_path, capsys):
    out = tmp_path / "tiny.json"
    assert main(["latency-table", "build", "--space", "tiny", "--rounds", "1", "--calibrate", "3", "--out", str(out),
                 "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["units"] == summary["measured"] > 100 and summary["fit"]["networks"] == 3
    assert main(["latency-table", "check", str(out), "--space", "tiny", "--random", "3", "--format", "json"]) == 0
    check = json.loads(capsys.readouterr().out)
    assert len(check["rows"]) == 3 and check["median_abs_error"] >= 0 and "spearman" in check
    (tmp_path / "bad.json").write_text("not json")
    assert main(["latency-table", "check", str(tmp_path / "bad.json"), "--space", "tiny", "--random", "2"]) == 1
    assert "not a valid bsnas latency table" in capsys.readouterr().err
    assert np.isfinite(summary["fit"]["slope"])
