"""Offline data: generators, data shipped in wheels, and loaders of files the user gives.

Nothing here downloads. Each source has its own module (`digits`: scikit-learn's
8x8 digits; `mnist`: IDX files by path; more beside them), each returning a
`Dataset` or arrays and raising `DataFormatError` for a missing or malformed file.
"""

from __future__ import annotations

from .dataset import DataFormatError, Dataset, split_dataset
from .digits import DIGITS_SPLIT_SEED, load_digits_dataset


def load_dataset(name: str, path=None, *, seed: int = DIGITS_SPLIT_SEED) -> Dataset:
    """``digits`` (bundled) or ``mnist`` (IDX files in ``path``)."""
    if name == "digits":
        return load_digits_dataset(seed)
    if name == "mnist":
        if path is None:
            raise ValueError("--data mnist needs --path DIR with the four MNIST IDX files")
        from .mnist import load_mnist

        return load_mnist(path)
    raise ValueError(f"unknown data set {name!r}; use 'digits' or 'mnist'")


__all__ = [
    "DIGITS_SPLIT_SEED",
    "DataFormatError",
    "Dataset",
    "load_dataset",
    "load_digits_dataset",
    "split_dataset",
]
