"""Readers that turn a dataset spec into uint8 NCHW images and int64 labels.

Specs:

* ``digits``: scikit-learn's handwritten digits (1,797 8×8 images, 10
  classes), shipped inside the bsnas wheel;
* ``npz:PATH``: arrays ``x`` (uint8, NHWC or NCHW, 1 or 3 channels) and
  ``y`` (integer labels), optionally ``classes``; read without pickle;
* ``folder:PATH``: one subfolder per class holding JPEG/PNG files;
* ``cifar10:PATH``, ``cifar100:PATH`` (training split) and
  ``cifar10-test:PATH``, ``cifar100-test:PATH``: the python or binary
  CIFAR distributions, the extracted folder or one above it. Python
  batches go through a restricted unpickler that builds only plain
  containers and numpy arrays, never arbitrary objects.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bsnas.errors import BsnasError
from bsnas.files import free_memory

__all__ = ["ImageSet", "SPEC_KINDS", "read_dataset"]

SPEC_KINDS = ("digits", "npz", "folder", "cifar10", "cifar100", "cifar10-test", "cifar100-test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class ImageSet(NamedTuple):
    x: np.ndarray  # uint8, (N, C, H, W)
    y: np.ndarray  # int64, (N,)
    classes: tuple[str, ...]
    hflip: bool  # whether horizontal flips keep the label (False for digits)
    named: bool = False  # whether the class names come from the data (folders, a 'classes' array)
    pixel_max: int = 255  # the largest pixel value of the format (16 for scikit-learn's digits)


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(8)


def _existing(path: str, spec: str) -> Path:
    p = Path(path).expanduser()
    if not path or not p.exists():
        raise BsnasError(f"data path {path!r} (from --data {spec!r}) does not exist; check the path")
    return p


def _check_labels(y: np.ndarray, num_classes: int, source: str) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise BsnasError(f"{source}: labels must be a 1-D integer array, but got dtype {y.dtype} shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise BsnasError(f"{source}: labels must lie in [0, {num_classes - 1}], but range over "
                         f"[{y.min()}, {y.max()}]; renumber the classes from 0")
    return y.astype(np.int64)


def _to_nchw(x: np.ndarray, source: str) -> np.ndarray:
    if x.dtype != np.uint8:
        raise BsnasError(f"{source}: images 'x' must be uint8 (0-255), but got {x.dtype}; "
                         "convert with x.astype('uint8')")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise BsnasError(f"{source}: images 'x' must have shape (N, H, W, C) or (N, C, H, W), but got {x.shape}")
    if x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        return np.ascontiguousarray(x)
    if x.shape[-1] in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    raise BsnasError(f"{source}: cannot find a channel axis of size 1 or 3 in shape {x.shape}")


def _read_digits() -> ImageSet:
    with resources.files("bsnas").joinpath("assets/digits.npz").open("rb") as f:
        data = np.load(io.BytesIO(f.read()), allow_pickle=False)
        x = data["x"][:, None]  # values 0-16, as scikit-learn ships them
    return ImageSet(x, data["y"].astype(np.int64), tuple(str(i) for i in range(10)), hflip=False, pixel_max=16)


def _read_npz(path: Path) -> ImageSet:
    if path.is_dir() or not zipfile.is_zipfile(path):
        what = "a folder" if path.is_dir() else f"not a zip archive (its first bytes are {_head(path)!r})"
        raise BsnasError(f"{path} is not an npz archive: it is {what}; write one with "
                         "numpy.savez(path, x=images, y=labels)")
    try:
        data = np.load(path, allow_pickle=False)
        keys = set(data.files)
    except Exception as err:  # numpy and zipfile raise several types for a damaged archive
        raise BsnasError(f"{path} is a damaged npz archive ({type(err).__name__}: {err}); write it again with "
                         "numpy.savez(path, x=images, y=labels)") from None
    if not {"x", "y"} <= keys:
        raise BsnasError(f"{path}: an npz dataset needs arrays 'x' (uint8 images) and 'y' (labels), "
                         f"but has {sorted(keys)}")
    try:
        x, y = data["x"], data["y"]
        classes = tuple(str(c) for c in data["classes"]) if "classes" in keys else None
    except ValueError:
        raise BsnasError(f"{path}: 'x', 'y' and 'classes' must be plain numeric or string arrays, but one holds "
                         "Python objects, which bsnas never unpickles; save them as numpy arrays of numbers "
                         "or strings") from None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise BsnasError(f"{path} is a damaged npz archive ({type(err).__name__}: {err}); write it again with "
                         "numpy.savez(path, x=images, y=labels)") from None
    x = _to_nchw(x, str(path))
    if len(y) != len(x):
        raise BsnasError(f"{path}: 'x' has {len(x)} images but 'y' has {len(y)} labels; they must match")
    named = classes is not None
    if classes is None:
        y = _check_labels(y, np.iinfo(np.int64).max, str(path))
        present = np.unique(y)
        if len(present) and len(present) != int(present[-1]) + 1:
            missing = sorted(set(range(int(present[-1]) + 1)) - set(present.tolist()))
            raise BsnasError(f"{path}: labels take {len(present)} values but range over [0, {present[-1]}] "
                             f"(missing {missing[:5]}{' ...' if len(missing) > 5 else ''}); number the classes "
                             "0..K-1 without gaps, or add a 'classes' array naming all of them")
        classes = tuple(str(i) for i in range(len(present)))
    return ImageSet(x, _check_labels(y, len(classes), str(path)), classes, hflip=True, named=named)


def _load_image(file: Path, size: int) -> np.ndarray:
    """An image as uint8 RGB, its shorter side resized to ``size`` (bilinear), then centre-cropped square."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img = img.convert("RGB")
            scale = size / min(img.size)
            w, h = max(size, round(img.size[0] * scale)), max(size, round(img.size[1] * scale))
            img = img.resize((w, h), Image.BILINEAR)
            left, top = (w - size) // 2, (h - size) // 2
            return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise BsnasError(f"cannot read image {str(file)!r} ({err}); remove or replace the file") from None


def _read_folder(root: Path, resolution: int | None) -> ImageSet:
    """Every image of every class subfolder, read once into uint8 memory at ``resolution`` (default 32)."""
    if not root.is_dir():
        raise BsnasError(f"folder dataset {str(root)!r} is not a directory of class subfolders")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise BsnasError(f"{root}: no class subfolders; put each class's images in its own subfolder")
    size = resolution or 32
    files = []
    for label, class_dir in enumerate(class_dirs):
        found = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise BsnasError(f"class folder {str(class_dir)!r} has no images ({', '.join(IMAGE_SUFFIXES)}); "
                             "add images or remove the folder")
        files += [(file, label) for file in found]
    need, free = len(files) * 3 * size * size, free_memory()
    if free is not None and need > 0.8 * free:  # the images, before a copy or two while splitting them
        raise BsnasError(f"{root}: {len(files):,} images at {size}x{size} need {need:,} bytes ({need / 1e9:.1f} GB) "
                         f"of memory, but only {free / 1e9:.1f} GB are free; read them at a smaller --input-size "
                         "or use fewer images")
    x = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, (file, _) in enumerate(files):
        x[i] = _load_image(file, size)
    return ImageSet(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), np.array([lab for _, lab in files], dtype=np.int64),
                    tuple(p.name for p in class_dirs), hflip=True, named=True)


class _PlainUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings, bytes and numpy arrays; refuses every other global."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch file")


def _load_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _PlainUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise BsnasError(f"{path}: not a CIFAR python batch ({err})") from None
    if not isinstance(batch, dict):
        raise BsnasError(f"{path}: not a CIFAR python batch: it holds a {type(batch).__name__}, but a batch is a "
                         "dict with 'data' and 'labels'; point at the extracted CIFAR folder")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    label_key = "labels" if "labels" in batch else "fine_labels"
    if "data" not in batch or label_key not in batch:
        raise BsnasError(f"{path}: a CIFAR python batch needs 'data' and 'labels' (or 'fine_labels'), but has "
                         f"{sorted(map(str, batch))}")
    try:
        x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(batch[label_key], dtype=np.int64)
    except (ValueError, TypeError) as err:
        raise BsnasError(f"{path}: 'data' must be rows of 3072 bytes (32x32 RGB) and labels integers: {err}") from None
    if len(x) != len(y):
        raise BsnasError(f"{path}: {len(x)} images but {len(y)} labels; the batch is damaged")
    return x, y


def _load_binary_batch(path: Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    record = label_bytes + 3072
    if raw.size % record:
        raise BsnasError(f"{path}: size {raw.size} is not a multiple of the {record}-byte CIFAR record")
    raw = raw.reshape(-1, record)
    return raw[:, label_bytes:].reshape(-1, 3, 32, 32), raw[:, label_bytes - 1].astype(np.int64)


def _read_cifar(root: Path, kind: str) -> ImageSet:
    hundred, test = kind.startswith("cifar100"), kind.endswith("-test")
    py_names = (["test"] if test else ["train"]) if hundred else (
        ["test_batch"] if test else [f"data_batch_{i}" for i in range(1, 6)])
    bin_names = (["test.bin"] if test else ["train.bin"]) if hundred else (
        ["test_batch.bin"] if test else [f"data_batch_{i}.bin" for i in range(1, 6)])
    for folder in (root, *sorted(p for p in root.glob("cifar-*") if p.is_dir())):
        if all((folder / n).is_file() for n in py_names):
            parts = [_load_python_batch(folder / n) for n in py_names]
            break
        if all((folder / n).is_file() for n in bin_names):
            parts = [_load_binary_batch(folder / n, 2 if hundred else 1) for n in bin_names]
            break
    else:
        raise BsnasError(f"{root}: no {kind.removesuffix('-test')} files ({', '.join(py_names)} or "
                         f"{', '.join(bin_names)}); point at the extracted CIFAR folder")
    x = np.concatenate([p[0] for p in parts])
    y = _check_labels(np.concatenate([p[1] for p in parts]), 100 if hundred else 10, str(root))
    return ImageSet(x, y, tuple(str(i) for i in range(100 if hundred else 10)), hflip=True)


def read_dataset(spec: str, resolution: int | None = None) -> ImageSet:
    """Read the whole dataset named by ``spec`` (see the module docstring); image folders at ``resolution``
    (default 32), the array formats at their own size."""
    if not isinstance(spec, str) or not spec:
        raise BsnasError(f"a dataset spec must be a non-empty string such as 'digits', but got {spec!r}")
    kind, _, path = spec.partition(":")
    if kind not in SPEC_KINDS:
        raise BsnasError(f"unknown dataset kind {kind!r} in {spec!r}; use one of digits, npz:PATH, "
                         "folder:PATH, cifar10:PATH, cifar100:PATH, cifar10-test:PATH, cifar100-test:PATH")
    if kind == "digits":
        if path:
            raise BsnasError(f"'digits' takes no path, but got {spec!r}")
        return _read_digits()
    root = _existing(path, spec)
    if kind == "npz":
        return _read_npz(root)
    if kind == "folder":
        return _read_folder(root, resolution)
    return _read_cifar(root, kind)
