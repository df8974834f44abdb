"""The spin model: exchange, interfacial (Néel) DMI, uniaxial anisotropy, Zeeman; SI units.

Energy of unit spins m_i on a 2D square or triangular lattice (lattice constant 1):

    E = sum_<ij> [ -J m_i . m_j  +  D_ij . (m_i x m_j) ]  -  K sum_i (m_i^z)^2  -  B sum_i m_i^z

with every nearest-neighbour bond counted once and the interfacial (C_nv) DMI vector
D_ij = D (z x r_ij), r_ij the unit vector from site i to site j. J > 0 is ferromagnetic,
K > 0 an easy axis along z, B the Zeeman energy per spin (mu_s * mu_0 H). All four are
energies in one common unit (lattice units: usually J = 1).

Arrays: the public functions take spins as ``m[ix, iy, component]`` of shape (nx, ny, 3).
Internally the solvers keep ``s[component, ix, iy]`` (component first) so that each
component is a contiguous 2D array; `to_internal` / `from_internal` convert.

Sites are indexed by (ix, iy) at Cartesian position ix * a1 + iy * a2 with a1 = (1, 0) and
a2 = (0, 1) (square) or (1/2, sqrt(3)/2) (triangular, a 60-degree rhombic box).

Temperature (``thermal.py``) is k_B T in the same energy unit. `SpinSystem.from_micromagnetic`
and ``materials.py`` convert SI material parameters (A, D, K, Ms, B, T) to lattice units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from ..common import PhysicsInputError, check_choice, check_count, check_positive, check_range

LATTICES = ("square", "triangular")
BOUNDARIES = ("periodic", "open")

# Primitive vectors and the nearest-neighbour bonds, each counted once: index offset
# (dx, dy) from site i to its neighbour j.
_PRIMITIVE = {
    "square": ((1.0, 0.0), (0.0, 1.0)),
    "triangular": ((1.0, 0.0), (0.5, math.sqrt(3.0) / 2.0)),
}
_BOND_SHIFTS = {
    "square": ((1, 0), (0, 1)),
    "triangular": ((1, 0), (0, 1), (-1, 1)),
}
# Area of one lattice site (Wigner-Seitz cell) in units of the lattice constant squared.
SITE_AREA = {"square": 1.0, "triangular": math.sqrt(3.0) / 2.0}


@dataclass(frozen=True)
class Bond:
    """One family of nearest-neighbour bonds: every site i to site i + shift."""

    shift: tuple[int, int]
    vector: tuple[float, float]  # unit vector r_ij, Cartesian
    mask: np.ndarray | None  # 1.0 where the bond exists (open edges), None if everywhere


@dataclass(frozen=True)
class MicromagneticUnits:
    """How a system built from micromagnetic parameters maps back to SI.

    Lattice energies are in units of ``energy`` (joules, = the exchange J), lengths in
    units of ``length`` (metres, = the cell size).
    """

    energy: float
    length: float
    thickness: float
    A: float
    D: float
    K_eff: float
    Ms: float
    B_tesla: float


def _parse_boundary(boundary) -> tuple[str, str]:
    """'periodic', 'open', or one of them per axis as a pair."""
    pair = (boundary, boundary) if isinstance(boundary, str) else tuple(boundary)
    if len(pair) != 2:
        raise PhysicsInputError(
            f"boundary must be one of {BOUNDARIES} or a pair of them (x, y), got {boundary!r}"
        )
    for value in pair:
        check_choice("boundary", value, BOUNDARIES)
    return pair  # type: ignore[return-value]


def _parse_shape(shape, boundary: tuple[str, str]) -> tuple[int, int]:
    pair = (shape, shape) if np.isscalar(shape) else tuple(shape)
    if len(pair) != 2:
        raise PhysicsInputError(f"shape must be an int or a pair (nx, ny), got {shape!r}")
    out = []
    for axis, (n, b) in enumerate(zip(pair, boundary, strict=True)):
        low = 3 if b == "periodic" else 1  # a periodic axis needs distinct neighbours
        out.append(check_count(f"shape[{axis}] ({b} axis)", n, low, 4096))
    return out[0], out[1]


class SpinSystem:
    """A 2D lattice of unit spins and its couplings (see the module docstring for E).

    Parameters
    ----------
    shape: number of sites (nx, ny), or one int for a square box.
    lattice: "square" or "triangular".
    J: ferromagnetic exchange per bond, > 0 (the energy unit; default 1).
    D: interfacial DMI per bond; D > 0 and D < 0 give opposite Néel chiralities.
    K: uniaxial anisotropy per site (K > 0: easy axis z, K < 0: easy plane).
    B: Zeeman energy per site of a field along +z.
    boundary: "periodic", "open", or a pair (x axis, y axis).
    """

    def __init__(
        self,
        shape=64,
        *,
        lattice: str = "square",
        J: float = 1.0,
        D: float = 0.3,
        K: float = 0.0,
        B: float = 0.0,
        boundary="periodic",
    ):
        self.lattice = check_choice("lattice", lattice, LATTICES)
        self.boundary = _parse_boundary(boundary)
        self.shape = _parse_shape(shape, self.boundary)
        self.J = check_positive("J (ferromagnetic exchange)", J)
        self.D = check_range("D", D)
        self.K = check_range("K", K)
        self.B = check_range("B", B)
        self.units: MicromagneticUnits | None = None
        self.bonds = self._make_bonds()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_micromagnetic(
        cls,
        shape,
        *,
        A: float,
        D: float,
        cell_size: float,
        K_eff: float = 0.0,
        Ms: float = 0.0,
        B: float = 0.0,
        thickness: float | None = None,
        lattice: str = "square",
        boundary="periodic",
    ) -> SpinSystem:
        """Discretize a thin film given in micromagnetic (SI) parameters.

        A: exchange stiffness, J/m (> 0). D: interfacial DMI constant, J/m^2.
        K_eff: effective uniaxial anisotropy (shape anisotropy included), J/m^3.
        Ms: saturation magnetization, A/m (needed only when B != 0). B: mu_0 H, tesla.
        cell_size: lattice constant a, m. thickness: film thickness t, m (default a).

        The continuum energy density A (grad m)^2 + D (m_z div m - (m . grad) m_z)
        - K_eff m_z^2 - Ms B m_z is matched to the lattice to lowest order in a:
        square: J = 2 A t, D_lat = D a t; triangular: J = 2 A t / sqrt(3),
        D_lat = D a t / sqrt(3); both: K_lat = K_eff V, B_lat = Ms B V with V the site
        volume. The system is then expressed in units of J (so J = 1), and
        ``system.units`` keeps the joule and metre scales.
        """
        check_positive("A (J/m)", A)
        check_positive("cell_size (m)", cell_size)
        thickness = cell_size if thickness is None else thickness
        check_positive("thickness (m)", thickness)
        check_range("Ms (A/m)", Ms, 0.0)
        check_choice("lattice", lattice, LATTICES)
        geometry = 1.0 if lattice == "square" else math.sqrt(3.0)
        volume = SITE_AREA[lattice] * cell_size**2 * thickness
        J_joule = 2.0 * A * thickness / geometry
        D_joule = D * cell_size * thickness / geometry
        K_joule = K_eff * volume
        B_joule = Ms * B * volume
        system = cls(
            shape,
            lattice=lattice,
            J=1.0,
            D=D_joule / J_joule,
            K=K_joule / J_joule,
            B=B_joule / J_joule,
            boundary=boundary,
        )
        system.units = MicromagneticUnits(
            energy=J_joule,
            length=cell_size,
            thickness=thickness,
            A=A,
            D=D,
            K_eff=K_eff,
            Ms=Ms,
            B_tesla=B,
        )
        return system

    def with_couplings(self, **changes) -> SpinSystem:
        """A copy with some of shape, lattice, J, D, K, B, boundary replaced."""
        params = dict(
            shape=self.shape,
            lattice=self.lattice,
            J=self.J,
            D=self.D,
            K=self.K,
            B=self.B,
            boundary=self.boundary,
        )
        params.update(changes)
        shape = params.pop("shape")
        return SpinSystem(shape, **params)

    def _make_bonds(self) -> list[Bond]:
        nx, ny = self.shape
        bonds = []
        a1, a2 = _PRIMITIVE[self.lattice]
        for dx, dy in _BOND_SHIFTS[self.lattice]:
            vector = (dx * a1[0] + dy * a2[0], dx * a1[1] + dy * a2[1])
            mask = np.ones((nx, ny))
            # On an open axis the bond from the last (or first) row leaves the box.
            for axis, (d, n) in enumerate(((dx, nx), (dy, ny))):
                if self.boundary[axis] == "open" and d != 0:
                    index = [slice(None), slice(None)]
                    index[axis] = slice(n - 1, n) if d > 0 else slice(0, 1)
                    mask[tuple(index)] = 0.0
            if not mask.any():
                continue  # e.g. a one-site-wide open axis has no bonds along it
            bonds.append(Bond((dx, dy), vector, None if mask.all() else mask))
        return bonds

    # -- geometry -----------------------------------------------------------------------

    @property
    def n_sites(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def primitive_vectors(self) -> np.ndarray:
        """a1, a2 as rows of a (2, 2) array (Cartesian, lattice constant 1)."""
        return np.array(_PRIMITIVE[self.lattice])

    def positions(self) -> np.ndarray:
        """Cartesian site positions, shape (nx, ny, 2), lattice constant 1."""
        ix, iy = np.meshgrid(np.arange(self.shape[0]), np.arange(self.shape[1]), indexing="ij")
        a1, a2 = self.primitive_vectors
        return ix[..., None] * a1 + iy[..., None] * a2

    @property
    def area(self) -> float:
        """Area of the box in lattice constants squared."""
        return self.n_sites * SITE_AREA[self.lattice]

    @property
    def periodic(self) -> tuple[bool, bool]:
        return (self.boundary[0] == "periodic", self.boundary[1] == "periodic")

    def __repr__(self) -> str:
        return (
            f"SpinSystem(shape={self.shape}, lattice={self.lattice!r}, J={self.J:g}, "
            f"D={self.D:g}, K={self.K:g}, B={self.B:g}, boundary={self.boundary})"
        )

    # -- energy and effective field -------------------------------------------------------

    def check_spins(self, m, name: str = "m0") -> np.ndarray:
        """Validate an (nx, ny, 3) spin array and return it normalized to |m| = 1."""
        m = np.asarray(m, dtype=float)
        if m.shape != (*self.shape, 3):
            raise PhysicsInputError(f"{name} must have shape {(*self.shape, 3)}, got {m.shape}")
        norm = np.linalg.norm(m, axis=-1, keepdims=True)
        if not np.all(np.isfinite(norm)) or np.any(norm == 0):
            raise PhysicsInputError(f"{name} must be finite and nonzero at every site")
        return m / norm

    def field_internal(self, s: np.ndarray) -> np.ndarray:
        """Effective field H = -dE/dm for component-first spins s (3, nx, ny)."""
        J = self.J
        H = np.zeros_like(s)
        for bond in self.bonds:
            dx, dy = bond.shift
            # The DMI vector z x r_ij lies in the plane: (-r_y, r_x, 0) times D.
            ddx, ddy = -self.D * bond.vector[1], self.D * bond.vector[0]
            nb = np.roll(s, (-dx, -dy), axis=(1, 2))  # nb[:, i] = s[:, i + shift]
            # dE/dm_i of D.(m_i x m_j) is m_j x D, so site i feels J m_j + D x m_j ...
            forward = J * nb
            forward[0] += ddy * nb[2]
            forward[1] -= ddx * nb[2]
            forward[2] += ddx * nb[1] - ddy * nb[0]
            # ... and site j feels J m_i + m_i x D, computed at i and moved to j.
            backward = J * s
            backward[0] -= ddy * s[2]
            backward[1] += ddx * s[2]
            backward[2] -= ddx * s[1] - ddy * s[0]
            if bond.mask is not None:
                forward *= bond.mask
                backward *= bond.mask
            H += forward
            H += np.roll(backward, (dx, dy), axis=(1, 2))
        H[2] += 2.0 * self.K * s[2] + self.B
        return H

    def energy_from_field(self, s: np.ndarray, H: np.ndarray) -> float:
        """Total energy from the field of the same spins (E is quadratic plus linear)."""
        return float(-0.5 * np.sum(s * H) - 0.5 * self.B * np.sum(s[2]))

    def effective_field(self, m) -> np.ndarray:
        """H_i = -dE/dm_i, shape (nx, ny, 3), in energy units."""
        s = to_internal(np.asarray(m, dtype=float))
        return from_internal(self.field_internal(s))

    def energy(self, m) -> float:
        """Total energy E(m) in the system's energy unit."""
        s = to_internal(np.asarray(m, dtype=float))
        return self.energy_from_field(s, self.field_internal(s))

    def energy_terms(self, m) -> dict[str, float]:
        """The four terms of E computed directly, bond by bond (a check on `energy`)."""
        s = to_internal(np.asarray(m, dtype=float))
        exchange = dmi = 0.0
        for bond in self.bonds:
            nb = np.roll(s, (-bond.shift[0], -bond.shift[1]), axis=(1, 2))
            weight = 1.0 if bond.mask is None else bond.mask
            ddx, ddy = -self.D * bond.vector[1], self.D * bond.vector[0]
            cross_x = s[1] * nb[2] - s[2] * nb[1]
            cross_y = s[2] * nb[0] - s[0] * nb[2]
            exchange += float(np.sum(weight * -self.J * np.sum(s * nb, axis=0)))
            dmi += float(np.sum(weight * (ddx * cross_x + ddy * cross_y)))
        return {
            "exchange": exchange,
            "dmi": dmi,
            "anisotropy": float(-self.K * np.sum(s[2] ** 2)),
            "zeeman": float(-self.B * np.sum(s[2])),
        }

    def chirality(self, m) -> float:
        """Mean Néel chirality per bond: <(z x r_ij) . (m_i x m_j)>.

        The DMI energy is D times its sum, so a relaxed texture has chirality of the sign
        opposite to D; reversing D reverses it.
        """
        s = to_internal(np.asarray(m, dtype=float))
        total, count = 0.0, 0.0
        for bond in self.bonds:
            nb = np.roll(s, (-bond.shift[0], -bond.shift[1]), axis=(1, 2))
            weight = np.ones(self.shape) if bond.mask is None else bond.mask
            cross_x = s[1] * nb[2] - s[2] * nb[1]
            cross_y = s[2] * nb[0] - s[0] * nb[2]
            total += float(np.sum(weight * (-bond.vector[1] * cross_x + bond.vector[0] * cross_y)))
            count += float(weight.sum())
        return total / count

    def ferromagnet_energy(self) -> float:
        """Energy of the uniform state along +z (exact; the saturated reference)."""
        m = np.zeros((*self.shape, 3))
        m[..., 2] = 1.0
        return self.energy(m)


def to_internal(m: np.ndarray) -> np.ndarray:
    """(nx, ny, 3) -> contiguous (3, nx, ny)."""
    return np.ascontiguousarray(np.moveaxis(m, -1, 0))


def from_internal(s: np.ndarray) -> np.ndarray:
    """(3, nx, ny) -> contiguous (nx, ny, 3)."""
    return np.ascontiguousarray(np.moveaxis(s, 0, -1))


def lattice_helix_period(J: float, D: float, lattice: str = "square") -> float:
    """Period (lattice constants) of the zero-field Néel helix on the infinite lattice.

    A planar cycloid along x with wave number q has energy per site
    sum_bonds [-J cos(q r_x) - |D| r_x sin(q r_x)]; on the square lattice its minimum is at
    tan q = |D| / J. For |D| << J both lattices give the continuum period 4 pi A / D.
    """
    check_choice("lattice", lattice, LATTICES)
    check_positive("J", J)
    if D == 0:
        return math.inf
    a1, a2 = _PRIMITIVE[lattice]
    rx = [dx * a1[0] + dy * a2[0] for dx, dy in _BOND_SHIFTS[lattice]]

    def energy_per_site(q: float) -> float:
        return sum(-J * math.cos(q * r) - abs(D) * r * math.sin(q * r) for r in rx)

    result = minimize_scalar(
        energy_per_site, bounds=(1e-9, math.pi), method="bounded", options={"xatol": 1e-12}
    )
    return 2.0 * math.pi / result.x
