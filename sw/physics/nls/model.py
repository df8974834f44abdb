"""The discretized system: parameters, their validation, functionals, residual, Jacobian.

The equations (radial, in R^N), for ``k = 2`` components ``(u, v)``::

    -Δu + λ1 u = μ1 |u|^(p-2) u + β v,
    -Δv + λ2 v = μ2 |v|^(q-2) v + β u,        ∫u² = a,  ∫v² = b.

The same code handles one component (``k = 1``: ``-Δu + λ u = μ |u|^(p-2) u``), which is
the scalar limit used for validation. Profiles are stacked as an array ``U`` of shape
``(k, M)`` on a :class:`~sw.physics.nls.grid.RadialGrid`.

Functionals (all integrals over R^N)::

    E(u, v) = 1/2 ∫|∇u|² + |∇v|² - μ1/p ∫|u|^p - μ2/q ∫|v|^q - β ∫uv      (energy)
    P(u, v) = ∫|∇u|² + |∇v|² - μ1 γp ∫|u|^p - μ2 γq ∫|v|^q,  γp = N(p-2)/(2p)  (Pohozaev)

``P`` is the derivative of ``E`` along the mass-preserving dilation ``t^(N/2) u(t x)``
(which leaves ``∫uv`` unchanged), so every solution has ``P = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..common import PhysicsInputError, check_count, check_range
from .grid import RadialGrid


def sobolev_exponent(dim: int) -> float:
    """2* = 2N/(N-2) for N >= 3, infinity for N = 1, 2."""
    return math.inf if dim <= 2 else 2.0 * dim / (dim - 2)


def mass_critical_exponent(dim: int) -> float:
    """2 + 4/N: below it the energy is bounded below on the mass constraint."""
    return 2.0 + 4.0 / dim


def gamma(dim: int, exponent: float) -> float:
    """γp = N(p-2)/(2p): ∫|u_t|^p = t^(p γp) ∫|u|^p under u_t = t^(N/2) u(t x)."""
    return dim * (exponent - 2.0) / (2.0 * exponent)


def check_dimension(dim: int) -> int:
    """N in 1..4 (the radial grid's range; the paper's theorem covers 2..4)."""
    return check_count("N", dim, 1, 4)


def check_exponent(name: str, exponent: float, dim: int) -> float:
    """Valid range: 2 < p <= 2* (2* = 2N/(N-2) for N = 3, 4; no upper bound for N = 1, 2)."""
    critical = sobolev_exponent(dim)
    try:
        return check_range(
            name, exponent, 2.0, None if math.isinf(critical) else critical, low_open=True
        )
    except PhysicsInputError as error:
        if dim >= 3:
            error.args = (f"{error} (2* = 2N/(N-2) = {critical:g} for N = {dim})",)
        raise


@dataclass(frozen=True)
class Model:
    """Parameters of a k-component problem (k = 1 or 2) on a grid.

    ``exponents``, ``mus`` have one entry per component; ``beta`` couples u and v linearly
    (ignored for k = 1). Validation of user input happens in the public functions; this
    class assumes valid parameters.
    """

    grid: RadialGrid
    exponents: tuple[float, ...]
    mus: tuple[float, ...]
    beta: float = 0.0

    @property
    def components(self) -> int:
        return len(self.exponents)

    @property
    def dim(self) -> int:
        return self.grid.dim

    def on_grid(self, grid: RadialGrid) -> Model:
        return Model(grid, self.exponents, self.mus, self.beta)

    # ---- pointwise terms --------------------------------------------------------------

    def nonlinearity(self, U: np.ndarray) -> np.ndarray:
        """μ_j |u_j|^(p_j - 2) u_j, shape (k, M)."""
        return np.stack(
            [
                mu * np.abs(u) ** (p - 2.0) * u
                for u, p, mu in zip(U, self.exponents, self.mus, strict=True)
            ]
        )

    def nonlinearity_derivative(self, U: np.ndarray) -> np.ndarray:
        """(p_j - 1) μ_j |u_j|^(p_j - 2), shape (k, M)."""
        return np.stack(
            [
                (p - 1.0) * mu * np.abs(u) ** (p - 2.0)
                for u, p, mu in zip(U, self.exponents, self.mus, strict=True)
            ]
        )

    def coupling(self, U: np.ndarray) -> np.ndarray:
        """β times the other component, shape (k, M) (zero for k = 1)."""
        if self.components == 1:
            return np.zeros_like(U)
        return self.beta * U[::-1]

    def laplacian(self, U: np.ndarray) -> np.ndarray:
        return np.stack([self.grid.laplacian @ u for u in U])

    # ---- functionals ------------------------------------------------------------------

    def masses(self, U: np.ndarray) -> np.ndarray:
        return np.array([self.grid.integrate(u * u) for u in U])

    def kinetic(self, U: np.ndarray) -> np.ndarray:
        """∫|∇u_j|² per component, as -∫ u Δu (the boundary terms vanish)."""
        return np.array([-self.grid.integrate(u * (self.grid.laplacian @ u)) for u in U])

    def potential(self, U: np.ndarray) -> np.ndarray:
        """∫|u_j|^(p_j) per component."""
        return np.array(
            [self.grid.integrate(np.abs(u) ** p) for u, p in zip(U, self.exponents, strict=True)]
        )

    def overlap(self, U: np.ndarray) -> float:
        """∫ u v (zero for k = 1)."""
        return 0.0 if self.components == 1 else self.grid.integrate(U[0] * U[1])

    def energy(self, U: np.ndarray) -> float:
        kinetic, potential = self.kinetic(U), self.potential(U)
        nonlinear = sum(
            mu / p * b for mu, p, b in zip(self.mus, self.exponents, potential, strict=True)
        )
        return 0.5 * kinetic.sum() - nonlinear - self.beta * self.overlap(U)

    def gammas(self) -> np.ndarray:
        return np.array([gamma(self.dim, p) for p in self.exponents])

    def pohozaev(self, U: np.ndarray) -> tuple[float, float]:
        """(P, ∫|∇u|² + |∇v|²): the Pohozaev functional and the scale it is measured on."""
        kinetic = self.kinetic(U).sum()
        nonlinear = float(np.sum(np.array(self.mus) * self.gammas() * self.potential(U)))
        return kinetic - nonlinear, kinetic

    def fibre_derivative(self, kinetic: float, potentials: np.ndarray, t: float) -> float:
        """d/dt E(u_t) * t = P(u_t) for u_t = t^(N/2) u(t x), from the integrals of u."""
        powers = np.array(self.exponents) * self.gammas()
        return t * t * kinetic - float(
            np.sum(np.array(self.mus) * self.gammas() * potentials * t**powers)
        )

    # ---- equations --------------------------------------------------------------------

    def residual(self, U: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
        """F(U, λ) = -ΔU + λU - f(U) - βŪ, shape (k, M)."""
        return (
            -self.laplacian(U)
            + np.asarray(lambdas)[:, None] * U
            - self.nonlinearity(U)
            - self.coupling(U)
        )

    def relative_residual(self, U: np.ndarray, lambdas: np.ndarray) -> float:
        """max_j ||F_j||_inf / (sum of the sup norms of the terms of equation j).

        Scale-free: 1 means no balance at all, 1e-12 is round-off."""
        terms = (
            np.abs(self.laplacian(U)).max(axis=1)
            + np.abs(np.asarray(lambdas)) * np.abs(U).max(axis=1)
            + np.abs(self.nonlinearity(U)).max(axis=1)
            + np.abs(self.coupling(U)).max(axis=1)
        )
        return float(np.max(np.abs(self.residual(U, lambdas)).max(axis=1) / terms))

    def jacobian(self, U: np.ndarray, lambdas: np.ndarray) -> sp.csc_matrix:
        """dF/dU at fixed λ: a sparse (kM, kM) matrix."""
        size = self.grid.size
        lap = self.grid.laplacian
        slopes = self.nonlinearity_derivative(U)
        blocks = [[None] * self.components for _ in range(self.components)]
        for j in range(self.components):
            blocks[j][j] = -lap + sp.diags(lambdas[j] - slopes[j])
        if self.components == 2:
            blocks[0][1] = blocks[1][0] = -self.beta * sp.identity(size)
        return sp.bmat(blocks, format="csc")

    def linear_operator(self, lambdas: np.ndarray) -> sp.csc_matrix:
        """L_λ = [[-Δ + λ1, -β], [-β, -Δ + λ2]], so that F(U) = L_λ U - f(U)."""
        return self.jacobian(np.zeros((self.components, self.grid.size)), lambdas)

    def normalize(self, U: np.ndarray, masses: np.ndarray) -> np.ndarray:
        """U rescaled component-wise to the given masses."""
        return U * np.sqrt(np.asarray(masses) / self.masses(U))[:, None]

    def admissible(self, lambdas: np.ndarray) -> bool:
        """λ for which solutions decay: λ_j > 0 and λ1 λ2 > β²."""
        return bool(np.all(np.asarray(lambdas) > 0)) and math.isfinite(self.decay_rate(lambdas))

    def decay_rate(self, lambdas: np.ndarray) -> float:
        """κ: profiles decay like exp(-κ r) (see :func:`decay_rate`)."""
        return decay_rate(lambdas, self.beta)


def smallest_eigenvalue(lambdas, beta: float) -> float:
    """κ², the smaller eigenvalue of [[λ1, -β], [-β, λ2]] (λ for one component).

    Written as (λ1 λ2 - β²) / e₊ with e₊ = the larger eigenvalue, so that the only
    cancellation left is the one in λ1 λ2 - β² itself (a tiny gap stays accurate
    relative to that difference, not to λ)."""
    lambdas = np.atleast_1d(np.asarray(lambdas, dtype=float))
    if lambdas.size == 1:
        return float(lambdas[0])
    larger = 0.5 * (lambdas[0] + lambdas[1]) + math.hypot(0.5 * (lambdas[0] - lambdas[1]), beta)
    return float((lambdas[0] * lambdas[1] - beta * beta) / larger)


def decay_rate(lambdas, beta: float) -> float:
    """κ with u, v ~ exp(-κ r): sqrt of :func:`smallest_eigenvalue`; NaN when that is not
    positive (no decaying solution: λ_j <= 0 or λ1 λ2 <= β²)."""
    smallest = smallest_eigenvalue(lambdas, beta)
    positive = bool(np.all(np.asarray(lambdas) > 0)) and smallest > 0
    return math.sqrt(smallest) if positive else math.nan
