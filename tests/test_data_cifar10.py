"""CIFAR-10 python batches by path (`sw.data.cifar10`), on tiny files in the real format."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from sw.data import DataFormatError
from sw.data.cifar10 import (
    CIFAR10_SUBDIRECTORY,
    CIFAR10_TEST_FILE,
    CIFAR10_TRAIN_FILES,
    load_cifar10,
    read_cifar_batch,
    write_cifar_batch,
)

PER_BATCH = 4


def _batch(rng, count=PER_BATCH):
    return rng.integers(0, 256, size=(count, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, count)


@pytest.fixture
def cifar_dir(tmp_path):
    rng = np.random.default_rng(0)
    directory = tmp_path / CIFAR10_SUBDIRECTORY
    directory.mkdir()
    contents = {}
    for name in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE):
        images, labels = _batch(rng)
        write_cifar_batch(directory / name, images, labels, batch_label=name)
        contents[name] = (images, labels)
    return directory, contents


def test_reads_the_official_layout(cifar_dir):
    directory, contents = cifar_dir
    data = load_cifar10(directory.parent)  # the folder holding cifar-10-batches-py works too
    assert data.x_train.shape == (5 * PER_BATCH, 3072) and data.x_test.shape == (PER_BATCH, 3072)
    assert data.image_shape == (3, 32, 32) and data.classes == 10
    first_images, first_labels = contents["data_batch_1"]
    # row 0 of the training set is image 0 of data_batch_1: red plane first, then green, blue
    np.testing.assert_allclose(data.x_train[0].reshape(3, 32, 32), first_images[0] / 255.0)
    np.testing.assert_array_equal(data.y_train[:PER_BATCH], first_labels)
    last_images, _ = contents["data_batch_5"]
    np.testing.assert_allclose(data.x_train[-1].reshape(3, 32, 32), last_images[-1] / 255.0)
    test_images, test_labels = contents[CIFAR10_TEST_FILE]
    np.testing.assert_array_equal(data.y_test, test_labels)
    np.testing.assert_allclose(data.x_test.reshape(-1, 3, 32, 32), test_images / 255.0)


def test_reads_a_python2_style_pickle(tmp_path):
    # The official files are python-2 pickles: str keys loaded as bytes, labels a list.
    rng = np.random.default_rng(1)
    images, labels = _batch(rng)
    path = tmp_path / "data_batch_1"
    batch = {b"data": images.reshape(PER_BATCH, -1), b"labels": list(map(int, labels))}
    path.write_bytes(pickle.dumps(batch, protocol=2))
    read_images, read_labels = read_cifar_batch(path)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_missing_directory_and_files_are_named(tmp_path, cifar_dir):
    with pytest.raises(DataFormatError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    directory, _ = cifar_dir
    (directory / "data_batch_3").unlink()
    with pytest.raises(DataFormatError, match="data_batch_3"):
        load_cifar10(directory)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pickle at all", "not a CIFAR-10 python pickle"),
        (pickle.dumps([1, 2, 3]), "expected a dict"),
        (pickle.dumps({b"labels": [1]}), "no b'data'"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}), "uint8"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "shape"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "one per image"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), r"0\.\.9"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [object()]}), "refusing"),
    ],
)
def test_malformed_batches_are_refused_with_the_file_name(tmp_path, content, message):
    path = tmp_path / "test_batch"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=message) as caught:
        read_cifar_batch(path)
    assert str(path) in str(caught.value)
