"""Federated clients with feature shift and label skew, built from offline data.

The PRR-FL paper's clients are hospitals whose dermoscopes differ (feature shift) and
whose patients differ (label skew). Here each client gets

- its own share of the images: every class is split over the clients in proportions
  drawn from a Dirichlet(``alpha``) distribution (Hsu et al., 2019), so the class mix
  differs from client to client (smaller ``alpha``, stronger skew);
- its own "device", a fixed image transform applied to all of its images: Gaussian
  ``blur``, a ``gamma``/contrast curve, sensor ``noise``, or a horizontal ``shear``
  (scipy.ndimage, no torchvision);
- its own train / validation / test split (60 / 20 / 20 % of each class).

Sources: scikit-learn's bundled 8x8 digits (``digits``), mnist1d's 1-D signals made
by its generator (``mnist1d``, 40 samples, min-max scaled to [0, 1] over the whole set
so that the same devices apply), or a MedMNIST ``.npz`` by path (``medmnist``, e.g.
DermaMNIST). Images are (C, H, W), signals (C, L); a device acts on the spatial axes
(for a signal, ``shear`` becomes a stretch of the time axis about its centre).

A `ClientShard` can be saved to and loaded from an ``.npz`` file, the form a real
Flower SuperNode reads its data in; `check_shard` refuses an empty or malformed shard
with a `ShardError` that names the client, the file and the problem.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sw.data import DataFormatError

DEVICES = ("blur", "gamma", "noise", "shear")
DATA_SOURCES = ("digits", "mnist1d", "medmnist")
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train, validation, test share of each class
MIN_TRAIN_SAMPLES = 20  # a client needs at least this many training images
_SHARD_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


class ShardError(DataFormatError):
    """A client's data shard that is empty, missing or malformed."""


@dataclass(frozen=True)
class ClientShard:
    """One client's data: images (n, C, H, W) or signals (n, C, L), float32 in [0, 1], and
    int64 labels."""

    client: int
    device: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(C, H, W) or (C, L)."""
        return tuple(int(d) for d in self.x_train.shape[1:])


# --------------------------------------------------------------------------- devices


def device_names(count: int, devices: tuple[str, ...] = DEVICES) -> list[str]:
    """The device of each of ``count`` clients: the list repeated (``blur, gamma, ...``)."""
    if not devices:
        raise ValueError("devices must name at least one of " + ", ".join(DEVICES))
    for name in devices:
        if name not in DEVICES:
            raise ValueError(f"unknown device {name!r}; use some of {', '.join(DEVICES)}")
    return [devices[i % len(devices)] for i in range(count)]


def device_strength(client: int, devices: tuple[str, ...]) -> float:
    """Clients that share a device type get it at a growing strength (1, 1.5, 2, ...)."""
    return 1.0 + 0.5 * (client // len(devices))


def apply_device(images: np.ndarray, device: str, strength: float, rng) -> np.ndarray:
    """``images`` (n, C, H, W) or signals (n, C, L) in [0, 1] as seen through ``device``
    (result in [0, 1]):

    - ``blur``: Gaussian point-spread function, sigma = 0.7 samples x strength;
    - ``gamma``: x ** (1 + strength), then contrast 0.75 around mid-grey (a darker,
      flatter sensor response);
    - ``noise``: additive Gaussian read noise, sigma = 0.15 x strength, clipped;
    - ``shear``: horizontal shear by 0.3 x strength about the image centre; for a
      signal, a stretch of the time axis by 1 + 0.3 x strength about its centre.
    """
    from scipy import ndimage

    images = np.asarray(images, dtype=np.float64)
    spatial = images.ndim - 2
    if spatial not in (1, 2):
        raise ValueError(f"images of shape {images.shape}: expected (n, C, L) or (n, C, H, W)")
    if device == "blur":
        sigma = 0.7 * strength
        out = ndimage.gaussian_filter(images, sigma=(0, 0) + (sigma,) * spatial, mode="nearest")
    elif device == "gamma":
        out = 0.5 + 0.75 * (images ** (1.0 + strength) - 0.5)
    elif device == "noise":
        out = images + rng.normal(0.0, 0.15 * strength, size=images.shape)
    elif device == "shear":
        factor = 0.3 * strength
        if spatial == 2:
            # output (row, col) samples input (row, col + factor * (row - centre))
            matrix = np.array([[1.0, 0.0], [factor, 1.0]])
            offset = np.array([0.0, -factor * (images.shape[2] - 1) / 2])
        else:
            # output t samples input centre + (t - centre) / (1 + factor)
            centre = (images.shape[2] - 1) / 2
            matrix = np.array([[1.0 / (1.0 + factor)]])
            offset = np.array([centre - centre / (1.0 + factor)])
        out = np.empty_like(images)
        for n in range(images.shape[0]):
            for c in range(images.shape[1]):
                out[n, c] = ndimage.affine_transform(
                    images[n, c], matrix, offset=offset, order=1, mode="constant"
                )
    else:
        raise ValueError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    return np.clip(out, 0.0, 1.0)


# --------------------------------------------------------------------------- partition


def dirichlet_partition(labels: np.ndarray, clients: int, alpha: float, rng) -> list[np.ndarray]:
    """Indices of each client's images: every class split over the clients in
    Dirichlet(``alpha``) proportions, redrawn until every client has enough images."""
    if clients < 2:
        raise ValueError(f"clients={clients}; a federation needs at least 2")
    if not alpha > 0:
        raise ValueError(f"dirichlet alpha={alpha} must be > 0")
    classes = np.unique(labels)
    needed = int(np.ceil(MIN_TRAIN_SAMPLES / SPLIT_FRACTIONS[0]))
    if len(labels) < clients * needed:
        raise ValueError(
            f"{len(labels)} images cannot give {clients} clients {needed} images each; "
            f"use at most {len(labels) // needed} clients"
        )
    for _ in range(1000):
        parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for cls in classes:
            members = rng.permutation(np.flatnonzero(labels == cls))
            shares = rng.dirichlet(np.full(clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).round().astype(int)
            for client, chunk in enumerate(np.split(members, cuts)):
                parts[client].append(chunk)
        indices = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(i) for i in indices) >= needed:
            return indices
    raise ValueError(
        f"dirichlet alpha={alpha} is too small for {clients} clients: no draw gave every "
        f"client {needed} images; raise alpha or use fewer clients"
    )


def split_per_class(labels: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the train / validation / test images, 60/20/20 % of each class (a
    class with one or two images goes to training first)."""
    train, val, test = [], [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_val = int(np.floor(len(members) * SPLIT_FRACTIONS[1]))
        n_test = int(np.floor(len(members) * SPLIT_FRACTIONS[2]))
        test.append(members[:n_test])
        val.append(members[n_test : n_test + n_val])
        train.append(members[n_test + n_val :])
    return tuple(np.sort(np.concatenate(part)).astype(np.int64) for part in (train, val, test))


# --------------------------------------------------------------------------- sources


def load_source(data: str, path=None) -> tuple[np.ndarray, np.ndarray, int]:
    """Every sample of a source as (n, C, H, W) or (n, C, L) floats in [0, 1], the labels
    and the class count."""
    if data == "digits":
        from sw.data import load_digits_dataset

        dataset = load_digits_dataset()
        x = np.concatenate([dataset.x_train, dataset.x_test])
        y = np.concatenate([dataset.y_train, dataset.y_test])
        shape, classes = dataset.image_shape, dataset.classes
    elif data == "mnist1d":
        from sw.data.mnist1d import load_mnist1d

        dataset = load_mnist1d()
        x, y = dataset.pool
        x = (x - x.min()) / (x.max() - x.min())  # the devices work on [0, 1]
        shape, classes = (1, *dataset.image_shape), dataset.classes
    elif data == "medmnist":
        if path is None:
            raise ValueError("--data medmnist needs --path FILE.npz (e.g. dermamnist.npz)")
        from sw.data.medmnist import load_medmnist

        dataset = load_medmnist(path)
        x, y = dataset.pool
        shape, classes = dataset.image_shape, dataset.classes
    else:
        raise ValueError(f"unknown data source {data!r}; use one of {', '.join(DATA_SOURCES)}")
    if len(shape) == 2 and data != "mnist1d":
        shape = (1, *shape)  # grayscale images: one channel
    return x.reshape(len(x), *shape), y.astype(np.int64), int(classes)


def source_info(data: str, path=None) -> tuple[tuple[int, ...], int]:
    """``((C, H, W) or (C, L), classes)`` of a source, without building the clients."""
    if data == "digits":
        return (1, 8, 8), 10
    if data == "mnist1d":
        return (1, 40), 10
    x, _, classes = load_source(data, path)
    return tuple(int(d) for d in x.shape[1:]), classes


def make_client_shards(
    data: str = "digits",
    *,
    clients: int = 4,
    alpha: float = 1.0,
    devices: tuple[str, ...] = DEVICES,
    seed: int = 0,
    path=None,
) -> list[ClientShard]:
    """``clients`` shards of one source, each with its own device and class mix (under
    ``seed``: the same arguments always give the same shards)."""
    x, y, classes = load_source(data, path)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20]))
    names = device_names(clients, tuple(devices))
    shards = []
    for client, indices in enumerate(dirichlet_partition(y, clients, alpha, rng)):
        images = apply_device(x[indices], names[client], device_strength(client, devices), rng)
        labels = y[indices]
        train, val, test = split_per_class(labels, rng)
        shard = ClientShard(
            client,
            names[client],
            images[train].astype(np.float32),
            labels[train],
            images[val].astype(np.float32),
            labels[val],
            images[test].astype(np.float32),
            labels[test],
            classes,
        )
        check_shard(shard)
        shards.append(shard)
    return shards


# --------------------------------------------------------------------------- files


def save_shard(shard: ClientShard, path) -> Path:
    """Write ``shard`` as an ``.npz`` file a SuperNode can read with `load_shard`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: getattr(shard, name) for name in _SHARD_ARRAYS}
    with path.open("wb") as file:
        np.savez_compressed(
            file,
            client=np.int64(shard.client),
            device=np.array(shard.device),
            classes=np.int64(shard.classes),
            **arrays,
        )
    return path


def load_shard(path, *, client: int | None = None) -> ClientShard:
    """A shard written by `save_shard`, checked (`check_shard`); ``client`` overrides the
    client number stored in the file (a SuperNode's own partition id)."""
    path = Path(path)
    where = f"client shard {path}"
    if not path.is_file():
        raise ShardError(f"{where} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in (*_SHARD_ARRAYS, "classes") if k not in archive.files]
            if missing:
                raise ShardError(f"{where} lacks {', '.join(missing)}")
            arrays = {name: archive[name] for name in _SHARD_ARRAYS}
            classes = int(archive["classes"])
            stored_client = int(archive["client"]) if "client" in archive.files else 0
            device = str(archive["device"]) if "device" in archive.files else "unknown"
    except ShardError:
        raise
    except (OSError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as error:
        raise ShardError(f"cannot read {where} as .npz: {error}") from error
    shard = ClientShard(
        stored_client if client is None else client, device, classes=classes, **arrays
    )
    check_shard(shard, where=where)
    return shard


def check_shard(shard: ClientShard, *, where: str | None = None) -> ClientShard:
    """Refuse an empty or malformed shard with a `ShardError` naming what is wrong."""
    where = where or f"client {shard.client} shard"
    if not isinstance(shard.classes, int) or shard.classes < 2:
        raise ShardError(f"{where}: classes={shard.classes}, a classifier needs 2 or more")
    shape = None
    for part in ("train", "val", "test"):
        x, y = getattr(shard, f"x_{part}"), getattr(shard, f"y_{part}")
        if x.ndim not in (3, 4):
            raise ShardError(
                f"{where}: x_{part} has shape {x.shape}; expected (n, channels, height, width) "
                "images or (n, channels, length) signals"
            )
        if shape is not None and x.shape[1:] != shape:
            raise ShardError(f"{where}: x_{part} images are {x.shape[1:]}, x_train's are {shape}")
        shape = x.shape[1:]
        if y.ndim != 1 or len(y) != len(x):
            raise ShardError(
                f"{where}: y_{part} has shape {y.shape} for {len(x)} images; expected ({len(x)},)"
            )
        if len(y) == 0:
            raise ShardError(f"{where}: the {part} split is empty")
        if not np.issubdtype(y.dtype, np.integer):
            raise ShardError(f"{where}: y_{part} has dtype {y.dtype}; labels must be integers")
        if y.min() < 0 or y.max() >= shard.classes:
            raise ShardError(
                f"{where}: y_{part} holds labels {y.min()}..{y.max()}, "
                f"outside [0, {shard.classes - 1}]"
            )
        if not np.all(np.isfinite(x)):
            raise ShardError(f"{where}: x_{part} holds NaN or infinite values")
    if len(shard.y_train) < MIN_TRAIN_SAMPLES:
        raise ShardError(
            f"{where}: {len(shard.y_train)} training images; at least {MIN_TRAIN_SAMPLES} needed"
        )
    return shard
