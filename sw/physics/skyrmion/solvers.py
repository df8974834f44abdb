"""The two engines: energy minimization on the sphere and the Landau-Lifshitz-Gilbert equation.

`relax` follows the projected-gradient method with Barzilai-Borwein steps of Exl et al.
(J. Appl. Phys. 115, 17D118 (2014)): the descent direction is the tangent gradient
g = m x (m x H) (|g| = |m x H| is the torque), each step is followed by renormalization,
and the step length alternates between the two BB formulas. A cap on the largest rotation
per step keeps the non-monotone BB steps from jumping over energy barriers (a metastable
skyrmion must not be unwound by a single long step). Convergence is declared on the
torque: max_i |m_i x H_i| < torque_tol (energy units).

`llg` integrates, in lattice units (gamma = 1, time in units of hbar / J for spins of
length S = 1, i.e. mu_s / (gamma_e J) in general),

    dm/dt = -1 / (1 + alpha^2) [ m x H + alpha m x (m x H) ]  =  omega(m) x m,
    omega(m) = (H + alpha m x H) / (1 + alpha^2).

Both integrators advance m by a Cayley rotation, so |m| = 1 is kept to rounding:
- "midpoint": the implicit midpoint rule m1 = m0 + dt omega(mbar) x mbar, mbar = (m0+m1)/2,
  solved by fixed-point iteration. It conserves every quadratic invariant, so without
  damping the energy (quadratic in m) is conserved to the iteration tolerance, and with
  damping it decreases at every step by exactly dt alpha / (1 + alpha^2) |mbar x H(mbar)|^2.
- "sib": the semi-implicit scheme of Mentink et al. (J. Phys. Condens. Matter 22, 176001
  (2010)): one predictor and one corrector rotation; second order, two field evaluations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..common import PhysicsInputError, check_choice, check_count, check_positive, check_range
from .model import SpinSystem, from_internal, to_internal
from .observables import classify_state, skyrmion_radii, topological_charge

LLG_METHODS = ("midpoint", "sib")


@dataclass
class State:
    """A relaxed (or evolved) texture of `system` and how it was reached."""

    system: SpinSystem
    m: np.ndarray  # (nx, ny, 3) unit spins
    energy: float  # total energy, energy units of the system
    iterations: int
    converged: bool
    max_torque: float  # max_i |m_i x H_i| at the end, energy units
    energy_history: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    @property
    def energy_per_site(self) -> float:
        return self.energy / self.system.n_sites

    @property
    def magnetization(self) -> np.ndarray:
        """Mean spin (3,)."""
        return self.m.reshape(-1, 3).mean(axis=0)

    @cached_property
    def topological_charge(self) -> float:
        return topological_charge(self.m, self.system.lattice, self.system.boundary)

    @cached_property
    def phase(self) -> str:
        return classify_state(self.system, self.m)

    @cached_property
    def skyrmion_radii(self) -> np.ndarray:
        return skyrmion_radii(self.m, self.system.lattice, self.system.boundary)

    @property
    def chirality(self) -> float:
        return self.system.chirality(self.m)


def _tangent_gradient(s: np.ndarray, H: np.ndarray) -> np.ndarray:
    """g = m (m . H) - H = m x (m x H): the energy gradient projected on the sphere."""
    return s * np.sum(s * H, axis=0) - H


def relax(
    system: SpinSystem,
    m0,
    *,
    torque_tol: float = 1e-6,
    max_iter: int = 100_000,
    max_angle: float = 0.2,
    record_energy: bool = False,
    progress: bool = False,
) -> State:
    """Minimize the energy from `m0` (nx, ny, 3) down to a local minimum.

    torque_tol: stop when max_i |m_i x H_i| < torque_tol (energy units, > 0).
    max_iter: iteration limit (>= 1); `State.converged` says whether the tolerance was met.
    max_angle: largest rotation of any spin in one step, radians, in (0, pi/2].
    record_energy: keep the energy after every step in `State.energy_history`.
    progress: show a tqdm bar of the torque.
    """
    check_positive("torque_tol", torque_tol)
    max_iter = check_count("max_iter", max_iter, 1)
    check_range("max_angle (radians)", max_angle, 0.0, math.pi / 2, low_open=True)
    s = to_internal(system.check_spins(m0))
    H = system.field_internal(s)
    g = _tangent_gradient(s, H)
    # A first step of ~0.01 rad at the largest torque; BB takes over afterwards.
    scale = max(system.J, abs(system.D), abs(system.K), abs(system.B))
    step = 0.1 / (8.0 * scale)
    history = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=int(max_iter), desc="relax", unit="it", leave=False)
    iterations, torque = 0, float(np.sqrt(np.max(np.sum(g * g, axis=0))))
    while torque >= torque_tol and iterations < max_iter:
        # Long BB steps are fine for the soft modes but are capped where spins turn fast.
        applied = min(step, max_angle / torque)
        s_new = s - applied * g
        s_new /= np.sqrt(np.sum(s_new * s_new, axis=0))
        H_new = system.field_internal(s_new)
        g_new = _tangent_gradient(s_new, H_new)
        ds, dg = s_new - s, g_new - g
        ds_dg = float(np.sum(ds * dg))
        if ds_dg > 0:
            # Alternate the two Barzilai-Borwein step lengths.
            if iterations % 2 == 0:
                step = float(np.sum(ds * ds)) / ds_dg
            else:
                step = ds_dg / float(np.sum(dg * dg))
        else:
            step = 1.0 / scale  # negative curvature along the step: take a moderate one
        s, H, g = s_new, H_new, g_new
        iterations += 1
        torque = float(np.sqrt(np.max(np.sum(g * g, axis=0))))
        if record_energy:
            history.append(system.energy_from_field(s, H))
        if bar is not None and iterations % 100 == 0:
            bar.update(100)
            bar.set_postfix(torque=f"{torque:.2e}")
    if bar is not None:
        bar.close()
    return State(
        system=system,
        m=from_internal(s),
        energy=system.energy_from_field(s, H),
        iterations=iterations,
        converged=torque < torque_tol,
        max_torque=torque,
        energy_history=np.array(history),
    )


@dataclass
class Trajectory:
    """Output of `llg`: observables at the requested times and the final spins."""

    times: np.ndarray  # (n,)
    energy: np.ndarray  # (n,) total energy
    magnetization: np.ndarray  # (n, 3) mean spin
    topological_charge: np.ndarray  # (n,)
    m_final: np.ndarray  # (nx, ny, 3)
    max_norm_error: float  # max over the run of | |m_i| - 1 |
    fixed_point_iterations: float  # mean per step ("midpoint"), 0 for "sib"
    states: np.ndarray | None = None  # (n, nx, ny, 3) if requested


def _cayley_rotate(s: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Solve (1 - [a x]) x = (1 + [a x]) s: rotation of s about a by 2 arctan |a|."""
    a2 = np.sum(a * a, axis=0)
    a_dot_s = np.sum(a * s, axis=0)
    a_cross_s = np.stack(
        [a[1] * s[2] - a[2] * s[1], a[2] * s[0] - a[0] * s[2], a[0] * s[1] - a[1] * s[0]]
    )
    return ((1.0 - a2) * s + 2.0 * a_cross_s + 2.0 * a_dot_s * a) / (1.0 + a2)


def _omega(system: SpinSystem, s: np.ndarray, damping: float, gamma: float) -> np.ndarray:
    """Rotation vector of the LLG equation, dm/dt = omega x m."""
    H = system.field_internal(s)
    s_cross_H = np.stack(
        [s[1] * H[2] - s[2] * H[1], s[2] * H[0] - s[0] * H[2], s[0] * H[1] - s[1] * H[0]]
    )
    return gamma / (1.0 + damping**2) * (H + damping * s_cross_H)


def llg(
    system: SpinSystem,
    m0,
    t,
    *,
    damping: float = 0.1,
    dt: float = 0.02,
    method: str = "midpoint",
    gamma: float = 1.0,
    midpoint_tol: float = 1e-13,
    max_fixed_point_iter: int = 200,
    record_states: bool = False,
    progress: bool = False,
) -> Trajectory:
    """Integrate the LLG equation from `m0` (nx, ny, 3).

    t: final time (observables recorded after every step), or an increasing sequence of
       output times >= 0 (time 0 is m0 itself); units hbar / J (see the module docstring).
    damping: Gilbert alpha >= 0. dt: largest time step, > 0; the steps between outputs are
    equal. method: "midpoint" or "sib". gamma: gyromagnetic factor > 0.
    midpoint_tol: fixed-point tolerance on max |m1 - m1_previous| for "midpoint".
    """
    check_choice("method", method, LLG_METHODS)
    check_range("damping", damping, 0.0)
    check_positive("dt", dt)
    check_positive("gamma", gamma)
    if np.ndim(t) == 0:
        check_positive("t (final time)", t)
        n_steps = math.ceil(t / dt - 1e-9)
        times = np.linspace(0.0, float(t), n_steps + 1)
    else:
        times = np.asarray(t, dtype=float)
        if times.ndim != 1 or times.size < 1 or times[0] < 0 or np.any(np.diff(times) <= 0):
            raise PhysicsInputError(
                "t must be a final time or an increasing 1D sequence of times >= 0"
            )
    s = to_internal(system.check_spins(m0))
    lattice, boundary = system.lattice, system.boundary
    energies, mags, charges, states = [], [], [], []
    current, norm_error, fp_total, n_steps_total = 0.0, 0.0, 0, 0

    def record():
        energies.append(system.energy_from_field(s, system.field_internal(s)))
        mags.append(s.reshape(3, -1).mean(axis=1))
        m = from_internal(s)
        charges.append(topological_charge(m, lattice, boundary))
        if record_states:
            states.append(m)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(times), desc="llg", unit="output", leave=False)
    for target in times:
        n = math.ceil((target - current) / dt - 1e-9)
        h = (target - current) / n if n > 0 else 0.0
        for _ in range(n):
            half = 0.5 * h
            predictor = _cayley_rotate(s, half * _omega(system, s, damping, gamma))
            if method == "sib":
                midpoint = 0.5 * (s + predictor)
                s = _cayley_rotate(s, half * _omega(system, midpoint, damping, gamma))
            else:
                s1, change, iterations = predictor, math.inf, 0
                while change >= midpoint_tol and iterations < max_fixed_point_iter:
                    midpoint = 0.5 * (s + s1)
                    s1_next = _cayley_rotate(s, half * _omega(system, midpoint, damping, gamma))
                    change = float(np.max(np.abs(s1_next - s1)))
                    s1 = s1_next
                    iterations += 1
                if change >= midpoint_tol:
                    raise RuntimeError(
                        f"implicit midpoint did not converge in {max_fixed_point_iter} "
                        f"iterations (last change {change:.2e}); reduce dt"
                    )
                fp_total += iterations
                s = s1
            n_steps_total += 1
        current = target
        norm_error = max(norm_error, float(np.max(np.abs(np.sqrt(np.sum(s * s, axis=0)) - 1))))
        record()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return Trajectory(
        times=times,
        energy=np.array(energies),
        magnetization=np.array(mags),
        topological_charge=np.array(charges),
        m_final=from_internal(s),
        max_norm_error=norm_error,
        fixed_point_iterations=fp_total / n_steps_total
        if method == "midpoint" and n_steps_total
        else 0.0,
        states=np.array(states) if record_states else None,
    )
