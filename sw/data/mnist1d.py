"""mnist1d (Greydanus, 2020): ten classes of 1-D signals of 40 samples, made by its generator.

Each signal is one of ten hand-drawn 12-point templates, padded, translated, scaled,
sheared and given correlated and white noise, then resampled to 40 points;
`mnist1d.data.make_dataset` with its default arguments (5000 signals, seed 42, the
first 80% for training) gives the published data set. The package's ``get_dataset``
downloads a pickle instead: it is never called here, so nothing touches the network.

The generator standardizes the whole set (mean 0, std 1), so unlike the image loaders'
features these are not in [0, 1]. It seeds numpy's global generator; the global state
is restored afterwards, so loading mnist1d does not change anyone else's random numbers.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .dataset import DataFormatError, Dataset, split_dataset

MNIST1D_LENGTH = 40  # samples per signal (the generator's final_seq_length)
MNIST1D_CLASSES = 10
MNIST1D_SAMPLES = 5000  # train + test, the generator's num_samples


@lru_cache(maxsize=1)
def _generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The generator's default data set: (x_train, y_train, x_test, y_test), checked."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as error:
        raise DataFormatError(
            "mnist1d needs the 'mnist1d' package (installed with the workloads extra)"
        ) from error
    state = np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    arrays = []
    for key in ("x", "y", "x_test", "y_test"):
        if key not in data:
            raise DataFormatError(f"mnist1d's generator returned no {key!r}")
        arrays.append(np.array(data[key]))
    x_train, y_train, x_test, y_test = arrays
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 2 or x.shape[1] != MNIST1D_LENGTH or len(y) != len(x):
            raise DataFormatError(
                f"mnist1d {name} set has shape {x.shape} with {len(y)} labels; expected "
                f"(n, {MNIST1D_LENGTH}) signals and one label each"
            )
        if y.min() < 0 or y.max() >= MNIST1D_CLASSES:
            raise DataFormatError(f"mnist1d {name} labels must be 0..9, found {y.min()}..{y.max()}")
    if len(x_train) + len(x_test) != MNIST1D_SAMPLES:
        raise DataFormatError(
            f"mnist1d's generator made {len(x_train) + len(x_test)} signals, not {MNIST1D_SAMPLES}"
        )
    return (
        x_train.astype(np.float64),
        y_train.astype(np.int64),
        x_test.astype(np.float64),
        y_test.astype(np.int64),
    )


def load_mnist1d(seed: int | None = None) -> Dataset:
    """mnist1d as a `Dataset`: features (n, 40), ``image_shape`` (40,).

    ``seed`` None: the generator's own split (4000 training, 1000 test signals, as
    published); an int: all 5000 signals split again, stratified, 1000 for testing.
    """
    x_train, y_train, x_test, y_test = (a.copy() for a in _generate())
    pool = (np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]))
    if seed is not None:
        return split_dataset("mnist1d", *pool, len(y_test), seed, (MNIST1D_LENGTH,))
    return Dataset(
        "mnist1d", x_train, y_train, x_test, y_test, (MNIST1D_LENGTH,), MNIST1D_CLASSES, pool=pool
    )
