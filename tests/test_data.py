from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from bsnas import BsnasError
from bsnas.data import augment_batch, load_data, read_dataset


def test_digits_is_the_real_scikit_learn_set():
    from sklearn.datasets import load_digits

    ref = load_digits()
    data = read_dataset("digits")
    assert data.x.shape == (1797, 1, 8, 8) and data.x.dtype == np.uint8
    assert np.array_equal(data.x[:, 0], ref.images.astype(np.uint8)) and np.array_equal(data.y, ref.target)


def test_split_is_stratified_seeded_and_disjoint():
    a = load_data("digits", val_size=0.2, seed=1)
    b = load_data("digits", val_size=0.2, seed=1)
    c = load_data("digits", val_size=0.2, seed=2)
    assert len(a.val_y) == 359 and len(a.train_y) == 1797 - 359
    assert torch.equal(a.val_x, b.val_x) and not torch.equal(a.val_x, c.val_x)
    counts = np.bincount(a.val_y.numpy(), minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # ~20% of each class
    assert a.test_x is None and a.test_index is None
    assert a.mean.shape == (1, 1, 1, 1) and a.hflip is False


def test_train_validation_and_held_out_test_indices_are_disjoint_and_cover_the_data():
    full = read_dataset("digits")
    a = load_data("digits", val_size=0.2, test_size=300, seed=1)
    b = load_data("digits", val_size=0.2, test_size=300, seed=2)
    parts = [a.train_index, a.val_index, a.test_index]
    assert sum(len(p) for p in parts) == 1797 == len(np.unique(np.concatenate(parts)))
    assert not set(a.train_index) & set(a.val_index) and not set(a.val_index) & set(a.test_index)
    assert not set(a.train_index) & set(a.test_index)
    assert (len(a.test_y), len(a.val_y), len(a.train_y)) == (300, round(0.2 * 1497), 1497 - round(0.2 * 1497))
    # the tensors hold the images at those positions, and the test split does not depend on the seed
    assert torch.equal(a.test_x, torch.from_numpy(full.x[a.test_index]))
    assert torch.equal(a.val_y, torch.from_numpy(full.y[a.val_index]))
    assert np.array_equal(a.test_index, b.test_index) and not np.array_equal(a.val_index, b.val_index)
    # the mean comes from the training images only
    assert a.mean.item() == pytest.approx(full.x[a.train_index].mean(), rel=1e-6)
    with pytest.raises(BsnasError, match="not both"):
        load_data("digits", test_size=10, test_spec="digits")


def test_digits_upscaled_resolution():
    data = load_data("digits", resolution=16)
    assert data.input_size == (1, 16, 16)


def _write_npz(path, x, y, **extra):
    np.savez(path, x=x, y=y, **extra)
    return f"npz:{path}"


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_npz_layouts(tmp_path, layout):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (40, 12, 12, 3), dtype=np.uint8)
    y = np.repeat(np.arange(4), 10)
    stored = x if layout == "nhwc" else x.transpose(0, 3, 1, 2)
    spec = _write_npz(tmp_path / "d.npz", stored, y, classes=np.array(["a", "b", "c", "d"]))
    data = load_data(spec, val_size=8, resolution=8)
    assert data.input_size == (3, 8, 8) and data.classes == ("a", "b", "c", "d")
    assert len(data.val_y) == 8 and data.train_x.dtype == torch.uint8
    full = read_dataset(spec)
    assert np.array_equal(full.x, x.transpose(0, 3, 1, 2))


def test_folder_dataset_with_png_and_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    for cls, suffix in (("cat", ".png"), ("dog", ".jpg")):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}{suffix}")
    data = load_data(f"folder:{tmp_path}", resolution=16, val_size=2)
    assert data.classes == ("cat", "dog") and data.input_size == (3, 16, 16)
    assert sorted(data.val_y.tolist()) == [0, 1]


def _cifar_python(folder, n_per_batch=6):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (n_per_batch, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n_per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def test_cifar10_python_and_test_split(tmp_path):
    _cifar_python(tmp_path / "cifar-10-batches-py")
    data = read_dataset(f"cifar10:{tmp_path}")
    assert data.x.shape == (30, 3, 32, 32) and len(data.classes) == 10
    test = read_dataset(f"cifar10-test:{tmp_path / 'cifar-10-batches-py'}")
    assert test.x.shape == (6, 3, 32, 32)


def test_cifar_binary_versions(tmp_path):
    rng = np.random.default_rng(0)
    c10 = tmp_path / "cifar-10-batches-bin"
    c10.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)]:
        rec = np.concatenate([rng.integers(0, 10, (4, 1)), rng.integers(0, 255, (4, 3072))], axis=1)
        rec.astype(np.uint8).tofile(c10 / name)
    data = read_dataset(f"cifar10:{c10}")
    assert data.x.shape == (20, 3, 32, 32) and data.y.max() < 10
    c100 = tmp_path / "cifar-100-binary"
    c100.mkdir()
    rec = np.concatenate([rng.integers(0, 20, (3, 1)), np.array([[5], [99], [0]]), rng.integers(0, 255, (3, 3072))],
                         axis=1)
    rec.astype(np.uint8).tofile(c100 / "train.bin")
    data = read_dataset(f"cifar100:{tmp_path}")
    assert data.y.tolist() == [5, 99, 0] and len(data.classes) == 100


def test_cifar_pickle_cannot_run_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar_python(folder)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(BsnasError, match="refusing to load builtins.print"):
        read_dataset(f"cifar10:{folder}")


def test_test_set_only_when_asked(tmp_path):
    x = np.zeros((10, 8, 8, 1), dtype=np.uint8)
    spec = _write_npz(tmp_path / "t.npz", x, np.arange(10))
    data = load_data("digits", test_spec=spec)
    assert data.test_x.shape == (10, 1, 8, 8)
    bad = _write_npz(tmp_path / "bad.npz", x, np.arange(10) + 5)
    with pytest.raises(BsnasError, match=r"labels take 10 values but range over \[0, 14\] \(missing \[0, 1, 2, 3, 4\]"):
        load_data("digits", test_spec=bad)
    more = _write_npz(tmp_path / "more.npz", x, np.arange(10) + 5, classes=np.array([str(i) for i in range(15)]))
    with pytest.raises(BsnasError, match="label 14, but the training data has only 10 classes"):
        load_data("digits", test_spec=more)


@pytest.mark.parametrize(
    "make,fragment",
    [
        (lambda p: "npz:" + str(p / "missing.npz"), "does not exist"),
        (lambda p: _keys(p), "needs arrays 'x'"),
        (lambda p: _write_npz(p / "s.npz", np.zeros((4, 8, 8, 5), np.uint8), np.zeros(4, int)), "channel axis"),
        (lambda p: _write_npz(p / "n.npz", np.zeros((4, 8, 8, 3), np.uint8), np.zeros(3, int)),
         "4 images but 'y' has 3"),
        (lambda p: _write_npz(p / "f.npz", np.zeros((4, 8, 8, 3)), np.zeros(4, int)), "must be uint8"),
        (lambda p: _write_npz(p / "l.npz", np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 2, 7]),
                              classes=np.array(["a", "b", "c"])), r"labels must lie in \[0, 2\]"),
        (lambda p: _write_npz(p / "m.npz", np.zeros((4, 8, 8, 3), np.uint8), np.array([0, -1, 1, 1])),
         "labels must lie in"),
        (lambda p: _empty_class(p), "has no images"),
        (lambda p: _unreadable(p), "cannot read image"),
        (lambda p: "cifar10:" + str(p), "no cifar10 files"),
        (lambda p: "imagenet:" + str(p), "unknown dataset kind 'imagenet'"),
        (lambda p: "digits:/x", "takes no path"),
    ],
)
def test_bad_input_errors(tmp_path, make, fragment):
    with pytest.raises(BsnasError, match=fragment):
        load_data(make(tmp_path))


def _keys(p):
    np.savez(p / "k.npz", images=np.zeros((4, 8, 8, 3), np.uint8), labels=np.zeros(4))
    return f"npz:{p / 'k.npz'}"


def _empty_class(p):
    (p / "a").mkdir()
    Image.new("RGB", (4, 4)).save(p / "a" / "0.png")
    (p / "b").mkdir()
    return f"folder:{p}"


def _unreadable(p):
    (p / "a").mkdir()
    (p / "a" / "0.png").write_bytes(b"not an image")
    return f"folder:{p}"


def test_augmentation_shapes_and_semantics():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    assert augment_batch(x, 2, True, gen).shape == x.shape
    assert torch.equal(augment_batch(x, 0, False, gen), x)
    flipped = [augment_batch(x, 0, True, torch.Generator().manual_seed(s)) for s in range(8)]
    assert any(torch.equal(f[0], x[0].flip(2)) for f in flipped)
    crop = augment_batch(x, 1, False, torch.Generator().manual_seed(3))
    # every crop is a shifted window of the zero-padded image
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        assert any(torch.equal(crop[i], padded[i, :, dy:dy + 6, dx:dx + 6]) for dy in range(3) for dx in range(3))
    a = augment_batch(x, 2, True, torch.Generator().manual_seed(5))
    b = augment_batch(x, 2, True, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_training_subset_is_stratified_seeded_and_drawn_once(monkeypatch):
    import bsnas.data.split as split

    data = load_data("digits")
    expected = split.stratified_subset(data.train_y.numpy(), 300, 4)
    calls = []
    real = split.stratified_subset
    monkeypatch.setattr(split, "stratified_subset", lambda *a: calls.append(a) or real(*a))
    first = data.train_subset(300, 4)
    assert np.array_equal(first.numpy(), expected) and len(calls) == 1
    assert data.train_subset(300, 4) is first and len(calls) == 1  # kept, not drawn again
    assert not torch.equal(data.train_subset(300, 5), first) and len(calls) == 2
    assert np.bincount(data.train_y[first].numpy(), minlength=10).min() >= 29  # ~1/6 of every class
    assert data.with_val_subset(100).train_subset(300, 4) is not first  # a new view keeps its own draws
