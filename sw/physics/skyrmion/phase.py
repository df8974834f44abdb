"""Phase diagram over (D, B) and the skyrmion-lattice field window.

Each point relaxes several initial states (ferromagnet, helix, skyrmion lattice, random)
and keeps the one with the lowest energy per site. Helix and skyrmion-lattice periods
depend on D and B, and a periodic box forces its own; the box is therefore sized from
the zero-field helix period L (a rectangle of n x n sqrt(3) skyrmion spacings 2L/sqrt(3)
on the square lattice, which also holds 2n helix periods, or an n x n rhombus on the
triangular one) and stretched by several `box_scales`; the lowest energy per site over
all boxes and initial states wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..common import PhysicsInputError, check_count, check_range
from .model import SpinSystem, lattice_helix_period
from .observables import PHASES
from .solvers import State, relax
from .states import INITIAL_STATES, initial_state

DEFAULT_INITIAL_STATES = ("ferromagnet", "helix", "skyrmion-lattice", "random")


def commensurate_shape(
    D: float, *, J: float = 1.0, lattice: str = "square", cells: int = 1, scale: float = 1.0
) -> tuple[int, int]:
    """Box (nx, ny) holding `cells` x `cells` hexagonal skyrmion-lattice cells of spacing
    scale * 2L/sqrt(3) (square lattice: 2 cells^2 skyrmions and 2 cells helix periods)."""
    if D == 0:
        raise PhysicsInputError("D must be nonzero to size a box from the helix period")
    check_count("cells", cells, 1, 16)
    check_range("scale", scale, 0.25, 4.0)
    spacing = 2.0 * lattice_helix_period(J, D, lattice) / math.sqrt(3.0) * scale
    if lattice == "square":
        return max(3, round(cells * spacing)), max(3, round(cells * math.sqrt(3.0) * spacing))
    n = max(3, round(cells * spacing))
    return n, n


def lowest_energy_state(
    system: SpinSystem,
    initial_states=DEFAULT_INITIAL_STATES,
    *,
    seed: int = 0,
    torque_tol: float = 1e-6,
    max_iter: int = 100_000,
) -> tuple[State, str, dict[str, State]]:
    """Relax each named initial state; return the lowest-energy state, its name, and all."""
    results = {}
    for kind in initial_states:
        m0 = initial_state(system, kind, seed=seed)
        results[kind] = relax(system, m0, torque_tol=torque_tol, max_iter=max_iter)
    best = min(results, key=lambda k: results[k].energy)
    return results[best], best, results


@dataclass
class PhaseDiagram:
    """Result of `phase_diagram`: arrays indexed [i_D, i_B]."""

    D_values: np.ndarray
    B_values: np.ndarray
    phase: np.ndarray  # str, one of PHASES
    energy_per_site: np.ndarray
    topological_charge: np.ndarray
    initial_state: np.ndarray  # str: which initial state relaxed to the winner
    box_shape: np.ndarray  # (nD, nB, 2) the winning box
    parameters: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> PhaseDiagram:
        """Inverse of `to_dict` (e.g. to re-plot a saved diagram)."""
        return cls(
            D_values=np.array(data["D_values"], dtype=float),
            B_values=np.array(data["B_values"], dtype=float),
            phase=np.array(data["phase"], dtype=str),
            energy_per_site=np.array(data["energy_per_site"], dtype=float),
            topological_charge=np.array(data["topological_charge"], dtype=float),
            initial_state=np.array(data["initial_state"], dtype=str),
            box_shape=np.array(data["box_shape"], dtype=int),
            parameters=dict(data.get("parameters", {})),
        )

    def to_dict(self) -> dict:
        return {
            "D_values": self.D_values.tolist(),
            "B_values": self.B_values.tolist(),
            "phase": self.phase.tolist(),
            "energy_per_site": self.energy_per_site.tolist(),
            "topological_charge": self.topological_charge.tolist(),
            "initial_state": self.initial_state.tolist(),
            "box_shape": self.box_shape.tolist(),
            "parameters": self.parameters,
        }


def _check_values(name: str, values) -> np.ndarray:
    values = np.atleast_1d(np.asarray(values, dtype=float))
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise PhysicsInputError(f"{name} must be a nonempty 1D sequence of finite numbers")
    return values


def phase_diagram(
    D_values,
    B_values,
    *,
    J: float = 1.0,
    K: float = 0.0,
    lattice: str = "square",
    cells: int = 1,
    box_scales=(1.0, 1.15, 1.3),
    initial_states=DEFAULT_INITIAL_STATES,
    seed: int = 0,
    torque_tol: float = 1e-6,
    max_iter: int = 100_000,
    progress: bool = False,
) -> PhaseDiagram:
    """Ground-state phase over a grid of DMI strengths D and fields B (lattice units of J).

    D_values: nonzero DMI values; B_values: Zeeman energies per spin. For each (D, B) every
    initial state in `initial_states` is relaxed in every box of `box_scales` (see the
    module docstring) and the lowest energy per site is kept; its texture is classified.
    """
    D_values = _check_values("D_values", D_values)
    B_values = _check_values("B_values", B_values)
    if np.any(D_values == 0):
        raise PhysicsInputError(
            "D_values must be nonzero (the boxes are sized by the helix period)"
        )
    unknown = [k for k in initial_states if k not in INITIAL_STATES]
    if unknown or not initial_states:
        raise PhysicsInputError(f"initial_states must be a nonempty subset of {INITIAL_STATES}")
    box_scales = _check_values("box_scales", box_scales)
    shape = (D_values.size, B_values.size)
    phase = np.empty(shape, dtype=object)
    energy = np.full(shape, np.inf)
    charge = np.zeros(shape)
    winner = np.empty(shape, dtype=object)
    boxes = np.zeros((*shape, 2), dtype=int)
    total = D_values.size * B_values.size * box_scales.size
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="phase diagram", unit="box")
    for i, D in enumerate(D_values):
        for scale in box_scales:
            box = commensurate_shape(D, J=J, lattice=lattice, cells=cells, scale=scale)
            for j, B in enumerate(B_values):
                system = SpinSystem(box, lattice=lattice, J=J, D=D, K=K, B=B)
                best, kind, _ = lowest_energy_state(
                    system, initial_states, seed=seed, torque_tol=torque_tol, max_iter=max_iter
                )
                if best.energy_per_site < energy[i, j]:
                    energy[i, j] = best.energy_per_site
                    phase[i, j] = best.phase
                    charge[i, j] = best.topological_charge
                    winner[i, j] = kind
                    boxes[i, j] = box
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return PhaseDiagram(
        D_values=D_values,
        B_values=B_values,
        phase=phase.astype(str),
        energy_per_site=energy,
        topological_charge=charge,
        initial_state=winner.astype(str),
        box_shape=boxes,
        parameters=dict(
            J=J,
            K=K,
            lattice=lattice,
            cells=cells,
            box_scales=box_scales.tolist(),
            initial_states=list(initial_states),
            seed=seed,
            torque_tol=torque_tol,
        ),
    )


@dataclass
class FieldWindow:
    """Energies per site along a field sweep and the transitions read off them.

    helix_to_lattice: field where the skyrmion lattice drops below the helix.
    lattice_to_ferromagnet: field where the saturated state drops below the lattice.
    lattice_collapse: lowest swept field at which a relaxed skyrmion lattice unwinds to
    the ferromagnet (the end of its metastability on this lattice), or None.
    """

    D: float
    B_values: np.ndarray
    helix: np.ndarray  # energy per site, lowest over boxes (nan where it unwound)
    skyrmion_lattice: np.ndarray  # idem
    ferromagnet: np.ndarray  # exact
    helix_to_lattice: float | None
    lattice_to_ferromagnet: float | None
    lattice_collapse: float | None


def _first_crossing(B: np.ndarray, difference: np.ndarray) -> float | None:
    """First B where `difference` changes sign from > 0 to <= 0, linearly interpolated."""
    for k in range(len(B) - 1):
        a, b = difference[k], difference[k + 1]
        if np.isfinite(a) and np.isfinite(b) and a > 0 >= b:
            return float(B[k] + (B[k + 1] - B[k]) * a / (a - b))
    return None


def skyrmion_lattice_window(
    D: float,
    B_values,
    *,
    J: float = 1.0,
    K: float = 0.0,
    lattice: str = "square",
    cells: int = 1,
    box_scales=(1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.4, 1.5),
    torque_tol: float = 1e-7,
    progress: bool = False,
) -> FieldWindow:
    """Sweep B (increasing) at fixed D; compare helix, skyrmion lattice and ferromagnet.

    Each texture is relaxed in every box of `box_scales`, so that its period can follow
    the field; the lowest energy per site is kept. A texture that unwinds (the helix to
    Q = 0 ferromagnet, the lattice to Q = 0) is not counted as that texture.
    """
    B_values = np.sort(_check_values("B_values", B_values))
    box_scales = _check_values("box_scales", box_scales)
    helix = np.full(B_values.size, np.nan)
    lattice_energy = np.full(B_values.size, np.nan)
    ferro = np.zeros(B_values.size)
    collapse = None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=B_values.size * box_scales.size, desc=f"field sweep D={D:g}")
    for j, B in enumerate(B_values):
        unwound_everywhere = True
        for scale in box_scales:
            box = commensurate_shape(D, J=J, lattice=lattice, cells=cells, scale=scale)
            system = SpinSystem(box, lattice=lattice, J=J, D=D, K=K, B=B)
            ferro[j] = system.ferromagnet_energy() / system.n_sites
            for kind, store in (("helix", helix), ("skyrmion-lattice", lattice_energy)):
                state = relax(system, initial_state(system, kind), torque_tol=torque_tol)
                if state.phase == "ferromagnet":
                    continue
                if kind == "skyrmion-lattice":
                    if abs(state.topological_charge) < 0.5:
                        continue
                    unwound_everywhere = False
                if not state.energy_per_site >= store[j]:  # also replaces nan
                    store[j] = state.energy_per_site
            if bar is not None:
                bar.update(1)
        if unwound_everywhere and collapse is None:
            collapse = float(B)
    if bar is not None:
        bar.close()
    return FieldWindow(
        D=D,
        B_values=B_values,
        helix=helix,
        skyrmion_lattice=lattice_energy,
        ferromagnet=ferro,
        helix_to_lattice=_first_crossing(B_values, lattice_energy - helix),
        lattice_to_ferromagnet=_first_crossing(B_values, ferro - lattice_energy),
        lattice_collapse=collapse,
    )


__all__ = [
    "DEFAULT_INITIAL_STATES",
    "PHASES",
    "FieldWindow",
    "PhaseDiagram",
    "commensurate_shape",
    "lowest_energy_state",
    "phase_diagram",
    "skyrmion_lattice_window",
]
