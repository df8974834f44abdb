"""Progressive Fourier Aggregation (PFA), the server half of PRR-FL (Chen et al., MICCAI 2021).

For every convolution or linear weight the clients send, PFA

1. views the weight as a 2-D matrix (`as_matrix`),
2. takes its 2-D FFT and shifts the zero frequency to the centre,
3. replaces the **amplitude** inside the centred low-frequency block of relative size
   ``ratio x ratio`` by the clients' sample-weighted mean amplitude, while every client
   keeps its own phase everywhere and its own amplitude outside the block,
4. transforms back; each client gets its own result.

One-dimensional arrays (biases) are averaged as in FedAvg. BatchNorm parameters never
reach the server (the clients keep them), so they are not PFA's concern. The block
ratio grows linearly over the rounds (`pfa_ratio`): the clients share the smoothest,
most generic part of each filter first and more of it later.

Where this differs from the authors' code (github.com/CityU-AIM-Group/PRR-FL,
``server.py``) is documented in ``docs/prrfl.md``: the block is symmetric about the
zero frequency (``block="symmetric"``, the default) so that the inverse transform is
exactly real; ``block="authors"`` reproduces their half-open index range.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PFA_START_RATIO = 0.7  # the authors' --l_rate default
PFA_END_RATIO = 0.95  # the value their schedule heads for
BLOCKS = ("symmetric", "authors")


def pfa_ratio(
    server_round: int,
    num_rounds: int,
    start: float = PFA_START_RATIO,
    end: float = PFA_END_RATIO,
) -> float:
    """The relative low-frequency block size L_r in round ``server_round`` (1-based).

    The authors' schedule: ``start + (r - 1) / R * (end - start)`` for rounds 1..R, so
    round 1 uses ``start`` and the last round ``end - (end - start) / R``.
    """
    if num_rounds < 1:
        raise ValueError(f"num_rounds={num_rounds} must be at least 1")
    if not 1 <= server_round <= num_rounds:
        raise ValueError(f"server_round={server_round} is outside [1, {num_rounds}]")
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"PFA ratio {name}={value} is outside [0, 1]")
    return start + (server_round - 1) / num_rounds * (end - start)


def as_matrix(weight: np.ndarray) -> np.ndarray:
    """A weight of 2+ dimensions as the 2-D matrix PFA transforms.

    ``Linear`` (out, in) stays as it is. A convolution (out, in, k1, ..., kd) becomes
    ``(in * k1 * ... * k(d-1), kd * out)``, the authors' layout for Conv2d (their
    ``permute(1, 2, 3, 0).reshape(C * D1, D2 * N)``), extended to any kernel rank.
    """
    weight = np.asarray(weight)
    if weight.ndim < 2:
        raise ValueError(f"as_matrix needs an array of 2+ dimensions, got shape {weight.shape}")
    if weight.ndim == 2:
        return weight
    moved = np.moveaxis(weight, 0, -1)  # (in, k1, ..., kd, out)
    rows = int(np.prod(moved.shape[:-2]))
    return moved.reshape(rows, -1)


def from_matrix(matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `as_matrix` for a weight of ``shape``."""
    if len(shape) == 2:
        return matrix.reshape(shape)
    moved_shape = (*shape[1:], shape[0])
    return np.moveaxis(matrix.reshape(moved_shape), -1, 0)


def low_frequency_mask(shape: tuple[int, int], ratio: float, block: str = "symmetric"):
    """Boolean mask, in fftshift-ed (centred) order, of the low-frequency block.

    ``symmetric``: the frequencies (k1, k2) with |k1| < ratio * h / 2 and
    |k2| < ratio * w / 2, a set closed under negation, so a spectrum that was Hermitian
    stays Hermitian after the amplitude swap. ``authors``: the index range
    ``[c - b, c + b)`` per axis with ``c = h // 2``, ``b = floor(h * ratio / 2)``, which
    leaves out the frequency +b (their ``np.real`` then drops the imaginary residue).
    Empty for ``ratio = 0``.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"PFA ratio={ratio} is outside [0, 1]")
    if block not in BLOCKS:
        raise ValueError(f"PFA block={block!r}; use one of {BLOCKS}")
    axes = []
    for size in shape:
        centre = size // 2  # index of the zero frequency after fftshift
        index = np.arange(size)
        if block == "symmetric":
            axes.append(np.abs(index - centre) < ratio * size / 2)
        else:
            half = int(np.floor(size * ratio / 2))
            axes.append((index >= centre - half) & (index < centre + half))
    return axes[0][:, None] & axes[1][None, :]


def _normalized_counts(sample_counts: Sequence[float], clients: int) -> np.ndarray:
    counts = np.asarray(sample_counts, dtype=np.float64)
    if counts.shape != (clients,):
        raise ValueError(
            f"sample_counts has {counts.size} entries for {clients} clients; give one per client"
        )
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or counts.sum() <= 0:
        raise ValueError(f"sample_counts must be finite, >= 0 and not all zero, got {counts}")
    return counts / counts.sum()


def pfa_aggregate(
    weights: Sequence[Sequence[np.ndarray]],
    sample_counts: Sequence[float],
    ratio: float,
    *,
    block: str = "symmetric",
) -> list[list[np.ndarray]]:
    """Progressive Fourier Aggregation of the clients' shared arrays.

    Args:
        weights: one list per client of numpy arrays, every client's list in the same
            order with the same shapes (the non-BatchNorm parameters of one model).
        sample_counts: each client's number of training samples (the mean's weights).
        ratio: the relative size L_r of the centred low-frequency block, in [0, 1].
        block: ``"symmetric"`` (default) or ``"authors"``, see `low_frequency_mask`.

    Returns:
        One list per client, in the input order: every array of 2+ dimensions with the
        low-frequency amplitude replaced by the weighted mean (own phase, own high
        frequencies); every 0-D or 1-D array (biases) replaced by the weighted mean.
        Dtypes are kept.
    """
    clients = len(weights)
    if clients == 0:
        raise ValueError("pfa_aggregate needs at least one client")
    share = _normalized_counts(sample_counts, clients)
    layers = len(weights[0])
    for index, client in enumerate(weights):
        if len(client) != layers:
            raise ValueError(
                f"client {index} sent {len(client)} arrays, client 0 sent {layers}; "
                "every client must send the same layers in the same order"
            )
    out: list[list[np.ndarray]] = [[] for _ in range(clients)]
    for layer in range(layers):
        arrays = [np.asarray(client[layer]) for client in weights]
        shape = arrays[0].shape
        for index, array in enumerate(arrays):
            if array.shape != shape:
                raise ValueError(
                    f"layer {layer}: client {index} has shape {array.shape}, client 0 has {shape}"
                )
        if len(shape) < 2:
            mean = sum(s * a.astype(np.float64) for s, a in zip(share, arrays, strict=True))
            for index, array in enumerate(arrays):
                out[index].append(mean.astype(array.dtype))
            continue
        mixed = _mix_low_frequency_amplitude(
            [as_matrix(a).astype(np.float64) for a in arrays], share, ratio, block
        )
        for index, array in enumerate(arrays):
            out[index].append(from_matrix(mixed[index], shape).astype(array.dtype))
    return out


def _mix_low_frequency_amplitude(matrices, share, ratio, block):
    """Each matrix with its centred low-frequency amplitude replaced by the weighted mean."""
    spectra = [np.fft.fftshift(np.fft.fft2(m)) for m in matrices]
    amplitudes = [np.abs(s) for s in spectra]
    mean_amplitude = sum(w * a for w, a in zip(share, amplitudes, strict=True))
    mask = low_frequency_mask(matrices[0].shape, ratio, block)
    mixed = []
    for spectrum, amplitude in zip(spectra, amplitudes, strict=True):
        new_amplitude = np.where(mask, mean_amplitude, amplitude)
        # exp(i * angle) keeps the client's own phase (a zero coefficient has phase 0,
        # the same convention as the authors' np.angle).
        new_spectrum = new_amplitude * np.exp(1j * np.angle(spectrum))
        # With the symmetric block the spectrum is still Hermitian, so the imaginary
        # part is rounding noise; with the authors' block it is their discarded residue.
        mixed.append(np.real(np.fft.ifft2(np.fft.ifftshift(new_spectrum))))
    return mixed
