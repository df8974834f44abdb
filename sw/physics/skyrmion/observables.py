"""Observables of a spin texture: topological charge, skyrmion radii, phase classification.

Topological charge (Berg and Lüscher, Nucl. Phys. B 190, 412 (1981)): the lattice is cut
into counter-clockwise triangles (i, j, k); each spans the signed solid angle

    tan(Omega / 2) = m_i . (m_j x m_k) / (1 + m_i . m_j + m_j . m_k + m_k . m_i)

on the unit sphere, and Q = sum Omega / (4 pi). With periodic boundaries Q is an exact
integer for any texture without singular triangles; it approximates the continuum
Q = (1 / 4 pi) int m . (d_x m x d_y m) dx dy, so a skyrmion with core -z in a +z
background has Q = -1 and the opposite polarity Q = +1.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..common import PhysicsInputError, check_choice
from .model import BOUNDARIES, LATTICES, SITE_AREA, SpinSystem, lattice_helix_period

PHASES = ("ferromagnet", "helix", "isolated skyrmions", "skyrmion lattice")

# Counter-clockwise triangles as index offsets from their base site (ix, iy).
_TRIANGLES = {
    "square": (((0, 0), (1, 0), (1, 1)), ((0, 0), (1, 1), (0, 1))),
    "triangular": (((0, 0), (1, 0), (0, 1)), ((1, 0), (1, 1), (0, 1))),
}


def _check_texture(m, lattice: str, boundary) -> tuple[np.ndarray, tuple[bool, bool]]:
    m = np.asarray(m, dtype=float)
    if m.ndim != 3 or m.shape[-1] != 3 or min(m.shape[:2]) < 2:
        raise PhysicsInputError(f"m must have shape (nx, ny, 3) with nx, ny >= 2, got {m.shape}")
    check_choice("lattice", lattice, LATTICES)
    pair = (boundary, boundary) if isinstance(boundary, str) else tuple(boundary)
    if len(pair) != 2 or any(b not in BOUNDARIES for b in pair):
        raise PhysicsInputError(f"boundary must be one of {BOUNDARIES} or a pair, got {boundary!r}")
    return m, (pair[0] == "periodic", pair[1] == "periodic")


def charge_density(m, lattice: str = "square", boundary="periodic") -> np.ndarray:
    """Solid angle / (4 pi) of every triangle, shape (2, nx', ny') (two per base site).

    With open boundaries triangles that would leave the box are dropped (nx' = nx - 1).
    """
    m, periodic = _check_texture(m, lattice, boundary)
    nx, ny = m.shape[:2]
    keep = (
        slice(None) if periodic[0] else slice(0, nx - 1),
        slice(None) if periodic[1] else slice(0, ny - 1),
    )
    out = []
    for triangle in _TRIANGLES[lattice]:
        a, b, c = (np.roll(m, (-dx, -dy), axis=(0, 1))[keep] for dx, dy in triangle)
        triple = np.einsum("...k,...k->...", a, np.cross(b, c))
        denominator = (
            1.0
            + np.einsum("...k,...k->...", a, b)
            + np.einsum("...k,...k->...", b, c)
            + np.einsum("...k,...k->...", c, a)
        )
        out.append(2.0 * np.arctan2(triple, denominator) / (4.0 * math.pi))
    return np.stack(out)


def topological_charge(m, lattice: str = "square", boundary="periodic") -> float:
    """Berg-Lüscher topological charge Q of spins m (nx, ny, 3); see the module docstring."""
    return float(charge_density(m, lattice, boundary).sum())


def _cartesian(points_ij: np.ndarray, lattice: str) -> np.ndarray:
    """Index coordinates (ix, iy) -> Cartesian (x, y)."""
    if lattice == "square":
        return points_ij
    return np.stack(
        [points_ij[..., 0] + 0.5 * points_ij[..., 1], points_ij[..., 1] * math.sqrt(3.0) / 2],
        axis=-1,
    )


def _tile(field: np.ndarray, periodic: tuple[bool, bool]) -> tuple[np.ndarray, tuple[int, int]]:
    """3 x 3 periodic copies along periodic axes; returns the tiled array and the offset
    of the central copy, so that objects crossing the box edge appear whole once."""
    reps = (3 if periodic[0] else 1, 3 if periodic[1] else 1)
    tiled = np.tile(field, reps)
    offset = (field.shape[0] if periodic[0] else 0, field.shape[1] if periodic[1] else 0)
    return tiled, offset


def _reference_axis(m: np.ndarray) -> np.ndarray:
    """Direction of the net magnetization, or +z when it is too small to define one."""
    mean = m.reshape(-1, 3).mean(axis=0)
    norm = np.linalg.norm(mean)
    return mean / norm if norm > 1e-3 else np.array([0.0, 0.0, 1.0])


def skyrmion_radii(m, lattice: str = "square", boundary="periodic") -> np.ndarray:
    """Radii (lattice constants) of the closed m . n = 0 contours, n = net magnetization axis.

    Each closed contour of the component along the background is one reversed bubble (a
    skyrmion core); its radius is sqrt(area / pi), with the contour found by marching
    squares (contourpy) and mapped to Cartesian coordinates. Contours that wrap around a
    periodic box (helix stripes) are not closed and are ignored.
    """
    import contourpy

    m, periodic = _check_texture(m, lattice, boundary)
    nx, ny = m.shape[:2]
    along = m @ _reference_axis(m)
    tiled, (ox, oy) = _tile(along, periodic)
    ix, iy = np.meshgrid(np.arange(tiled.shape[0]), np.arange(tiled.shape[1]), indexing="ij")
    lines = contourpy.contour_generator(ix, iy, tiled).lines(0.0)
    radii = []
    for line in lines:
        if len(line) < 4 or not np.allclose(line[0], line[-1]):
            continue
        center = line[:-1].mean(axis=0)
        # Keep the copy whose center lies in the central tile.
        if not (ox <= center[0] < ox + nx and oy <= center[1] < oy + ny):
            continue
        # A skyrmion core is reversed at its centre; rings (skyrmionium) are not.
        ci, cj = int(round(center[0])) % tiled.shape[0], int(round(center[1])) % tiled.shape[1]
        if tiled[ci, cj] >= 0:
            continue
        xy = _cartesian(line, lattice)
        area = 0.5 * abs(np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1]))
        extent = np.ptp(line, axis=0)
        if extent[0] >= nx or extent[1] >= ny:
            continue
        radii.append(math.sqrt(area / math.pi))
    return np.array(sorted(radii))


def domain_census(system: SpinSystem, m) -> dict:
    """Reversed domains (sites with m . n < 0, n the net magnetization axis) and their charge.

    Periodic copies are handled by labelling a 3 x 3 tiling: a domain longer than the box
    wraps around it (a helix stripe); a compact domain is counted once, by the copy whose
    centre lies in the central tile. Each triangle's charge goes to the nearest reversed
    domain (a Voronoi partition), so a skyrmion's bubble carries |Q| ~ 1 while a stripe, a
    skyrmionium ring or a non-topological bubble carries ~0.

    Returns counts and area fractions of the box: "skyrmions" (bubbles with |Q| > 1/2,
    elongation below 2.5 : 1 and no holes), "skyrmion_area", "other_area" (stripes and
    everything else reversed), "domains" (all reversed domains).
    """
    m = system.check_spins(m, "m")
    nx, ny = system.shape
    reversed_ = (m @ _reference_axis(m)) < 0
    periodic = system.periodic
    tiled, (ox, oy) = _tile(reversed_, periodic)
    # Neighbours in index space: the triangular lattice adds the (+1, -1) diagonal.
    if system.lattice == "square":
        structure = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    else:
        structure = np.array([[0, 1, 1], [1, 1, 1], [1, 1, 0]])
    labels, _ = ndimage.label(tiled, structure=structure)
    census = {"domains": 0, "skyrmions": 0, "skyrmion_area": 0.0, "other_area": 0.0}
    if not reversed_.any():
        return census
    # Charge per base site (open boundaries: the last row/column has no triangles).
    density = charge_density(m, system.lattice, system.boundary).sum(axis=0)
    per_site = np.zeros((nx, ny))
    per_site[: density.shape[0], : density.shape[1]] = density
    tiled_charge, _ = _tile(per_site, periodic)
    nearest = ndimage.distance_transform_edt(~tiled, return_distances=False, return_indices=True)
    owner = labels[nearest[0], nearest[1]]
    domain_charge = np.bincount(owner.ravel(), weights=tiled_charge.ravel())
    central = np.zeros(tiled.shape, dtype=bool)
    central[ox : ox + nx, oy : oy + ny] = True
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        ii, jj = np.nonzero(labels[sl] == index)
        ii, jj = ii + sl[0].start, jj + sl[1].start
        if sl[0].stop - sl[0].start > nx or sl[1].stop - sl[1].start > ny:
            # Wraps around the periodic box: a stripe; count its sites in the central tile.
            census["domains"] += 1
            census["other_area"] += np.count_nonzero(central[ii, jj]) / (nx * ny)
            continue
        if not (ox <= ii.mean() < ox + nx and oy <= jj.mean() < oy + ny):
            continue  # another periodic copy of a domain counted by its central copy
        census["domains"] += 1
        xy = _cartesian(np.stack([ii, jj], axis=-1).astype(float), system.lattice)
        elongation = 1.0
        if len(ii) >= 3:
            eig = np.linalg.eigvalsh(np.cov(xy.T) + 1e-9 * np.eye(2))
            elongation = math.sqrt(eig[1] / eig[0])
        mask = labels[sl] == index
        # A skyrmion core is a simply connected bubble; a ring around an up core is not.
        holes = np.count_nonzero(ndimage.binary_fill_holes(mask)) - len(ii)
        if elongation <= 2.5 and holes <= 0.05 * len(ii) and abs(domain_charge[index]) > 0.5:
            census["skyrmions"] += 1
            census["skyrmion_area"] += len(ii) / (nx * ny)
        else:
            census["other_area"] += len(ii) / (nx * ny)
    return census


def classify_state(system: SpinSystem, m) -> str:
    """Name the texture: one of PHASES (from `domain_census`).

    - "ferromagnet": no site points against the net magnetization.
    - "helix": the reversed area is mostly not skyrmion bubbles: helix/spiral stripes,
      labyrinths, rings.
    - otherwise "skyrmion lattice" if the area per skyrmion is below 3 A_hex, with
      A_hex = (2 / sqrt 3) L^2 the hexagonal cell of the triple-q lattice built from the
      zero-field helix period L, else "isolated skyrmions".
    """
    census = domain_census(system, m)
    if census["domains"] == 0:
        return "ferromagnet"
    if census["skyrmions"] == 0 or census["other_area"] >= census["skyrmion_area"]:
        return "helix"
    period = lattice_helix_period(system.J, system.D, system.lattice)
    hexagonal_cell = 2.0 / math.sqrt(3.0) * period**2
    area_per_skyrmion = system.area / census["skyrmions"]
    if area_per_skyrmion < 3.0 * hexagonal_cell:
        return "skyrmion lattice"
    return "isolated skyrmions"


def texture_summary(system: SpinSystem, m) -> dict:
    """Energy, magnetization, Q, radii, domains and phase of a texture (plain values)."""
    m = system.check_spins(m, "m")
    radii = skyrmion_radii(m, system.lattice, system.boundary)
    return {
        "energy": system.energy(m),
        "energy_per_site": system.energy(m) / system.n_sites,
        "magnetization": [float(v) for v in m.reshape(-1, 3).mean(axis=0)],
        "topological_charge": topological_charge(m, system.lattice, system.boundary),
        "skyrmion_radii": [float(r) for r in radii],
        "phase": classify_state(system, m),
        "domains": domain_census(system, m),
        "chirality": system.chirality(m),
    }


__all__ = [
    "PHASES",
    "SITE_AREA",
    "charge_density",
    "classify_state",
    "domain_census",
    "skyrmion_radii",
    "texture_summary",
    "topological_charge",
]
