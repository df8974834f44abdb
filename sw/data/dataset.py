"""The common shape of a classification data set, and the error every loader raises.

Loaders return a `Dataset`: float features (one row per sample; images flattened,
with `image_shape` to restore them), integer labels, a seeded stratified
train/test split that `resplit` can redo. A missing or malformed file raises
`DataFormatError` naming the file and what was wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split


class DataFormatError(ValueError):
    """A data file that is missing or not what its name says."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # (n_train, features) float64 in [0, 1]
    y_train: np.ndarray  # (n_train,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...]
    classes: int = 10
    # Every image in its original order, for `resplit` (train then test for MNIST).
    pool: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def features(self) -> int:
        return self.x_train.shape[1]

    def resplit(self, seed: int) -> Dataset:
        """All images split again (stratified, same test size) under ``seed``.

        For the 8x8 digits ``resplit(DIGITS_SPLIT_SEED)`` is the fixed split.
        """
        if self.pool is None:
            x = np.concatenate([self.x_train, self.x_test])
            y = np.concatenate([self.y_train, self.y_test])
        else:
            x, y = self.pool
        return split_dataset(self.name, x, y, len(self.y_test), seed, self.image_shape)


def split_dataset(name, x, y, test_size: int, seed: int, image_shape) -> Dataset:
    """A stratified train/test split of ``test_size`` images under ``seed``."""
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    return Dataset(name, x_train, y_train, x_test, y_test, image_shape, pool=(x, y))
