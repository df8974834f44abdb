"""Mean-field solver of the driven cavity-magnon system: steady states, stability, phases.

The equations of motion and their closed-form consequences (effective magnon, critical drive,
saddle node) live in ``model.py``. Steady states in closed form: the cavity equation gives
alpha = chi beta with chi = -g / (delta_a - i gamma_a/2); substituting, the magnon sees the
effective complex frequency w = Delta_eff - i Gamma_eff, so::

    (w + 2 K n) beta = -G beta*,        n = |beta|^2.

Besides beta = 0 (parity symmetric), taking the modulus gives
(Delta_eff + 2 K n)^2 + Gamma_eff^2 = G^2, i.e. n = (-Delta_eff +- sqrt(G^2 - Gamma_eff^2)) / (2K),
and beta^2 = -G n / (w + 2 K n) fixes the phase up to the parity pair beta <-> -beta.

* The zero state has a zero eigenvalue when a non-zero solution branches off it (n -> 0):
  G_c = sqrt(Delta_eff^2 + Gamma_eff^2), the pitchfork (critical) drive.
* If Delta_eff and K have the same sign the branch grows continuously from n = 0 above G_c
  (second order). If they have opposite signs both roots are positive for
  Gamma_eff < G < G_c: the lower (saddle) branch meets the zero state at G_c and the upper one
  ends at the saddle node G = Gamma_eff, so the system is bistable in between and jumps by
  n = -Delta_eff / K at G_c (first order, hysteresis).

Stability comes from the eigenvalues of the full 4x4 Jacobian (cavity included, so a Hopf
instability that the adiabatic elimination cannot see is caught). Time integration (DOP853)
confirms limit cycles and shows hysteresis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, root

from ..common import PhysicsInputError, check_positive, show_progress
from .model import (
    Coefficients,
    MagnonParams,
    check_drive,
    coefficients,
    critical_drive,
    drift_matrix,
    effective_magnon,
    jacobian,
    predicted_order,
    rhs,
    saddle_node_drive,
    sorted_eigenvalues,
    stack_coefficients,
)

# Relative margin below zero for calling an eigenvalue decaying (rounding noise is ~1e-16).
_STABILITY_TOLERANCE = 1e-12


# --------------------------------------------------------------------------- steady states


@dataclass(frozen=True, eq=False)
class Branch:
    """One mean-field steady state.

    Attributes:
        name: ``"zero"`` (parity symmetric), ``"upper"`` or ``"lower"`` (the larger / smaller
            magnon number when two non-zero solutions coexist; a lone one is ``"upper"``).
        parity: +1 or -1, which member of the pair (beta, -beta); +1 for the zero state.
        cavity: cavity amplitude alpha.
        magnon: magnon amplitude beta.
        eigenvalues: Jacobian eigenvalues (sorted by decreasing real part).
        stable: all eigenvalues decay.
    """

    name: str
    parity: int
    cavity: complex
    magnon: complex
    eigenvalues: np.ndarray
    stable: bool

    @property
    def magnon_number(self) -> float:
        return abs(self.magnon) ** 2

    @property
    def cavity_number(self) -> float:
        return abs(self.cavity) ** 2

    @property
    def growth_rate(self) -> float:
        """Largest real part of the eigenvalues (> 0: unstable)."""
        return float(self.eigenvalues[0].real)


def _nonzero_magnon_numbers(
    detuning: float, damping: float, kerr: float, gain: float
) -> list[tuple[str, float]]:
    """Positive roots n of (detuning + 2 K n)^2 + damping^2 = gain^2, named upper/lower."""
    if gain < damping:
        return []
    spread = math.sqrt((gain - damping) * (gain + damping))
    # gain^2 - damping^2 - detuning^2 = gain^2 - G_c^2, written to avoid cancellation near G_c
    critical = math.hypot(detuning, damping)
    beyond_threshold = (gain - critical) * (gain + critical)
    roots = set()
    for sign in (1.0, -1.0) if spread > 0 else (1.0,):
        if (-detuning) * (sign * spread) < 0:  # the two terms cancel: use the conjugate form
            n = beyond_threshold / (2 * kerr * (detuning + sign * spread))
        else:
            n = (-detuning + sign * spread) / (2 * kerr)
        if n > 0:
            roots.add(n)
    ordered = sorted(roots, reverse=True)
    return list(zip(("upper", "lower"), ordered, strict=False))


def is_stable(eigenvalues: np.ndarray, c: Coefficients) -> bool:
    """All eigenvalues decay (largest real part below a relative rounding margin)."""
    return bool(eigenvalues[0].real < -_STABILITY_TOLERANCE * c.rate_scale)


def steady_states(params: MagnonParams, drive: float) -> list[Branch]:
    """All mean-field steady states at drive strength ``drive``, in closed form.

    Returns the zero state first, then each non-zero solution as a parity pair (beta, -beta).
    Each carries its Jacobian eigenvalues and stability. The two members of a pair are related
    by the parity symmetry, so they share eigenvalues.
    """
    drive = check_drive(drive)
    c = coefficients(params, drive)
    effective = effective_magnon(params)
    zero_eigenvalues = sorted_eigenvalues(drift_matrix(c, 0j))
    branches = [Branch("zero", 1, 0j, 0j, zero_eigenvalues, is_stable(zero_eigenvalues, c))]
    for name, n in _nonzero_magnon_numbers(
        effective.detuning, effective.damping, params.kerr, c.gain
    ):
        shifted = complex(effective.detuning + 2 * params.kerr * n, -effective.damping)
        magnon = complex(np.sqrt(-c.gain * n / shifted))
        eigenvalues = sorted_eigenvalues(drift_matrix(c, magnon))
        stable = is_stable(eigenvalues, c)
        for parity in (1, -1):
            amplitude = parity * magnon
            branches.append(
                Branch(
                    name,
                    parity,
                    effective.cavity_response * amplitude,
                    amplitude,
                    eigenvalues,
                    stable,
                )
            )
    return branches


def find_steady_states_numerically(
    params: MagnonParams, drive: float, n_starts: int = 120, seed: int = 0
) -> list[tuple[complex, complex]]:
    """Independent cross-check: roots of the full (cavity + magnon) equations by Newton search.

    Runs scipy's ``hybr`` from the origin and from ``n_starts`` random starting points spread
    over magnon numbers up to twice the largest possible steady-state value, and returns the
    distinct converged (cavity, magnon) pairs.
    """
    drive = check_drive(drive)
    c = coefficients(params, drive)
    effective = effective_magnon(params)
    scale = c.rate_scale

    def real_system(y):
        d_cavity, d_magnon = rhs(c, complex(y[0], y[1]), complex(y[2], y[3]))
        values = np.array([d_cavity.real, d_cavity.imag, d_magnon.real, d_magnon.imag])
        # The drift matrix in (Re, Im) coordinates equals the one in (x, p): same scaling.
        return values, drift_matrix(c, complex(y[2], y[3]))

    rng = np.random.default_rng(seed)
    largest_n = (abs(effective.detuning) + c.gain) / abs(params.kerr)
    magnitudes = np.sqrt(rng.uniform(0, 2 * largest_n, n_starts))
    phases = rng.uniform(0, 2 * np.pi, n_starts)
    starts = [np.zeros(4)]
    for radius, phase in zip(magnitudes, phases, strict=True):
        magnon = radius * np.exp(1j * phase)
        cavity = effective.cavity_response * magnon * (1 + 0.3 * rng.standard_normal())
        starts.append(np.array([cavity.real, cavity.imag, magnon.real, magnon.imag]))

    found: list[tuple[complex, complex]] = []
    for start in starts:
        solution = root(real_system, start, jac=True, method="hybr", options={"xtol": 1e-13})
        values, _ = real_system(solution.x)
        if np.max(np.abs(values)) > 1e-9 * scale:
            continue
        pair = (complex(solution.x[0], solution.x[1]), complex(solution.x[2], solution.x[3]))
        tolerance = 1e-6 * (1 + abs(pair[1]))
        if all(abs(pair[1] - old[1]) > tolerance for old in found):
            found.append(pair)
    return sorted(found, key=lambda pair: (abs(pair[1]), np.angle(pair[1])))


@dataclass(frozen=True)
class ZeroStateInstability:
    """Where the zero state first becomes unstable, found numerically from the Jacobian.

    Attributes:
        drive: the smallest drive with a growing eigenvalue.
        kind: ``"pitchfork"`` (a real eigenvalue crosses zero: static symmetry breaking) or
            ``"hopf"`` (a complex pair crosses: self-oscillation).
        frequency: |Im| of the crossing eigenvalue (0 for a pitchfork).
    """

    drive: float
    kind: str
    frequency: float


def zero_state_instability(params: MagnonParams, n_scan: int = 400) -> ZeroStateInstability:
    """Numerical loss of stability of the zero state: scan the drive, then bisect (brentq)."""
    pitchfork = critical_drive(params)

    def growth(drive: float) -> float:
        return sorted_eigenvalues(jacobian(params, drive, 0j))[0].real

    drives = np.linspace(0.0, pitchfork * 1.5, n_scan)
    growths = np.array([growth(d) for d in drives])
    first = int(np.argmax(growths > 0))
    if growths[first] <= 0:  # cannot happen: the pitchfork is inside the scan
        raise RuntimeError("zero state never became unstable in the scanned range")
    crossing = brentq(growth, drives[first - 1], drives[first], xtol=1e-15, rtol=1e-15)
    eigenvalues = sorted_eigenvalues(jacobian(params, crossing, 0j))
    frequency = abs(eigenvalues[0].imag)
    is_real = frequency < 1e-6 * coefficients(params, crossing).rate_scale
    kind = "pitchfork" if is_real else "hopf"
    return ZeroStateInstability(crossing, kind, frequency if kind == "hopf" else 0.0)


# --------------------------------------------------------------------------- time integration

# Long-time classification: transient and observation window, in units of 2/min(gamma).
_TRANSIENT, _WINDOW = 100, 30


@dataclass(frozen=True, eq=False)
class Trajectory:
    times: np.ndarray
    cavity: np.ndarray
    magnon: np.ndarray


def _integrate_batch(
    c: Coefficients,
    cavity0: np.ndarray,
    magnon0: np.ndarray,
    t_final: float,
    t_eval,
    rtol: float = 1e-9,
    atol: float = 1e-11,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate N independent systems at once (the coefficients are arrays of length N)."""
    count = len(magnon0)

    def real_derivative(_t, y):
        parts = y.reshape(4, count)
        d_cavity, d_magnon = rhs(c, parts[0] + 1j * parts[1], parts[2] + 1j * parts[3])
        return np.concatenate([d_cavity.real, d_cavity.imag, d_magnon.real, d_magnon.imag])

    y0 = np.concatenate([cavity0.real, cavity0.imag, magnon0.real, magnon0.imag])
    solution = solve_ivp(
        real_derivative, (0.0, t_final), y0, method="DOP853", t_eval=t_eval, rtol=rtol, atol=atol
    )
    if not solution.success:
        raise RuntimeError(f"time integration failed: {solution.message}")
    parts = solution.y.reshape(4, count, -1)
    return solution.t, parts[0] + 1j * parts[1], parts[2] + 1j * parts[3]


def integrate(
    params: MagnonParams,
    drive: float,
    cavity0: complex,
    magnon0: complex,
    t_final: float,
    n_samples: int = 200,
) -> Trajectory:
    """Integrate the mean-field equations (DOP853, rtol 1e-9) from (cavity0, magnon0)."""
    drive = check_drive(drive)
    t_final = check_positive("t_final", t_final)
    times = np.linspace(0.0, t_final, n_samples)
    t, cavity, magnon = _integrate_batch(
        coefficients(params, drive), np.array([cavity0]), np.array([magnon0]), t_final, times
    )
    return Trajectory(t, cavity[0], magnon[0])


@dataclass(frozen=True)
class LongTimeBehaviour:
    """What a trajectory started near the zero state does after a long transient.

    Attributes:
        kind: ``"fixed_point"``, ``"limit_cycle"`` (bounded, keeps moving) or ``"divergent"``.
        magnon_number_min, magnon_number_max, magnon_number_mean: |beta|^2 over the final window.
    """

    kind: str
    magnon_number_min: float
    magnon_number_max: float
    magnon_number_mean: float


def _long_time_behaviour_batch(
    params_list: list[MagnonParams], drives: list[float], seed: int = 0
) -> list[LongTimeBehaviour]:
    pairs = zip(params_list, drives, strict=True)
    coefficient_list = [coefficients(p, check_drive(d)) for p, d in pairs]
    c = stack_coefficients(coefficient_list)
    time_unit = max(ci.time_unit for ci in coefficient_list)
    transient, window = _TRANSIENT * time_unit, _WINDOW * time_unit
    rng = np.random.default_rng(seed)
    count = len(drives)
    start = 1e-3 * (rng.standard_normal(count) + 1j * rng.standard_normal(count))
    times = np.linspace(transient, transient + window, 400)
    # Classification needs no 1e-9 accuracy; looser tolerances make this several times faster.
    _, _, magnon = _integrate_batch(
        c, np.zeros(count, complex), start, transient + window, times, rtol=1e-7, atol=1e-9
    )
    results = []
    for i, (p, d) in enumerate(zip(params_list, drives, strict=True)):
        numbers = np.abs(magnon[i]) ** 2
        low, high, mean = float(numbers.min()), float(numbers.max()), float(numbers.mean())
        if not np.all(np.isfinite(numbers)) or high > 1e12:
            kind = "divergent"
        else:
            final = magnon[i, -1]
            near_fixed_point = any(
                abs(final - b.magnon) < 1e-4 * (1 + abs(b.magnon)) for b in steady_states(p, d)
            )
            settled = high - low < 1e-6 * (1 + high)
            kind = "fixed_point" if (near_fixed_point or settled) else "limit_cycle"
        results.append(LongTimeBehaviour(kind, low, high, mean))
    return results


def long_time_behaviour(params: MagnonParams, drive: float, seed: int = 0) -> LongTimeBehaviour:
    """Integrate from a small random kick off the zero state for 130 time units (2/min(gamma))
    and classify the final 30: settled on a fixed point, self-oscillating, or diverging."""
    return _long_time_behaviour_batch([params], [drive], seed)[0]


@dataclass(frozen=True, eq=False)
class HysteresisSweep:
    """Adiabatic sweeps of the drive by time integration (each step starts where the last ended).

    ``up`` and ``down`` hold the final magnon number |beta|^2 at each entry of ``drives``
    (ascending), reached by sweeping up from the zero state and down from the top.
    """

    drives: np.ndarray
    up: np.ndarray
    down: np.ndarray


def hysteresis_sweep(
    params: MagnonParams, drives, settle_time: float | None = None, seed: int = 0
) -> HysteresisSweep:
    """Sweep the drive up then down, integrating ``settle_time`` (default 80 units of
    2/min(gamma)) at each step. A 1e-6 random kick per step lets the system leave a state that
    has just become unstable, as noise would."""
    drives = np.sort(np.asarray([check_drive(d) for d in drives], dtype=float))
    rng = np.random.default_rng(seed)

    def sweep(order):
        cavity, magnon = 0j, 0j
        numbers = np.empty(len(drives))
        for index in order:
            c = coefficients(params, drives[index])
            duration = settle_time if settle_time is not None else 80 * c.time_unit
            kick = 1e-6 * complex(*rng.standard_normal(2))
            _, cavity_t, magnon_t = _integrate_batch(
                c, np.array([cavity]), np.array([magnon + kick]), duration, [duration]
            )
            cavity, magnon = cavity_t[0, -1], magnon_t[0, -1]
            numbers[index] = abs(magnon) ** 2
        return numbers

    up = sweep(range(len(drives)))
    down = sweep(range(len(drives) - 1, -1, -1))
    return HysteresisSweep(drives, up, down)


# --------------------------------------------------------------------------- transition


@dataclass(frozen=True)
class Transition:
    """Summary of the parity-symmetry-breaking transition for one parameter set.

    Attributes:
        critical_drive: closed-form pitchfork drive (:func:`critical_drive`).
        instability: the numerically found loss of stability of the zero state.
        predicted_order: ``"second"`` if Delta_eff * K >= 0, else ``"first"`` (closed form).
        order: the order measured from the jump of the order parameter just above the
            critical drive: ``"second"`` (jump -> 0), ``"first"`` (finite jump) or ``"none"``
            (no stable non-zero state there).
        jump: magnon number |beta|^2 of the stable broken state at 1+1e-9 times the critical
            drive (the closed-form limit is -Delta_eff/K for first order, 0 for second).
        bistable_window: closed-form (saddle-node drive, critical drive) for a first-order
            transition, else None.
    """

    critical_drive: float
    instability: ZeroStateInstability
    predicted_order: str
    order: str
    jump: float
    bistable_window: tuple[float, float] | None


def _stable_broken_number(params: MagnonParams, drive: float) -> float | None:
    """Smallest magnon number among the stable non-zero states (None if there is none)."""
    stable = [
        b.magnon_number for b in steady_states(params, drive) if b.name != "zero" and b.stable
    ]
    return min(stable) if stable else None


def transition(params: MagnonParams) -> Transition:
    """Locate the transition and decide its order from the order-parameter jump."""
    drive_c = critical_drive(params)
    predicted = predicted_order(params)
    near = _stable_broken_number(params, drive_c * (1 + 1e-9))
    nearer = _stable_broken_number(params, drive_c * (1 + 1e-12))
    if near is None or nearer is None:
        order, jump = "none", math.nan
    else:
        # Continuous: n ~ (drive - drive_c) (or its square root at the tricritical point),
        # so it shrinks by >= 30x over 1000x closer; a first-order jump does not shrink.
        order = "second" if nearer < 0.5 * near else "first"
        jump = near
    lower = saddle_node_drive(params)
    window = (lower, drive_c) if lower is not None else None
    return Transition(drive_c, zero_state_instability(params), predicted, order, jump, window)


# --------------------------------------------------------------------------- phases


class Phase(StrEnum):
    """Steady-state phases (mean field)."""

    SYMMETRIC = "symmetric"  # only the zero state is stable
    BROKEN = "broken"  # a stable non-zero pair, zero state unstable
    BISTABLE = "bistable"  # zero state and a non-zero pair both stable
    UNSTABLE = "unstable"  # no stable fixed point; long-time dynamics is a limit cycle
    UNCONFIRMED = "unconfirmed"  # no stable fixed point, yet time integration settled


PHASES = list(Phase)


def _phase_from_branches(branches: list[Branch]) -> Phase | None:
    zero_stable = branches[0].stable
    broken_stable = any(b.stable for b in branches[1:])
    if zero_stable and broken_stable:
        return Phase.BISTABLE
    if zero_stable:
        return Phase.SYMMETRIC
    if broken_stable:
        return Phase.BROKEN
    return None


def phase(params: MagnonParams, drive: float, confirm: bool = True) -> Phase:
    """Phase at one drive. With ``confirm``, a point without any stable fixed point is only
    called UNSTABLE after a time integration shows it does not settle (else UNCONFIRMED)."""
    found = _phase_from_branches(steady_states(params, drive))
    if found is not None:
        return found
    if not confirm:
        return Phase.UNSTABLE
    behaviour = long_time_behaviour(params, drive)
    return Phase.UNCONFIRMED if behaviour.kind == "fixed_point" else Phase.UNSTABLE


@dataclass(frozen=True, eq=False)
class PhaseDiagram:
    """Phases on a grid (parameter value x drive).

    Attributes:
        param_name, values, drives: the grid axes.
        phases: indices into :data:`PHASES`, shape (len(values), len(drives)).
        order_parameter: magnon number of the largest stable state (time-averaged |beta|^2 of
            the trajectory where no fixed point is stable), same shape.
        critical_drives: closed-form pitchfork drive for each value.
        saddle_node_drives: lower edge of the bistable window (NaN if second order).
        instability_drives: numerical loss of stability of the zero state (pitchfork or Hopf).
    """

    param_name: str
    values: np.ndarray
    drives: np.ndarray
    phases: np.ndarray
    order_parameter: np.ndarray
    critical_drives: np.ndarray
    saddle_node_drives: np.ndarray
    instability_drives: np.ndarray

    def phase_at(self, value_index: int, drive_index: int) -> Phase:
        return PHASES[self.phases[value_index, drive_index]]

    def counts(self) -> dict[str, int]:
        return {p.value: int(np.sum(self.phases == i)) for i, p in enumerate(PHASES)}


def phase_diagram(
    param_name: str,
    values,
    drives,
    base: MagnonParams | None = None,
    confirm: bool = True,
    progress: bool = False,
) -> PhaseDiagram:
    """Phase of every (value, drive) point, ``param_name`` being a field of MagnonParams.

    Points without a stable fixed point are confirmed by one batched time integration of all of
    them together (see :func:`long_time_behaviour`) unless ``confirm`` is False.
    """
    base = base or MagnonParams()
    values = np.asarray(values, dtype=float)
    drives = np.asarray([check_drive(d) for d in drives], dtype=float)
    if values.ndim != 1 or len(values) == 0 or drives.ndim != 1 or len(drives) == 0:
        raise PhysicsInputError("values and drives must be non-empty 1D sequences of numbers")
    param_sets = [base.with_value(param_name, v) for v in values]
    phases = np.zeros((len(values), len(drives)), dtype=int)
    order_parameter = np.full(phases.shape, np.nan)
    pending: list[tuple[int, int]] = []
    rows = range(len(values))
    for i in show_progress(rows, progress, f"phase diagram ({param_name})", unit="row"):
        for j, drive in enumerate(drives):
            branches = steady_states(param_sets[i], drive)
            found = _phase_from_branches(branches)
            stable = [b.magnon_number for b in branches if b.stable]
            order_parameter[i, j] = max(stable) if stable else np.nan
            if found is None:
                found = Phase.UNSTABLE
                pending.append((i, j))
            phases[i, j] = PHASES.index(found)
    if confirm and pending:
        behaviours = _long_time_behaviour_batch(
            [param_sets[i] for i, _ in pending], [drives[j] for _, j in pending]
        )
        for (i, j), behaviour in zip(pending, behaviours, strict=True):
            settled = behaviour.kind == "fixed_point"
            phases[i, j] = PHASES.index(Phase.UNCONFIRMED if settled else Phase.UNSTABLE)
            order_parameter[i, j] = behaviour.magnon_number_mean
    saddle = [saddle_node_drive(p) for p in param_sets]
    return PhaseDiagram(
        param_name=param_name,
        values=values,
        drives=drives,
        phases=phases,
        order_parameter=order_parameter,
        critical_drives=np.array([critical_drive(p) for p in param_sets]),
        saddle_node_drives=np.array([np.nan if s is None else s for s in saddle]),
        instability_drives=np.array([zero_state_instability(p).drive for p in param_sets]),
    )
