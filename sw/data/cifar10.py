"""CIFAR-10 from its python pickle batches in a directory the user gives (nothing is downloaded).

The "CIFAR-10 python version" archive unpacks to ``cifar-10-batches-py/`` holding
``data_batch_1`` .. ``data_batch_5`` (10,000 training images each) and ``test_batch``
(10,000 test images). Each file is a pickled dict with (at least)

- ``b"data"``: a ``(N, 3072)`` uint8 array, one image per row: the 1024 red pixels,
  then green, then blue, each plane row-major over 32x32;
- ``b"labels"``: N integers in 0..9.

`load_cifar10` returns a `Dataset` with pixels scaled to [0, 1] and ``image_shape``
``(3, 32, 32)`` (channels first, as torch's convolutions want them).

The pickles are read with an unpickler that only rebuilds plain containers and numpy
arrays: a file that asks for anything else is refused as malformed rather than run.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .dataset import DataFormatError, Dataset

CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_SUBDIRECTORY = "cifar-10-batches-py"  # what the official archive unpacks to
CIFAR10_IMAGE_SHAPE = (3, 32, 32)
CIFAR10_PIXELS = 3 * 32 * 32
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# What a CIFAR pickle may reference: numpy's array reconstruction (its module moved to
# numpy._core in numpy 2) and the calls python 3 writes bytes with at protocol 2.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("__builtin__", "bytes"),
    ("builtins", "bytes"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file: ``(images (N, 3, 32, 32) uint8, labels (N,) int64)``."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"CIFAR-10 batch file {path} does not exist")
    try:
        with path.open("rb") as file:
            batch = _ArraysOnlyUnpickler(file, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DataFormatError(f"{path} is not a CIFAR-10 python pickle: {error}") from error
    except OSError as error:
        raise DataFormatError(f"cannot read CIFAR-10 batch file {path}: {error}") from error
    if not isinstance(batch, dict):
        raise DataFormatError(f"{path} holds a {type(batch).__name__}, expected a dict")
    for key in (b"data", b"labels"):
        if key not in batch:
            raise DataFormatError(f"{path} has no {key!r} entry (keys: {sorted(batch)})")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = data.dtype if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFormatError(f"{path}: b'data' must be a uint8 numpy array, got {kind}")
    if data.ndim != 2 or data.shape[1] != CIFAR10_PIXELS:
        raise DataFormatError(
            f"{path}: b'data' must have shape (N, {CIFAR10_PIXELS}), got {data.shape}"
        )
    try:
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise DataFormatError(f"{path}: b'labels' is not a list of integers: {error}") from error
    if labels.shape != (data.shape[0],):
        raise DataFormatError(
            f"{path}: {labels.shape} labels for {data.shape[0]} images (expected one per image)"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise DataFormatError(
            f"{path}: labels must lie in 0..{len(CIFAR10_CLASSES) - 1}, "
            f"got {labels.min()}..{labels.max()}"
        )
    return data.reshape(-1, *CIFAR10_IMAGE_SHAPE), labels


def _batch_directory(path: Path) -> Path:
    """``path`` itself, or its ``cifar-10-batches-py`` subdirectory when the files are there."""
    if not path.is_dir():
        raise DataFormatError(f"CIFAR-10 directory {path} does not exist (--path)")
    nested = path / CIFAR10_SUBDIRECTORY
    if not (path / CIFAR10_TEST_FILE).exists() and nested.is_dir():
        return nested
    return path


def load_cifar10(path) -> Dataset:
    """CIFAR-10 from the six python pickle batches in directory ``path`` (pixels / 255).

    ``x_train``/``x_test`` are float64 rows of 3072 values (channels first: reshape to
    ``image_shape`` = (3, 32, 32)); the split is the official one (50,000 / 10,000).
    """
    directory = _batch_directory(Path(path))
    parts = [read_cifar_batch(directory / name) for name in CIFAR10_TRAIN_FILES]
    test_images, test_labels = read_cifar_batch(directory / CIFAR10_TEST_FILE)
    train_images = np.concatenate([images for images, _ in parts])
    train_labels = np.concatenate([labels for _, labels in parts])
    return Dataset(
        "cifar10",
        train_images.reshape(len(train_images), -1).astype(np.float64) / 255.0,
        train_labels,
        test_images.reshape(len(test_images), -1).astype(np.float64) / 255.0,
        test_labels,
        CIFAR10_IMAGE_SHAPE,
        classes=len(CIFAR10_CLASSES),
    )


def write_cifar_batch(path, images: np.ndarray, labels, *, batch_label: str = "") -> Path:
    """Write a batch file in the official format (for tests and small hand-made sets).

    ``images``: uint8 ``(N, 3, 32, 32)`` or ``(N, 3072)``; ``labels``: N integers 0..9.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    data = images.reshape(len(images), -1)
    if data.shape[1] != CIFAR10_PIXELS:
        raise ValueError(f"images must hold {CIFAR10_PIXELS} values each, got {data.shape[1]}")
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(label) for label in labels],
        b"data": data,
        b"filenames": [f"image_{i}.png".encode() for i in range(len(data))],
    }
    path = Path(path)
    with path.open("wb") as file:
        pickle.dump(batch, file, protocol=2)
    return path
