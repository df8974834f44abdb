"""Denoising data from scikit-image's bundled grayscale images (shipped in its wheel).

Clean patches are cut from images that ship inside scikit-image (`skimage.data`;
nothing is downloaded), scaled to [0, 1], and paired with noisy copies: additive
white Gaussian noise of standard deviation ``sigma`` on the 0..255 scale (so
``sigma / 255`` on the [0, 1] scale), not clipped, as in the DnCNN benchmarks
(sigma 15 and 25 are the usual levels).

The training patches are random crops (with a random flip/rotation) of the training
images; the test patches are a regular grid of crops of different images, so that
a denoiser is scored on pictures it never saw. `psnr` is the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The grayscale pictures that ship in the scikit-image wheel (the others need a download).
BUNDLED_GRAYSCALE_IMAGES = (
    "brick",
    "camera",
    "cell",
    "clock",
    "coins",
    "grass",
    "gravel",
    "moon",
    "page",
    "text",
)
TRAIN_IMAGES = ("brick", "cell", "clock", "coins", "grass", "gravel", "page", "text")
TEST_IMAGES = ("camera", "moon")
NOISE_SIGMAS = (15, 25)  # standard deviations on the 0..255 scale
PIXEL_RANGE = 255.0


def _check_name(name: str, what: str = "") -> str:
    if name not in BUNDLED_GRAYSCALE_IMAGES:
        raise ValueError(
            f"unknown {what}image {name!r}; bundled grayscale images: "
            f"{', '.join(BUNDLED_GRAYSCALE_IMAGES)}"
        )
    return name


def load_grayscale(name: str) -> np.ndarray:
    """A bundled grayscale image as float64 in [0, 1], shape (H, W)."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, _check_name(name))())
    if image.ndim != 2:
        raise ValueError(f"skimage.data.{name}() is not grayscale (shape {image.shape})")
    return image.astype(np.float64) / PIXEL_RANGE


def _check_images(names, what: str) -> tuple[str, ...]:
    names = tuple(names)
    if not names:
        raise ValueError(f"the {what} set needs at least one image")
    return tuple(_check_name(name, f"{what} ") for name in names)


def random_patches(images, count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random ``size`` x ``size`` crops, each turned by a random element of the
    square's symmetry group (4 rotations x flip); images chosen in proportion to area."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    for image in images:
        if min(image.shape) < size:
            raise ValueError(f"patch size {size} exceeds an image of shape {image.shape}")
    areas = np.array([image.size for image in images], dtype=np.float64)
    choice = rng.choice(len(images), size=count, p=areas / areas.sum())
    patches = np.empty((count, size, size))
    for i, index in enumerate(choice):
        image = images[index]
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        patch = image[top : top + size, left : left + size]
        patch = np.rot90(patch, k=int(rng.integers(4)))
        patches[i] = patch[:, ::-1] if rng.integers(2) else patch
    return patches


def grid_patches(image: np.ndarray, size: int, count: int) -> np.ndarray:
    """``count`` non-overlapping ``size`` x ``size`` crops spread evenly over ``image``."""
    rows, cols = image.shape[0] // size, image.shape[1] // size
    if rows * cols < count:
        raise ValueError(
            f"an image of shape {image.shape} holds {rows * cols} patches of {size}x{size}, "
            f"fewer than the {count} asked for"
        )
    picks = np.linspace(0, rows * cols - 1, count).round().astype(int)
    return np.stack([image[(p // cols) * size :, (p % cols) * size :][:size, :size] for p in picks])


def _check_sigma(sigma: float) -> float:
    if not 0 < sigma <= PIXEL_RANGE:
        raise ValueError(f"sigma must be in (0, 255] (0..255 pixel scale), got {sigma}")
    return float(sigma)


def add_gaussian_noise(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``clean`` + N(0, (sigma / 255)^2) per pixel (``sigma`` on the 0..255 scale), unclipped."""
    sigma = _check_sigma(sigma)
    return clean + rng.normal(0.0, sigma / PIXEL_RANGE, size=clean.shape)


def psnr(clean: np.ndarray, estimate: np.ndarray, *, peak: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio in dB per image (the last two axes are the image).

    ``estimate`` is clipped to [0, peak] first, as a display would.
    """
    clean = np.asarray(clean, dtype=np.float64)
    estimate = np.clip(np.asarray(estimate, dtype=np.float64), 0.0, peak)
    if clean.shape != estimate.shape:
        raise ValueError(f"psnr needs equal shapes, got {clean.shape} and {estimate.shape}")
    mse = np.mean((clean - estimate) ** 2, axis=(-2, -1))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(peak**2 / mse)


@dataclass(frozen=True)
class DenoisingSet:
    """Clean and noisy patches, (N, H, W) float64 on the [0, 1] scale."""

    sigma: float  # noise standard deviation on the 0..255 scale
    clean_train: np.ndarray
    noisy_train: np.ndarray
    clean_test: np.ndarray
    noisy_test: np.ndarray
    train_images: tuple[str, ...]
    test_images: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"denoise-sigma{self.sigma:g}"

    @property
    def input_psnr(self) -> float:
        """Mean PSNR of the noisy test patches (what doing nothing scores), dB."""
        return float(np.mean(psnr(self.clean_test, self.noisy_test)))


def load_denoising_set(
    sigma: float,
    *,
    patch_size: int = 16,
    train_patches: int = 3000,
    test_patch_size: int = 32,
    test_patches_per_image: int = 16,
    seed: int = 0,
    train_images=TRAIN_IMAGES,
    test_images=TEST_IMAGES,
) -> DenoisingSet:
    """Patches of the bundled images with Gaussian noise of ``sigma`` (0..255 scale).

    Crops, flips and noise are drawn under ``seed``; the same arguments give the same set.
    """
    sigma = _check_sigma(sigma)
    train_names = _check_images(train_images, "training")
    test_names = _check_images(test_images, "test")
    overlap = set(train_names) & set(test_names)
    if overlap:
        raise ValueError(f"images {sorted(overlap)} are in both the training and the test set")
    if patch_size < 4 or test_patch_size < 4:
        raise ValueError(
            f"patch sizes must be at least 4 pixels, got {patch_size} and {test_patch_size}"
        )
    rng = np.random.default_rng(seed)
    clean_train = random_patches(
        [load_grayscale(n) for n in train_names], train_patches, patch_size, rng
    )
    clean_test = np.concatenate(
        [
            grid_patches(load_grayscale(n), test_patch_size, test_patches_per_image)
            for n in test_names
        ]
    )
    return DenoisingSet(
        sigma=sigma,
        clean_train=clean_train,
        noisy_train=add_gaussian_noise(clean_train, sigma, rng),
        clean_test=clean_test,
        noisy_test=add_gaussian_noise(clean_test, sigma, rng),
        train_images=train_names,
        test_images=test_names,
    )
