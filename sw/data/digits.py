"""scikit-learn's bundled 8x8 handwritten digits (1797 images, no download)."""

from __future__ import annotations

import numpy as np

from .dataset import Dataset, split_dataset

DIGITS_TEST_IMAGES = 360  # 20% of the 1797 images
DIGITS_SPLIT_SEED = 0  # the fixed split of `qmatmul run digits`


def load_digits_dataset(seed: int = DIGITS_SPLIT_SEED) -> Dataset:
    """scikit-learn's bundled 8x8 digits (pixels 0..16 scaled to [0, 1]), split under ``seed``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    return split_dataset("digits", x, y, DIGITS_TEST_IMAGES, seed, (8, 8))
