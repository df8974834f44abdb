"""Radial grids: a 4th-order finite-difference Laplacian and matching quadrature.

Conventions
-----------
A radial function ``u(|x|)`` on R^N is stored at the cell centres of a grid in an
auxiliary coordinate ``xi``::

    xi_i = (i - 1/2) h,   i = 1..M,        r_i = phi(xi_i),   phi(xi) = c sinh(xi / c).

``h`` is the grid spacing at the origin (``dr/dxi = 1`` there) and ``c`` (``stretch``)
is the length beyond which the cells grow geometrically, so one grid resolves a narrow
core and a long exponential tail. ``stretch=None`` gives the uniform grid ``r = xi``.
Because ``phi`` is odd and ``u`` is even in ``r``, ``u`` is even in ``xi``: the points
mirrored through the origin are the ghost values of the finite-difference stencils,
so the grid never evaluates anything at ``r = 0``. Outside ``r_max`` the function is
taken to be zero (the domain is chosen so that the profiles are ~1e-15 there).

All integrals are over the whole of R^N: ``integrate(f) = sum(weights * f)``
approximates ``|S^(N-1)| * int_0^inf f(r) r^(N-1) dr``. Lengths are in whatever unit
the equation is written in (the solver uses the units of the PDE directly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.interpolate import CubicSpline
from scipy.linalg import solve_banded

# Centred 5-point stencils on a uniform xi grid (offsets -2..2): O(h^4) accurate.
_FIRST_DERIVATIVE = np.array([1.0, -8.0, 0.0, 8.0, -1.0]) / 12.0
_SECOND_DERIVATIVE = np.array([-1.0, 16.0, -30.0, 16.0, -1.0]) / 12.0

# Euler-Maclaurin end corrections of the midpoint rule at xi = 0 for an integrand that is
# odd in xi (N even): I = h*sum(G) - h^2/24 G'(0) + 7 h^4/5760 G'''(0) + O(h^6), with
# G'(0) = (27 G1 - G2) / (12 h) and G'''(0) = (2 G2 - 6 G1) / h^3 from the odd extension.
_ODD_END_CORRECTION = (
    -27.0 / 288.0 - 42.0 / 5760.0,  # on the first cell
    1.0 / 288.0 + 14.0 / 5760.0,  # on the second cell
)


def sphere_area(dim: int) -> float:
    """Area of the unit sphere S^(dim-1) in R^dim (2 for dim = 1: the points +-1)."""
    return 2.0 * math.pi ** (dim / 2) / math.gamma(dim / 2)


@dataclass(frozen=True, eq=False)
class RadialGrid:
    """A cell-centred radial grid in dimension ``dim`` (see the module docstring).

    Parameters
    ----------
    dim:
        Space dimension N (1..4).
    spacing:
        ``h``, the cell size at the origin, in length units.
    r_max:
        Outer radius of the domain; the profiles are taken as zero beyond it.
    stretch:
        ``c`` in ``r = c sinh(xi / c)``; ``None`` for a uniform grid.
    """

    dim: int
    spacing: float
    r_max: float
    stretch: float | None = None

    def __post_init__(self) -> None:
        if self.dim not in (1, 2, 3, 4):
            raise ValueError(f"dim must be 1, 2, 3 or 4 (got {self.dim!r})")
        if not (self.spacing > 0 and self.r_max > 4 * self.spacing):
            raise ValueError(
                f"need spacing > 0 and r_max > 4*spacing (got {self.spacing}, {self.r_max})"
            )
        if self.stretch is not None and not self.stretch > 0:
            raise ValueError(f"stretch must be positive or None (got {self.stretch})")

    # ---- geometry -------------------------------------------------------------------

    @classmethod
    def for_scales(
        cls,
        dim: int,
        core_length: float,
        decay_length: float,
        *,
        refinement: float = 1.0,
        cells_per_core: float = 60.0,
        decay_lengths: float = 38.0,
    ) -> RadialGrid:
        """The default grid for a profile of core width ``core_length`` that decays like
        ``exp(-r / decay_length)``: ``cells_per_core * refinement`` cells per core width at
        the origin, stretched beyond ~2 core widths, out to ``decay_lengths`` decay lengths
        (so the profile is ~1e-16 of its peak at ``r_max``)."""
        spacing = core_length / (cells_per_core * refinement)
        r_max = max(decay_lengths * decay_length, 12.0 * core_length)
        return cls(dim, spacing, r_max, stretch=2.0 * core_length)

    @cached_property
    def xi_max(self) -> float:
        """The domain end in the xi coordinate."""
        if self.stretch is None:
            return self.r_max
        return self.stretch * math.asinh(self.r_max / self.stretch)

    @cached_property
    def size(self) -> int:
        """Number of cells M."""
        return max(8, math.ceil(self.xi_max / self.spacing))

    @cached_property
    def xi(self) -> np.ndarray:
        return (np.arange(self.size) + 0.5) * self.spacing

    def _phi(self, xi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """r = phi(xi) and its first two derivatives."""
        if self.stretch is None:
            return xi.copy(), np.ones_like(xi), np.zeros_like(xi)
        c = self.stretch
        return c * np.sinh(xi / c), np.cosh(xi / c), np.sinh(xi / c) / c

    def xi_of_r(self, r: np.ndarray) -> np.ndarray:
        """The inverse map xi(r)."""
        r = np.asarray(r, dtype=float)
        if self.stretch is None:
            return r
        return self.stretch * np.arcsinh(r / self.stretch)

    @cached_property
    def r(self) -> np.ndarray:
        """Radii of the cell centres."""
        return self._phi(self.xi)[0]

    @cached_property
    def cell_width(self) -> np.ndarray:
        """Local spacing dr/dxi * h at each point."""
        return self._phi(self.xi)[1] * self.spacing

    # ---- operators ------------------------------------------------------------------

    @cached_property
    def weights(self) -> np.ndarray:
        """Quadrature weights: sum(weights * f) ~ integral of f over R^N (O(h^4) or better).

        For odd N the integrand f(r) r^(N-1) dr/dxi is even in xi and the midpoint rule is
        exact up to exponentially small terms; for even N it is odd and needs the
        Euler-Maclaurin end correction."""
        r, dr_dxi, _ = self._phi(self.xi)
        jacobian = r ** (self.dim - 1) * dr_dxi
        weights = sphere_area(self.dim) * self.spacing * jacobian
        if self.dim % 2 == 0:
            weights[0] *= 1.0 + _ODD_END_CORRECTION[0]
            weights[1] *= 1.0 + _ODD_END_CORRECTION[1]
        return weights

    def integrate(self, values: np.ndarray) -> float:
        """Integral over R^N of a radial function given at the grid points."""
        return float(np.dot(self.weights, values))

    @cached_property
    def _laplacian_stencil(self) -> np.ndarray:
        """Coefficients (M, 5) of the radial Laplacian on offsets -2..2 before folding."""
        r, dr_dxi, d2r_dxi2 = self._phi(self.xi)
        h = self.spacing
        # u_rr + (N-1)/r u_r with u_r = u_xi / phi', u_rr = u_xixi / phi'^2 - phi'' u_xi / phi'^3
        second = 1.0 / dr_dxi**2
        first = -d2r_dxi2 / dr_dxi**3 + (self.dim - 1) / (r * dr_dxi)
        return (
            second[:, None] * _SECOND_DERIVATIVE[None, :] / h**2
            + first[:, None] * _FIRST_DERIVATIVE[None, :] / h
        )

    @cached_property
    def laplacian(self) -> sp.csr_matrix:
        """The radial Laplacian u'' + (N-1)/r u' as a sparse (M, M) matrix, O(h^4).

        Ghost values inside the origin fold back by evenness (index -1 -> 0, -2 -> 1);
        values beyond r_max are zero."""
        size = self.size
        stencil = self._laplacian_stencil
        rows, cols, vals = [], [], []
        for k, offset in enumerate(range(-2, 3)):
            row = np.arange(size)
            col = row + offset
            col = np.where(col < 0, -col - 1, col)  # mirror through the origin
            keep = col < size  # zero beyond r_max
            rows.append(row[keep])
            cols.append(col[keep])
            vals.append(stencil[keep, k])
        matrix = sp.coo_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(size, size),
        )
        return matrix.tocsr()  # duplicates from the folding are summed

    @cached_property
    def laplacian_banded(self) -> np.ndarray:
        """The Laplacian in LAPACK band storage (2 sub-, 2 super-diagonals) for solve_banded."""
        dense_band = np.zeros((5, self.size))
        coo = self.laplacian.tocoo()
        dense_band[2 + coo.row - coo.col, coo.col] = coo.data
        return dense_band

    def solve_shifted(self, shift: float, rhs: np.ndarray) -> np.ndarray:
        """Solve (-Δ + shift) x = rhs (banded LU, O(M))."""
        band = -self.laplacian_banded
        band[2] += shift
        return solve_banded((2, 2), band, rhs)

    # ---- transfer -------------------------------------------------------------------

    def interpolate(self, values: np.ndarray, r_new: np.ndarray) -> np.ndarray:
        """Cubic-spline value of the even radial function ``values`` at radii ``r_new``
        (zero beyond r_max). Accurate to O(h^4)."""
        values = np.asarray(values, dtype=float)
        ghosts = 3
        xi_nodes = np.concatenate(
            [-self.xi[ghosts - 1 :: -1], self.xi, self.xi[-1] + self.spacing * np.arange(1, 3)]
        )
        node_values = np.concatenate([values[ghosts - 1 :: -1], values, np.zeros(2)])
        spline = CubicSpline(xi_nodes, node_values)
        xi_new = self.xi_of_r(np.abs(r_new))
        return np.where(xi_new < xi_nodes[-1], spline(np.minimum(xi_new, xi_nodes[-1])), 0.0)

    def dilate(self, values: np.ndarray, factor: float) -> np.ndarray:
        """The mass-preserving dilation t^(N/2) u(t r) of a profile, with t = ``factor``."""
        return factor ** (self.dim / 2) * self.interpolate(values, factor * self.r)

    def transfer(self, values: np.ndarray, other: RadialGrid) -> np.ndarray:
        """A profile given on this grid, sampled on ``other``."""
        return self.interpolate(values, other.r)

    def describe(self) -> str:
        stretch = "uniform" if self.stretch is None else f"stretch {self.stretch:.3g}"
        return f"{self.size} cells, h = {self.spacing:.3g}, r_max = {self.r_max:.3g}, {stretch}"
