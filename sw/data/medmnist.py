"""MedMNIST from its ``.npz`` file, by path (nothing is downloaded).

MedMNIST (Yang et al., 2021-2023) ships each data set as one ``.npz`` archive, e.g.
``dermamnist.npz`` (dermoscopy, 7 classes, the domain of PRR-FL) with the keys
``train_images``, ``train_labels``, ``val_images``, ``val_labels``, ``test_images``,
``test_labels``. Images are uint8, ``(N, H, W)`` for grayscale sets and
``(N, H, W, 3)`` for colour sets (any size: 28, 64, 128 or 224); labels are
``(N, 1)`` (or ``(N,)``) class indices.

`load_medmnist_splits` returns the three official splits; `load_medmnist` a `Dataset`
(official train and test, every image in ``pool`` for `Dataset.resplit`). Pixels are
scaled to [0, 1] and flattened channels first: ``image_shape`` is ``(H, W)`` for
grayscale and ``(3, H, W)`` for colour, the convention of the CIFAR-10 loader.
Multi-label sets (ChestMNIST: ``(N, 14)`` label vectors) and 3-D volumes are refused
with an error that says so. A missing or malformed file raises `DataFormatError`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import DataFormatError, Dataset

MEDMNIST_SPLITS = ("train", "val", "test")
PIXEL_MAX = 255.0


@dataclass(frozen=True)
class MedMNISTSplits:
    """The official splits of one MedMNIST file: ``splits[name] = (x, y)``."""

    name: str
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # x: (n, features) float64 in [0, 1]
    image_shape: tuple[int, ...]  # (H, W) or (3, H, W)
    classes: int


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataFormatError(f"MedMNIST file {path} does not exist (--path)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            wanted = [
                f"{split}_{kind}" for split in MEDMNIST_SPLITS for kind in ("images", "labels")
            ]
            missing = [key for key in wanted if key not in keys]
            if missing:
                raise DataFormatError(
                    f"MedMNIST file {path} lacks {', '.join(missing)} "
                    f"(found: {', '.join(sorted(keys)) or 'nothing'})"
                )
            return {key: archive[key] for key in wanted}
    except DataFormatError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataFormatError(f"cannot read MedMNIST file {path} as .npz: {error}") from error


def _images(path: Path, split: str, images: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Images of one split as float rows in [0, 1] and their (channel-first) shape."""
    if images.dtype != np.uint8:
        raise DataFormatError(
            f"{path}: {split}_images has dtype {images.dtype}; MedMNIST images are uint8"
        )
    if images.ndim == 3:
        shape = (int(images.shape[1]), int(images.shape[2]))
        flat = images.reshape(len(images), int(np.prod(images.shape[1:])))
    elif images.ndim == 4 and images.shape[-1] == 3:
        shape = (3, int(images.shape[1]), int(images.shape[2]))
        flat = np.moveaxis(images, -1, 1).reshape(len(images), int(np.prod(images.shape[1:])))
    else:
        raise DataFormatError(
            f"{path}: {split}_images has shape {images.shape}; expected (N, H, W) grayscale "
            "or (N, H, W, 3) colour images (3-D MedMNIST volumes are not supported)"
        )
    return flat.astype(np.float64) / PIXEL_MAX, shape


def _labels(path: Path, split: str, labels: np.ndarray, count: int) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataFormatError(
            f"{path}: {split}_labels has shape {labels.shape}; only single-label sets "
            "((N,) or (N, 1) class indices) are supported, not multi-label ones"
        )
    if len(labels) != count:
        raise DataFormatError(f"{path}: {split} has {count} images but {len(labels)} labels")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(f"{path}: {split}_labels has dtype {labels.dtype}, not integers")
    if count and labels.min() < 0:
        raise DataFormatError(f"{path}: {split}_labels holds a negative class {labels.min()}")
    return labels.astype(np.int64)


def load_medmnist_splits(path) -> MedMNISTSplits:
    """The train/val/test splits of a MedMNIST ``.npz`` file (see the module docstring)."""
    path = Path(path)
    arrays = _read_archive(path)
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    shape = None
    for split in MEDMNIST_SPLITS:
        x, split_shape = _images(path, split, arrays[f"{split}_images"])
        if shape is not None and split_shape != shape:
            raise DataFormatError(
                f"{path}: {split} images are {split_shape} but train images are {shape}"
            )
        shape = split_shape
        y = _labels(path, split, arrays[f"{split}_labels"], len(x))
        splits[split] = (x, y)
    for split in ("train", "test"):
        if len(splits[split][1]) == 0:
            raise DataFormatError(f"{path}: the {split} split is empty")
    classes = int(max(int(y.max()) for _, y in splits.values() if len(y)) + 1)
    if classes < 2:
        raise DataFormatError(f"{path}: every label is 0; a classification set needs 2+ classes")
    return MedMNISTSplits(path.stem, splits, shape, classes)


def load_medmnist(path) -> Dataset:
    """A MedMNIST ``.npz`` file as a `Dataset`: the official train and test splits, with
    every image (train, val, test) in ``pool`` so that `Dataset.resplit` can redo it."""
    data = load_medmnist_splits(path)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        data.splits[split] for split in MEDMNIST_SPLITS
    )
    pool = (np.concatenate([x_train, x_val, x_test]), np.concatenate([y_train, y_val, y_test]))
    return Dataset(
        data.name, x_train, y_train, x_test, y_test, data.image_shape, data.classes, pool=pool
    )


def write_medmnist(path, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """Write ``{split: (uint8 images, labels)}`` as a MedMNIST-style ``.npz`` (for tests and
    small fixtures). Images as MedMNIST stores them: (N, H, W) or (N, H, W, 3)."""
    path = Path(path)
    content = {}
    for split, (images, labels) in splits.items():
        content[f"{split}_images"] = np.asarray(images)
        content[f"{split}_labels"] = np.asarray(labels)
    with path.open("wb") as file:  # a file object: numpy adds no ".npz" suffix
        np.savez_compressed(file, **content)
    return path
