"""Denoising patches of scikit-image's bundled grayscale images (`sw.data.images`)."""

from __future__ import annotations

import numpy as np
import pytest

from sw.data.images import (
    BUNDLED_GRAYSCALE_IMAGES,
    add_gaussian_noise,
    grid_patches,
    load_denoising_set,
    load_grayscale,
    psnr,
    random_patches,
)


def test_bundled_images_load_without_network():
    for name in ("camera", "moon", "coins"):
        image = load_grayscale(name)
        assert image.ndim == 2 and image.dtype == np.float64
        assert 0 <= image.min() and image.max() <= 1 and image.std() > 0.01
    with pytest.raises(ValueError, match="bundled grayscale images"):
        load_grayscale("astronaut")  # colour: not in the list


def test_noise_has_the_asked_sigma_on_the_0_255_scale():
    rng = np.random.default_rng(0)
    clean = np.full((200, 200), 0.5)
    for sigma in (15, 25):
        noise = add_gaussian_noise(clean, sigma, rng) - clean
        assert abs(noise.std() * 255 - sigma) < 0.02 * sigma
        assert abs(noise.mean()) < 0.002
    for bad in (0, -5, 300):
        with pytest.raises(ValueError, match=r"sigma must be in \(0, 255\]"):
            add_gaussian_noise(clean, bad, rng)


def test_psnr_matches_its_definition():
    clean = np.zeros((2, 4, 4))
    estimate = clean.copy()
    estimate[0] += 0.1  # mse 0.01 -> 20 dB
    estimate[1, 0, 0] = 2.0  # clipped to 1: mse 1/16 -> 12.04 dB
    np.testing.assert_allclose(psnr(clean, estimate), [20.0, 10 * np.log10(16)])
    with pytest.raises(ValueError, match="equal shapes"):
        psnr(clean, estimate[:, :3])


def test_patches_come_from_the_images():
    rng = np.random.default_rng(1)
    image = np.arange(40 * 50, dtype=np.float64).reshape(40, 50)
    patches = random_patches([image], 20, 8, rng)
    values = set(image.ravel())
    assert patches.shape == (20, 8, 8) and set(patches.ravel()) <= values
    grid = grid_patches(image, 10, 4)
    np.testing.assert_array_equal(grid[0], image[:10, :10])
    assert len({g.tobytes() for g in grid}) == 4  # distinct crops
    with pytest.raises(ValueError, match="holds 20 patches"):
        grid_patches(image, 10, 21)


def test_denoising_set_is_reproducible_and_held_out():
    a = load_denoising_set(25, train_patches=50, test_patches_per_image=2, seed=3)
    b = load_denoising_set(25, train_patches=50, test_patches_per_image=2, seed=3)
    np.testing.assert_array_equal(a.noisy_train, b.noisy_train)
    assert a.clean_train.shape == (50, 16, 16) and a.clean_test.shape == (4, 32, 32)
    assert not set(a.train_images) & set(a.test_images)
    # noise at sigma 25: the noisy input scores about 20*log10(255/25) = 20.2 dB
    assert 19.0 < a.input_psnr < 21.5
    assert a.name == "denoise-sigma25"
    with pytest.raises(ValueError, match="both the training and the test set"):
        load_denoising_set(15, train_images=("camera",), test_images=("camera",))
    with pytest.raises(ValueError, match="unknown training image"):
        load_denoising_set(15, train_images=("lena",))
    assert set(a.train_images) | set(a.test_images) <= set(BUNDLED_GRAYSCALE_IMAGES)
