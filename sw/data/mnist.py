"""MNIST from its four IDX files in a directory the user gives (nothing is downloaded)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .dataset import DataFormatError, Dataset

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes as a numpy array.

    Format: two zero bytes, the type code (0x08 = unsigned byte), the number of
    dimensions, each dimension as a big-endian uint32, then the data.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as error:
        raise DataFormatError(f"cannot read IDX file {path}: {error}") from error
    if len(raw) < 4:
        raise DataFormatError(f"{path} is {len(raw)} bytes long, too short for an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or ndim == 0:
        raise DataFormatError(
            f"{path} is not an IDX file: magic {raw[:4].hex()} (expected 0000 08 <ndim>)"
        )
    if dtype != IDX_UBYTE:
        raise DataFormatError(
            f"{path} holds IDX type 0x{dtype:02x}; only unsigned bytes (0x08) are supported"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(f"{path} ends inside its IDX header ({ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataFormatError(
            f"{path} has {len(raw) - header} data bytes but its header {tuple(shape)} "
            f"needs {expected}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path:
    # Also the names some mirrors use (t10k-images.idx3-ubyte) and gzipped files.
    candidates = [stem, stem.replace("-idx", ".idx")]
    for name in candidates:
        for suffix in ("", ".gz"):
            path = directory / (name + suffix)
            if path.is_file():
                return path
    tried = ", ".join(f"{name}[.gz]" for name in candidates)
    raise DataFormatError(f"MNIST file missing in {directory}: expected one of {tried}")


def load_mnist(path) -> Dataset:
    """MNIST from the four standard IDX files in directory ``path`` (pixels / 255)."""
    directory = Path(path)
    if not directory.is_dir():
        raise DataFormatError(f"MNIST directory {directory} does not exist (--path)")
    arrays = {key: read_idx(_find_idx(directory, stem)) for key, stem in MNIST_FILES.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3:
            raise DataFormatError(
                f"MNIST {part} images must be 3-D (count, rows, cols), got shape {images.shape}"
            )
        if labels.ndim != 1:
            raise DataFormatError(f"MNIST {part} labels must be 1-D, got shape {labels.shape}")
        if len(images) != len(labels):
            raise DataFormatError(
                f"MNIST {part} set has {len(images)} images but {len(labels)} labels"
            )
        if len(labels) == 0:
            raise DataFormatError(f"MNIST {part} set is empty")
        if labels.max() > 9:
            raise DataFormatError(f"MNIST {part} labels must be 0..9, found {labels.max()}")
    shape = arrays["train_images"].shape[1:]
    if arrays["test_images"].shape[1:] != shape:
        raise DataFormatError(
            f"MNIST train images are {shape} but test images are {arrays['test_images'].shape[1:]}"
        )

    def features(images):
        return images.reshape(len(images), -1).astype(np.float64) / 255.0

    x_train, x_test = features(arrays["train_images"]), features(arrays["test_images"])
    y_train = arrays["train_labels"].astype(np.int64)
    y_test = arrays["test_labels"].astype(np.int64)
    return Dataset(
        "mnist",
        x_train,
        y_train,
        x_test,
        y_test,
        (int(shape[0]), int(shape[1])),
        pool=(np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])),
    )


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write unsigned bytes as an IDX file (for tests and small fixtures)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"IDX files here hold unsigned bytes; got dtype {array.dtype}")
    header = struct.pack(">HBB", 0, IDX_UBYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    Path(path).write_bytes(header + array.tobytes())
