from __future__ import annotations

import json

import pytest
import torch

import bsnas
from bsnas import ArchRecord, RecordError, load_record


def test_json_round_trip(tmp_path):
    record = bsnas.baseline("cifar_mobilenetv3_small_w7d20_bsconvs_p1d6", num_classes=100)
    record = ArchRecord(record.arch, (3, 48, 48), 100, record.name, {"note": "kept"})
    path = record.save(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["arch"] == record.arch_string and data["input_size"] == [3, 48, 48]
    assert (data["flops"], data["params"]) == tuple(record.count())
    loaded = load_record(path)
    assert loaded == record and loaded.extra == {"note": "kept"}
    model = bsnas.build_model(loaded)
    assert model(torch.zeros(2, 3, 48, 48)).shape == (2, 100)


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda d: d.pop("arch"), "missing key 'arch'"),
        (lambda d: d.update(format="other"), "expected format 'bsnas.arch'"),
        (lambda d: d.update(input_size=[3, 32]), "input_size must be"),
        (lambda d: d.update(num_classes=0), "num_classes must be a positive integer"),
        (lambda d: d.update(params=d["params"] + 1), "stored params 272481 but the architecture has 272480"),
        (lambda d: d.update(flops=str(d["flops"])), "flops must be a positive integer, but got .41224832. \\(str\\)"),
        (lambda d: d.update(num_classes=True), "num_classes must be a positive integer, but got True"),
        (lambda d: d.update(arch=d["arch"] + "_zz"), "unknown token"),
    ],
)
def test_corrupt_records_are_refused(tmp_path, mutate, fragment):
    data = bsnas.baseline("cifar_resnet20").to_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=fragment):
        load_record(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(RecordError, match="no record file"):
        load_record(tmp_path / "missing.json")
    path = tmp_path / "garbage.json"
    path.write_text("{not json")
    with pytest.raises(RecordError, match="not valid JSON"):
        load_record(path)
    path.write_text("[1, 2]")
    with pytest.raises(RecordError, match="must be a JSON object"):
        load_record(path)


def test_one_coercion_reads_every_form(tmp_path):
    record = bsnas.baseline("cifar_resnet20_bsconvu", num_classes=100)
    path = record.save(tmp_path / "r.json")
    (tmp_path / "run").mkdir()
    record.save(tmp_path / "run" / "record.json")
    forms = [record, record.arch, record.arch_string, "cifar_resnet20_bsconvu", str(path), path, tmp_path / "run"]
    assert {bsnas.as_record(f).arch_string for f in forms} == {record.arch_string}
    assert bsnas.as_record(path).num_classes == 100 and bsnas.as_record(record.arch).num_classes == 10
    model = bsnas.build_model(record)  # the record's class count and input channels
    assert model.classifier.out_features == 100 and model(torch.zeros(1, 3, 32, 32)).shape == (1, 100)
    assert bsnas.build_model(record, num_classes=7).classifier.out_features == 7
    assert bsnas.count(record) == bsnas.count(record.arch, num_classes=100) != bsnas.count(record.arch)
    assert bsnas.as_record(path, in_channels=1).input_size == (1, 32, 32)
    with pytest.raises(bsnas.BsnasError, match="cannot read architecture 'nonsense'"):
        bsnas.as_record("nonsense")
    with pytest.raises(bsnas.BsnasError, match="unknown baseline 'cifar_resnet21'"):
        bsnas.as_record("cifar_resnet21")
    with pytest.raises(bsnas.BsnasError, match="but got int"):
        bsnas.build_model(42)
