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
