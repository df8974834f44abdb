"""Initial spin configurations: uniform, random, one skyrmion, a skyrmion lattice, a helix.

Every function returns unit spins of shape (nx, ny, 3) for a given `SpinSystem`. Textures
whose rotation sense matters (skyrmions, helices) take the sense the system's DMI favours
unless told otherwise, so that a relaxation starts near the right minimum.
"""

from __future__ import annotations

import math

import numpy as np

from ..common import PhysicsInputError, check_choice
from .model import SpinSystem, lattice_helix_period

INITIAL_STATES = ("ferromagnet", "random", "skyrmion", "skyrmion-lattice", "helix")


def _normalize(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=-1, keepdims=True)


def uniform_state(system: SpinSystem, direction=(0.0, 0.0, 1.0)) -> np.ndarray:
    """All spins along `direction` (normalized)."""
    direction = np.asarray(direction, dtype=float)
    if direction.shape != (3,) or not np.linalg.norm(direction) > 0:
        raise PhysicsInputError(f"direction must be a nonzero 3-vector, got {direction!r}")
    return np.broadcast_to(direction / np.linalg.norm(direction), (*system.shape, 3)).copy()


def random_state(system: SpinSystem, seed: int = 0) -> np.ndarray:
    """Independent spins uniform on the sphere (seeded, reproducible)."""
    rng = np.random.default_rng(seed)
    return _normalize(rng.normal(size=(*system.shape, 3)))


def add_noise(m: np.ndarray, amplitude: float, seed: int = 0) -> np.ndarray:
    """Tilt every spin by a random vector of size ~ `amplitude`, then renormalize."""
    rng = np.random.default_rng(seed)
    return _normalize(m + amplitude * rng.normal(size=m.shape))


def _displacements(system: SpinSystem, center) -> np.ndarray:
    """Cartesian vectors from `center` to every site, shape (nx, ny, 2).

    On periodic axes the nearest periodic image of the center is used.
    """
    positions = system.positions()
    nx, ny = system.shape
    a1, a2 = system.primitive_vectors
    box = np.array([nx * a1, ny * a2])  # supercell vectors
    shifts = [
        (i, j)
        for i in ((-1, 0, 1) if system.periodic[0] else (0,))
        for j in ((-1, 0, 1) if system.periodic[1] else (0,))
    ]
    best = None
    for i, j in shifts:
        d = positions - (np.asarray(center, dtype=float) + i * box[0] + j * box[1])
        if best is None:
            best = d
        else:
            closer = np.sum(d**2, axis=-1) < np.sum(best**2, axis=-1)
            best = np.where(closer[..., None], d, best)
    return best


def _wall_profile(rho: np.ndarray, radius: float, width: float) -> np.ndarray:
    """Polar angle of a 360-degree domain wall: theta(0) = pi, theta(radius) = pi/2."""
    with np.errstate(divide="ignore"):
        return 2.0 * np.arctan2(np.sinh(radius / width), np.sinh(rho / width))


def _texture(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1
    )


def _favoured_sign(system: SpinSystem, build) -> np.ndarray:
    """Of build(+1) and build(-1), the texture with the lower DMI energy."""
    plus, minus = build(1.0), build(-1.0)
    if system.energy_terms(minus)["dmi"] < system.energy_terms(plus)["dmi"]:
        return minus
    return plus


def skyrmion_state(
    system: SpinSystem,
    radius: float = 5.0,
    *,
    center=None,
    helicity: float | None = None,
    wall_width: float | None = None,
) -> np.ndarray:
    """One skyrmion, core along -z in a +z background, m_z = 0 at distance `radius`.

    radius, wall_width in lattice constants (wall_width defaults to radius / 2).
    helicity: in-plane angle of the wall spins relative to the radial direction
    (0 or pi: Néel, +-pi/2: Bloch); None takes the Néel sense the DMI favours.
    """
    if not radius > 0:
        raise PhysicsInputError(f"radius must be > 0 lattice constants, got {radius}")
    width = radius / 2.0 if wall_width is None else wall_width
    if not width > 0:
        raise PhysicsInputError(f"wall_width must be > 0 lattice constants, got {width}")
    if center is None:
        center = system.positions().reshape(-1, 2).mean(axis=0)
    d = _displacements(system, center)
    rho = np.hypot(d[..., 0], d[..., 1])
    theta = _wall_profile(rho, radius, width)
    azimuth = np.arctan2(d[..., 1], d[..., 0])
    if helicity is not None:
        return _texture(theta, azimuth + helicity)
    return _favoured_sign(system, lambda sign: _texture(theta, azimuth + (1 - sign) * math.pi / 2))


def _lattice_centers(system: SpinSystem, spacing: float) -> np.ndarray:
    """Centers of a (near-)hexagonal lattice of spacing ~`spacing` that fits the box."""
    nx, ny = system.shape
    centers = []
    if system.lattice == "triangular":
        # The rhombic box is spanned by 60-degree vectors: a hexagonal lattice fits exactly.
        a1, a2 = system.primitive_vectors
        n1, n2 = max(1, round(nx / spacing)), max(1, round(ny / spacing))
        for i in range(n1):
            for j in range(n2):
                centers.append(((i + 0.5) * nx / n1) * a1 + ((j + 0.5) * ny / n2) * a2)
    else:
        # Rows along x, an even number of them so that the ABAB stacking closes
        # periodically; of the nearby (rows, per_row) pairs take the least distorted.
        row_spacing = math.sqrt(3.0) / 2.0 * spacing
        half_rows = ny / (2.0 * row_spacing)
        candidates = [
            (2 * r, c)
            for r in {max(1, math.floor(half_rows)), max(1, math.ceil(half_rows))}
            for c in {max(1, math.floor(nx / spacing)), max(1, math.ceil(nx / spacing))}
        ]

        def distortion(pair):
            rows, per_row = pair
            return math.log(nx / per_row / spacing) ** 2 + math.log(ny / rows / row_spacing) ** 2

        rows, per_row = min(sorted(candidates), key=distortion)
        dx, dy = nx / per_row, ny / rows
        for r in range(rows):
            for c in range(per_row):
                centers.append(((c + 0.25 + 0.5 * (r % 2)) * dx, (r + 0.5) * dy))
    return np.array(centers)


def skyrmion_lattice_state(
    system: SpinSystem,
    spacing: float | None = None,
    *,
    radius: float | None = None,
    helicity: float | None = None,
) -> np.ndarray:
    """A hexagonal lattice of skyrmions (core -z) fitted to the box.

    spacing: distance between skyrmions in lattice constants; default 2 L / sqrt(3) with L
    the zero-field helix period (the triple-q lattice built from the helix wave number).
    radius: m_z = 0 radius of each skyrmion, default spacing / 4.
    """
    if spacing is None:
        spacing = 2.0 * lattice_helix_period(system.J, system.D, system.lattice) / math.sqrt(3.0)
    if not (math.isfinite(spacing) and spacing > 0):
        raise PhysicsInputError(f"spacing must be finite and > 0 (needs D != 0), got {spacing}")
    radius = spacing / 4.0 if radius is None else radius
    rho = np.full(system.shape, np.inf)
    azimuth = np.zeros(system.shape)
    for center in _lattice_centers(system, spacing):
        d = _displacements(system, center)
        r = np.hypot(d[..., 0], d[..., 1])
        closer = r < rho
        rho = np.where(closer, r, rho)
        azimuth = np.where(closer, np.arctan2(d[..., 1], d[..., 0]), azimuth)
    theta = _wall_profile(rho, radius, radius / 2.0)
    if helicity is not None:
        return _texture(theta, azimuth + helicity)
    return _favoured_sign(system, lambda sign: _texture(theta, azimuth + (1 - sign) * math.pi / 2))


def helix_state(system: SpinSystem, period: float | None = None, direction=None) -> np.ndarray:
    """A Néel helix (cycloid: spins turn in the plane of z and the wave vector).

    period: in lattice constants, default the zero-field lattice helix period; the wave
    vector is rounded to the nearest one the periodic box allows. direction: in-plane
    propagation direction (2-vector), default along the box's longer side.
    """
    if period is None:
        period = lattice_helix_period(system.J, system.D, system.lattice)
    if not (math.isfinite(period) and period > 0):
        raise PhysicsInputError(f"period must be finite and > 0 (needs D != 0), got {period}")
    nx, ny = system.shape
    a1, a2 = system.primitive_vectors
    if direction is None:
        direction = a2 if ny > nx else a1
    direction = np.asarray(direction, dtype=float)
    direction = direction / np.linalg.norm(direction)
    target = 2.0 * math.pi / period * direction
    # Reciprocal vectors of the box: (n_x a1) . b1 = 2 pi, (n_x a1) . b2 = 0, etc.
    box = np.array([nx * a1, ny * a2])
    reciprocal = 2.0 * math.pi * np.linalg.inv(box).T
    integers = np.linalg.solve(reciprocal.T, target)
    for axis in range(2):
        if system.periodic[axis]:
            integers[axis] = round(integers[axis])
    q = integers @ reciprocal
    phase = system.positions() @ q
    q_hat = q / np.linalg.norm(q)

    def build(sign: float) -> np.ndarray:
        in_plane = sign * np.sin(phase)[..., None] * np.array([q_hat[0], q_hat[1], 0.0])
        m = in_plane + np.cos(phase)[..., None] * np.array([0.0, 0.0, 1.0])
        return _normalize(m)

    return _favoured_sign(system, build)


def initial_state(system: SpinSystem, kind: str, seed: int = 0, noise: float = 0.0) -> np.ndarray:
    """One of INITIAL_STATES by name, optionally with seeded noise of size `noise`."""
    check_choice("initial state", kind, INITIAL_STATES)
    if kind == "ferromagnet":
        m = uniform_state(system)
    elif kind == "random":
        m = random_state(system, seed)
    elif kind == "skyrmion":
        period = lattice_helix_period(system.J, system.D, system.lattice)
        radius = min(period / 4.0, min(system.shape) / 6.0) if math.isfinite(period) else 3.0
        m = skyrmion_state(system, radius=max(radius, 1.5))
    elif kind == "skyrmion-lattice":
        m = skyrmion_lattice_state(system)
    else:
        m = helix_state(system)
    return add_noise(m, noise, seed) if noise > 0 else m
