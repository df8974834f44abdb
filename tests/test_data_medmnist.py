"""MedMNIST `.npz` loading on tiny generated files (nothing is downloaded)."""

import numpy as np
import pytest

from sw.data import DataFormatError
from sw.data.medmnist import load_medmnist, load_medmnist_splits, write_medmnist


def _splits(rng, shape, classes=7, sizes=(12, 4, 6)):
    out = {}
    for split, n in zip(("train", "val", "test"), sizes, strict=True):
        images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
        labels = rng.integers(0, classes, size=(n, 1)).astype(np.int64)
        labels[0, 0] = classes - 1  # every split names the top class once
        out[split] = (images, labels)
    return out


def test_colour_file_round_trip_channels_first(tmp_path):
    rng = np.random.default_rng(0)
    splits = _splits(rng, (28, 28, 3))
    path = write_medmnist(tmp_path / "dermamnist.npz", splits)
    data = load_medmnist_splits(path)
    assert data.name == "dermamnist"
    assert data.image_shape == (3, 28, 28)
    assert data.classes == 7
    for split, (images, labels) in splits.items():
        x, y = data.splits[split]
        assert x.shape == (len(images), 3 * 28 * 28)
        assert x.min() >= 0.0 and x.max() <= 1.0
        # channels first: pixel (row 5, col 7) of channel 2 of image 1
        assert x[1].reshape(3, 28, 28)[2, 5, 7] == images[1, 5, 7, 2] / 255.0
        np.testing.assert_array_equal(y, labels[:, 0])


def test_grayscale_dataset_pools_every_split(tmp_path):
    rng = np.random.default_rng(1)
    splits = _splits(rng, (28, 28), classes=4, sizes=(10, 3, 5))
    dataset = load_medmnist(write_medmnist(tmp_path / "pathmnist.npz", splits))
    assert dataset.image_shape == (28, 28)
    assert dataset.classes == 4
    assert len(dataset.y_train) == 10 and len(dataset.y_test) == 5
    assert len(dataset.pool[1]) == 18  # train + val + test
    np.testing.assert_array_equal(dataset.x_test[2], splits["test"][0][2].reshape(-1) / 255.0)


def test_missing_file_and_garbage_are_named(tmp_path):
    with pytest.raises(DataFormatError, match="does not exist"):
        load_medmnist(tmp_path / "absent.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataFormatError, match="garbage.npz"):
        load_medmnist(garbage)


def test_missing_keys_are_listed(tmp_path):
    rng = np.random.default_rng(2)
    splits = _splits(rng, (28, 28))
    del splits["val"]
    path = write_medmnist(tmp_path / "partial.npz", splits)
    with pytest.raises(DataFormatError, match="val_images, val_labels"):
        load_medmnist(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(train=(s["train"][0], np.zeros((12, 14), np.int64))), "multi-label"),
        (lambda s: s.update(test=(s["test"][0][:3], s["test"][1])), "3 images but 6 labels"),
        (lambda s: s.update(val=(s["val"][0].astype(np.float32), s["val"][1])), "uint8"),
        (lambda s: s.update(val=(np.zeros((4, 28, 28, 28), np.uint8), s["val"][1])), "3-D"),
        (lambda s: s.update(test=(s["test"][0][:0], s["test"][1][:0])), "test split is empty"),
        (lambda s: s.update(val=(s["val"][0], -s["val"][1] - 1)), "negative class"),
    ],
)
def test_malformed_contents_are_refused(tmp_path, change, message):
    rng = np.random.default_rng(3)
    splits = _splits(rng, (28, 28))
    change(splits)
    path = write_medmnist(tmp_path / "bad.npz", splits)
    with pytest.raises(DataFormatError, match=message):
        load_medmnist(path)
