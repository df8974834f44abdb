"""Reference solutions: random Fourier initial conditions and their exact or spectral evolution.

Initial conditions are random Fourier series on the ``2*pi``-periodic domain,

    u0(x) = sum_k a_k cos(k . x) + b_k sin(k . x),   a_k, b_k ~ U(-1, 1) / |k|,

over integer wavevectors ``1 <= |k|_inf <= modes`` (one of each +-k pair); a Dirichlet
problem on ``[0, pi]`` keeps only the sines (the odd extension vanishes at 0 and pi).

- Linear equations (advection, heat, advdiff2d) are solved exactly: each mode is shifted
  by ``a t`` and damped by ``exp(-nu |k|^2 t)``, evaluated at any node set.
- Burgers and the reaction-diffusion system are solved pseudo-spectrally on a fine uniform
  grid (``resolution`` points, 2/3 de-aliasing) with ETDRK4 (Kassam & Trefethen, SIAM J.
  Sci. Comput. 26, 2005) at an internal step of at most `MAX_INTERNAL_STEP`, then
  interpolated exactly (as trigonometric polynomials) to the nodes. ``tests/test_pde.py``
  checks Burgers against an independent method-of-lines solution (4th-order finite
  differences, adaptive RK45); ``bench/pde.py`` checks both against py-pde.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .equations import DIRICHLET, Equation

MAX_INTERNAL_STEP = 2e-3  # time units; ETDRK4 error at this step is far below the data's
CONTOUR_POINTS = 32  # Kassam-Trefethen contour for the ETDRK4 coefficients


@dataclass(frozen=True)
class FourierSeries:
    """Real Fourier series ``sum_j cos[s, f, j] cos(k_j . x) + sin[s, f, j] sin(k_j . x)``
    per sample ``s`` and field ``f``, over integer wavevectors ``k_j`` (``(J, dim)``)."""

    wavevectors: np.ndarray  # (J, dim) int
    cos: np.ndarray  # (samples, fields, J)
    sin: np.ndarray  # (samples, fields, J)

    @property
    def samples(self) -> int:
        return self.cos.shape[0]

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values at ``points`` (``(N,)`` or ``(N, dim)``): ``(samples, N, fields)``."""
        points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
        phase = points @ self.wavevectors.T.astype(np.float64)  # (N, J)
        values = np.einsum("sfj,nj->snf", self.cos, np.cos(phase))
        values += np.einsum("sfj,nj->snf", self.sin, np.sin(phase))
        return values

    def evolve_linear(self, velocity, nu: float, t: float) -> FourierSeries:
        """The exact solution of ``u_t + velocity . grad u = nu lap u`` at time ``t``."""
        k = self.wavevectors.astype(np.float64)
        theta = k @ np.atleast_1d(np.asarray(velocity, dtype=np.float64)) * t  # (J,)
        decay = np.exp(-nu * np.sum(k * k, axis=1) * t)
        c, s = np.cos(theta) * decay, np.sin(theta) * decay
        return FourierSeries(
            self.wavevectors, self.cos * c - self.sin * s, self.cos * s + self.sin * c
        )


def wavevectors(dim: int, modes: int) -> np.ndarray:
    """Integer wavevectors with ``1 <= |k|_inf <= modes``, one of each ``+-k`` pair."""
    if dim == 1:
        return np.arange(1, modes + 1).reshape(-1, 1)
    grid = [(kx, ky) for kx in range(-modes, modes + 1) for ky in range(-modes, modes + 1)]
    half = [(kx, ky) for kx, ky in grid if kx > 0 or (kx == 0 and ky > 0)]
    return np.asarray(half, dtype=np.int64)


def random_initial_conditions(
    equation: Equation, boundary: str, modes: int, count: int, rng: np.random.Generator
) -> FourierSeries:
    """``count`` random Fourier series (see the module docstring), one per field."""
    k = wavevectors(equation.dim, modes)
    amplitude = 1.0 / np.linalg.norm(k, axis=1)
    shape = (count, len(equation.fields), len(k))
    cos = rng.uniform(-1.0, 1.0, shape) * amplitude
    sin = rng.uniform(-1.0, 1.0, shape) * amplitude
    if boundary == DIRICHLET:
        cos = np.zeros_like(cos)  # odd about 0 and pi: u(0) = u(pi) = 0
    return FourierSeries(k, cos, sin)


# ---- pseudo-spectral ETDRK4 on a fine periodic grid ------------------------------------


def etdrk4_coefficients(rates: np.ndarray, step: float):
    """``exp(hL)``, ``exp(hL/2)`` and the ETDRK4 weights ``Q, f1, f2, f3`` for the diagonal
    linear rates ``L`` (any shape, real), by the contour mean of Kassam & Trefethen."""
    hl = step * rates
    roots = np.exp(1j * np.pi * (np.arange(1, CONTOUR_POINTS + 1) - 0.5) / CONTOUR_POINTS)
    lr = hl[..., None] + roots
    q = step * np.real(np.mean((np.exp(lr / 2) - 1) / lr, axis=-1))
    f1 = step * np.real(np.mean((-4 - lr + np.exp(lr) * (4 - 3 * lr + lr**2)) / lr**3, axis=-1))
    f2 = step * np.real(np.mean((2 + lr + np.exp(lr) * (lr - 2)) / lr**3, axis=-1))
    f3 = step * np.real(np.mean((-4 - 3 * lr - lr**2 + np.exp(lr) * (4 - lr)) / lr**3, axis=-1))
    return np.exp(hl), np.exp(hl / 2), q, f1, f2, f3


@dataclass(frozen=True)
class SpectralProblem:
    """``u_t = L u + N(u)`` on a ``2*pi``-periodic grid of ``resolution`` points.

    ``rates``: ``(fields,)`` diffusivities (``L = -rate * k^2`` per field);
    ``nonlinear(u_grid, k)``: the transform of ``N`` given grid values ``(B, F, M)``.
    """

    resolution: int
    rates: tuple[float, ...]
    nonlinear: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @property
    def grid(self) -> np.ndarray:
        return 2 * np.pi * np.arange(self.resolution) / self.resolution

    @property
    def wavenumbers(self) -> np.ndarray:
        return np.fft.rfftfreq(self.resolution, 1.0 / self.resolution)

    def solve(self, u0: np.ndarray, dt: float, steps: int) -> np.ndarray:
        """Grid snapshots every ``dt``: ``(B, steps + 1, F, M)`` from ``u0`` ``(B, F, M)``."""
        k = self.wavenumbers
        substeps = max(1, math.ceil(dt / MAX_INTERNAL_STEP - 1e-9))
        h = dt / substeps
        rates = -np.asarray(self.rates, dtype=np.float64)[:, None] * k**2  # (F, K)
        e, e2, q, f1, f2, f3 = etdrk4_coefficients(rates, h)
        keep = (k < self.resolution / 3).astype(np.float64)  # 2/3 de-aliasing of N

        def n_hat(v):
            return keep * self.nonlinear(np.fft.irfft(v, n=self.resolution), k)

        v = np.fft.rfft(np.asarray(u0, dtype=np.float64))
        snapshots = [np.fft.irfft(v, n=self.resolution)]
        for _ in range(steps):
            for _ in range(substeps):
                nv = n_hat(v)
                a = e2 * v + q * nv
                na = n_hat(a)
                b = e2 * v + q * na
                nb = n_hat(b)
                c = e2 * a + q * (2 * nb - nv)
                nc = n_hat(c)
                v = e * v + nv * f1 + 2 * (na + nb) * f2 + nc * f3
            snapshots.append(np.fft.irfft(v, n=self.resolution))
        return np.stack(snapshots, axis=1)

    def interpolate(self, values: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Exact trigonometric interpolation of grid values ``(..., M)`` at ``points``."""
        m = self.resolution
        coefficients = np.fft.rfft(values) / m
        weights = np.full(coefficients.shape[-1], 2.0)
        weights[0] = 1.0
        if m % 2 == 0:
            weights[-1] = 1.0  # the Nyquist mode appears once
        basis = np.exp(1j * np.outer(self.wavenumbers, np.asarray(points).reshape(-1)))
        return np.real((coefficients * weights) @ basis)


def spectral_resolution(equation: Equation, params: dict, nodes: int) -> int:
    """Fine-grid points: resolve the thinnest layer (viscous shock ~ nu / |u|)."""
    diffusivity = params["nu"] if equation.name == "burgers" else params["du"]
    needed = max(256, 4 * nodes, 20.0 / diffusivity)
    return 1 << math.ceil(math.log2(needed))


def spectral_problem(equation: Equation, params: dict, nodes: int) -> SpectralProblem:
    resolution = spectral_resolution(equation, params, nodes)
    if equation.name == "burgers":

        def burgers(u, k):  # -u u_x = -(u^2 / 2)_x
            return -0.5j * k * np.fft.rfft(u * u)

        return SpectralProblem(resolution, (params["nu"],), burgers)
    if equation.name == "system":
        eps, gamma = params["eps"], params["gamma"]

        def fitzhugh_nagumo(fields, k):
            u, v = fields[:, 0], fields[:, 1]
            reaction = np.stack([u - u**3 - v, eps * (u - gamma * v)], axis=1)
            return np.fft.rfft(reaction)

        return SpectralProblem(resolution, (params["du"], params["dv"]), fitzhugh_nagumo)
    raise ValueError(f"{equation.name} has an exact solution; it needs no spectral solver")


def reference_trajectories(
    equation: Equation, params: dict, initial: FourierSeries, points: np.ndarray, steps: int
) -> np.ndarray:
    """``(samples, steps + 1, N, fields)``: the solution at ``points`` every ``dt``."""
    dt = params["dt"]
    if equation.linear:
        velocity, nu = linear_coefficients(equation, params)
        return np.stack(
            [
                initial.evolve_linear(velocity, nu, n * dt).evaluate(points)
                for n in range(steps + 1)
            ],
            axis=1,
        )
    problem = spectral_problem(equation, params, len(points))
    u0 = initial.evaluate(problem.grid).transpose(0, 2, 1)  # (B, F, M)
    grid_snapshots = problem.solve(u0, dt, steps)  # (B, T+1, F, M)
    nodal = problem.interpolate(grid_snapshots, points)  # (B, T+1, F, N)
    return np.moveaxis(nodal, 2, 3)


def linear_coefficients(equation: Equation, params: dict) -> tuple[tuple[float, ...], float]:
    """``(velocity, diffusivity)`` of a linear advection-diffusion equation."""
    if equation.name == "advection":
        return (params["a"],), 0.0
    if equation.name == "heat":
        return (0.0,), params["nu"]
    if equation.name == "advdiff2d":
        return (params["ax"], params["ay"]), params["nu"]
    raise ValueError(f"{equation.name} is not a linear advection-diffusion equation")
