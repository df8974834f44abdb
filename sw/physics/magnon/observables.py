"""Derived quantities: Gaussian fluctuations, reduced states and Wigner functions.

- :func:`fluctuations`: the covariance of the Gaussian fluctuations around a stable mean-field
  state (Lyapunov equation), the linearized (small-K) limit of the quantum state.
- :func:`reduced_magnon_state`: the magnon's density matrix, the cavity traced out.
- :func:`wigner_function`: W(beta) of a single-mode density matrix on a grid of the complex
  amplitude beta = x + i y, normalized so that its integral over x and y is 1 (the vacuum is
  (2/pi) exp(-2|beta|^2)). :func:`wigner_histogram` estimates the same function from
  truncated-Wigner samples, and :func:`wigner_maxima` finds its peaks: one at 0 in the
  symmetric phase, two at +-beta in the broken phase, all three in the bistable window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.linalg import solve_continuous_lyapunov

from ..common import PhysicsInputError, check_count
from .model import MagnonParams, check_drive, coefficients, drift_matrix, sorted_eigenvalues
from .solver import Branch, is_stable


@dataclass(frozen=True, eq=False)
class Fluctuations:
    """Gaussian fluctuations around a stable mean-field state (vacuum input noise).

    Attributes:
        covariance: symmetrized covariance of (x_a, p_a, x_m, p_m); the vacuum is identity/2.
        cavity_excitations: <delta a^dag delta a>.
        magnon_excitations: <delta m^dag delta m>.
    """

    covariance: np.ndarray
    cavity_excitations: float
    magnon_excitations: float


def fluctuations(params: MagnonParams, drive: float, branch: Branch | None = None) -> Fluctuations:
    """Solve A V + V A^T + D = 0 around ``branch`` (default: the zero state).

    D = diag(gamma_a, gamma_a, gamma_m, gamma_m) / 2 is the vacuum noise of the Lindblad losses.
    Near the critical drive the slowest eigenvalue of A goes to zero and V diverges like its
    inverse.
    """
    drive = check_drive(drive)
    c = coefficients(params, drive)
    magnon = 0j if branch is None else branch.magnon
    drift = drift_matrix(c, magnon)
    eigenvalues = sorted_eigenvalues(drift)
    if not is_stable(eigenvalues, c):
        raise PhysicsInputError(
            "fluctuations need a stable state: this one grows at rate "
            f"{eigenvalues[0].real:.3g} at drive {drive}"
        )
    noise = np.diag([c.gamma_a, c.gamma_a, c.gamma_m, c.gamma_m]) / 2
    covariance = solve_continuous_lyapunov(drift, -noise)
    covariance = (covariance + covariance.T) / 2
    return Fluctuations(
        covariance=covariance,
        cavity_excitations=float((covariance[0, 0] + covariance[1, 1] - 1) / 2),
        magnon_excitations=float((covariance[2, 2] + covariance[3, 3] - 1) / 2),
    )


def reduced_magnon_state(rho: np.ndarray, n_max: int, n_cavity: int) -> np.ndarray:
    """Tr_cavity rho for rho on cavity (x) magnon (basis index = cavity * (n_max + 1) + magnon)."""
    levels = (n_cavity + 1, n_max + 1)
    rho = np.asarray(rho)
    if rho.shape != (levels[0] * levels[1],) * 2:
        raise PhysicsInputError(
            f"rho must be {levels[0] * levels[1]} x {levels[0] * levels[1]} for n_max={n_max}, "
            f"n_cavity={n_cavity}, got {rho.shape}"
        )
    return np.einsum("imin->mn", rho.reshape(*levels, *levels))


def amplitude_grid(extent: float, points: int = 121) -> np.ndarray:
    """An even grid -extent..extent for Re beta and Im beta (points >= 3)."""
    check_count("points", points, 3, 2001)
    if not (np.isfinite(extent) and extent > 0):
        raise PhysicsInputError(f"extent={extent!r} is out of range; allowed range is (0, inf)")
    return np.linspace(-extent, extent, points)


def wigner_function(rho: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """W(x + i y) of a single-mode density matrix (Fock basis), shape (len(grid), len(grid)),
    axis 0 = x = Re beta, axis 1 = y = Im beta; the integral over x and y is 1."""
    import qutip

    rho = np.asarray(rho)
    if rho.ndim != 2 or rho.shape[0] != rho.shape[1]:
        raise PhysicsInputError(f"rho must be a square matrix, got shape {rho.shape}")
    # qutip's g = 2 convention uses alpha = x + i y directly; its W integrates to 1 over x, y.
    values = qutip.wigner(qutip.Qobj(rho), grid, grid, g=2)
    return np.asarray(values).T  # qutip returns [y, x]


def wigner_histogram(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Normalized 2D histogram of complex samples on the cells centred on ``grid`` (the
    truncated-Wigner estimate of W), same layout as :func:`wigner_function`."""
    samples = np.asarray(samples).ravel()
    step = grid[1] - grid[0]
    edges = np.concatenate([grid - step / 2, [grid[-1] + step / 2]])
    counts, _, _ = np.histogram2d(samples.real, samples.imag, bins=[edges, edges])
    return counts / (len(samples) * step * step)


@dataclass(frozen=True)
class WignerPeak:
    """A local maximum of a Wigner function: position beta and height W."""

    amplitude: complex
    height: float


def wigner_maxima(values: np.ndarray, grid: np.ndarray, relative_height: float = 0.05):
    """Local maxima of W higher than ``relative_height`` times the highest one, highest first.

    A peak must be the maximum of its 5 x 5 neighbourhood; plateaus and ripples below the
    threshold (negative-W fringes, histogram noise) are ignored.
    """
    values = np.asarray(values, dtype=float)
    local = ndimage.maximum_filter(values, size=5, mode="nearest") == values
    threshold = relative_height * values.max()
    rows, columns = np.nonzero(local & (values > threshold))
    peaks = [
        WignerPeak(complex(grid[i], grid[j]), float(values[i, j]))
        for i, j in zip(rows, columns, strict=True)
    ]
    return sorted(peaks, key=lambda peak: -peak.height)


@dataclass(frozen=True, eq=False)
class DriveSweep:
    """Everything the order-parameter figure shows along a drive sweep.

    Attributes:
        drives: the drive grid.
        branches: {(name, parity): {"stable": [...], "unstable": [...]}} of +-|beta| (NaN where
            that branch is absent or has the other stability).
        zero_fluctuations, broken_fluctuations: Lyapunov <dm^dag dm> around the stable zero and
            upper (+beta) states (NaN where unstable).
        hysteresis: time-integrated sweeps up and down (``solver.hysteresis_sweep``).
        transition: ``solver.transition`` of the parameters.
    """

    drives: np.ndarray
    branches: dict
    zero_fluctuations: np.ndarray
    broken_fluctuations: np.ndarray
    hysteresis: object
    transition: object


def drive_sweep(params: MagnonParams, drives, hysteresis_points: int = 41) -> DriveSweep:
    """Mean-field branches, Lyapunov fluctuations and time-integrated hysteresis along
    ``drives`` (the hysteresis on ``hysteresis_points`` of them)."""
    from .solver import hysteresis_sweep, steady_states, transition

    drives = np.asarray([check_drive(d) for d in drives], dtype=float)
    curves: dict[tuple[str, int], dict[str, list[float]]] = {}
    zero_fluct, broken_fluct = [], []
    for index, drive in enumerate(drives):
        branches = steady_states(params, drive)
        for key in {(b.name, b.parity) for b in branches}:
            # A branch first seen late is padded with NaN for the drives before it.
            curves.setdefault(key, {"stable": [np.nan] * index, "unstable": [np.nan] * index})
        for key, curve in curves.items():
            match = [b for b in branches if (b.name, b.parity) == key]
            signed = key[1] * abs(match[0].magnon) if match else np.nan
            is_stable = bool(match and match[0].stable)
            curve["stable"].append(signed if is_stable else np.nan)
            curve["unstable"].append(np.nan if is_stable else signed)
        zero_fluct.append(
            fluctuations(params, drive).magnon_excitations if branches[0].stable else np.nan
        )
        upper = [b for b in branches if b.name == "upper" and b.parity == 1 and b.stable]
        broken_fluct.append(
            fluctuations(params, drive, upper[0]).magnon_excitations if upper else np.nan
        )
    sweep_drives = np.linspace(drives[0], drives[-1], min(hysteresis_points, len(drives)))
    return DriveSweep(
        drives=drives,
        branches={key: {k: np.array(v) for k, v in c.items()} for key, c in curves.items()},
        zero_fluctuations=np.array(zero_fluct),
        broken_fluctuations=np.array(broken_fluct),
        hysteresis=hysteresis_sweep(params, sweep_drives),
        transition=transition(params),
    )


def mean_field_scaled_branches(params: MagnonParams, drives) -> dict[str, np.ndarray]:
    """K |beta|^2 of the zero, upper and lower branches along ``drives``, split by stability:
    keys ``"<name>_stable"`` and ``"<name>_unstable"`` (NaN where absent)."""
    from .solver import steady_states

    out = {
        f"{name}_{kind}": np.full(len(drives), np.nan)
        for name in ("zero", "upper", "lower")
        for kind in ("stable", "unstable")
    }
    for index, drive in enumerate(drives):
        for branch in steady_states(params, drive):
            if branch.parity != 1:
                continue
            kind = "stable" if branch.stable else "unstable"
            out[f"{branch.name}_{kind}"][index] = params.kerr * branch.magnon_number
    return out
