"""mnist1d from its own generator: the published split, determinism, no side effects."""

from __future__ import annotations

import numpy as np

from sw.data.mnist1d import MNIST1D_LENGTH, load_mnist1d


def test_mnist1d_is_the_generators_published_split():
    state = np.random.get_state()
    data = load_mnist1d()
    # numpy's global generator is as it was (the package seeds it with 42).
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])
    assert data.name == "mnist1d" and data.image_shape == (MNIST1D_LENGTH,)
    assert data.x_train.shape == (4000, 40) and data.x_test.shape == (1000, 40)
    assert data.features == 40 and data.classes == 10
    assert data.x_train.dtype == np.float64 and data.y_train.dtype == np.int64
    assert set(np.unique(data.y_train)) == set(range(10))
    assert np.bincount(data.y_test, minlength=10).min() > 60  # every class well represented
    everything = np.concatenate([data.x_train, data.x_test])
    assert abs(everything.mean()) < 1e-9 and abs(everything.std() - 1) < 1e-9  # standardized
    # The generator's templates are smooth: neighbouring samples correlate strongly.
    assert np.corrcoef(everything[:, :-1].ravel(), everything[:, 1:].ravel())[0, 1] > 0.5


def test_mnist1d_is_deterministic_and_resplits():
    a, b = load_mnist1d(), load_mnist1d()
    np.testing.assert_array_equal(a.x_train, b.x_train)
    a.x_train[0, 0] = 1e6  # callers get copies: the cached data set stays intact
    assert load_mnist1d().x_train[0, 0] != 1e6
    again = load_mnist1d(seed=3)
    assert again.x_test.shape == (1000, 40) and again.image_shape == (40,)
    assert not np.array_equal(again.y_test, b.y_test)
    np.testing.assert_array_equal(
        np.sort(again.pool[1]), np.sort(np.concatenate([b.y_train, b.y_test]))
    )
    np.testing.assert_array_equal(b.resplit(3).y_test, again.y_test)
