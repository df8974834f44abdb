"""The thermodynamic limit K -> 0: how the quantum steady state becomes the mean-field phases.

Mean-field magnon numbers scale as 1/K, so 1/K plays the role of the system size N and K <m^dag m>
is the intensive order parameter. The quantum signatures of the two kinds of transition are:

first order (Delta_eff K < 0, bistable window Gamma_eff < G < G_c)
    inside the whole window the *even-sector* gap (relaxation between the vacuum-like state and
    the broken pair) closes exponentially, gap ~ exp(-S/K): the two attractors become
    metastable; outside the window it stays finite. The steady-state Wigner function of the
    magnon has three peaks inside the window (the vacuum and +-beta) and K <m^dag m> jumps ever
    more sharply at one drive inside it.
second order (Delta_eff K > 0)
    the *odd-sector* gap (switching between +-beta) closes exponentially above the critical
    drive, the even gap only at the critical point itself (critical slowing down, a power of K);
    the Wigner function goes continuously from one squeezed peak to two.

:func:`gap_scan` computes the gaps (exact master equation, see ``quantum.py``) over a grid of K
and drives; :func:`fit_gap_closing` fits ln(gap) against 1/K (exponential closing) and against
ln K (power law) and reports both, so a reader can see which one describes the data;
:func:`quantum_order_parameter` and :func:`wigner_order_parameter` give K <m^dag m> against the
drive (exact, and truncated Wigner without a cutoff); :func:`wigner_snapshots` the steady-state
Wigner functions of the magnon.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..common import PhysicsInputError, check_choice, check_count, show_progress
from .model import MagnonParams, check_drive
from .observables import amplitude_grid, wigner_function, wigner_maxima
from .quantum import QuantumSteadyState, quantum_steady_state, suggested_cutoffs
from .solver import phase, steady_states
from .truncated_wigner import truncated_wigner


def thermodynamic_family(params: MagnonParams, kerr: float) -> MagnonParams:
    """``params`` with Kerr ``kerr`` and the magnon detuning shifted so that the mean field
    (Delta_eff, hence every drive threshold and K |beta|^2) is the same for every K.

    The Kerr-ordering shift (+K for ``number_squared``) would otherwise move the transition as
    K changes; compensating it leaves 1/K as the only size parameter.
    """
    conv = params.conventions
    shift = conv.kerr_detuning_shift(params.kerr) - conv.kerr_detuning_shift(kerr)
    return replace(params, kerr=kerr, delta_m=params.delta_m + shift)


def converged_steady_state(
    params: MagnonParams, drive: float, *, tail: float = 1e-6, method: str = "auto"
) -> QuantumSteadyState:
    """The steady state (no gap) with cutoffs that start from ``suggested_cutoffs`` and grow by
    30 % + 2 until the top magnon and cavity levels hold less than ``tail`` of the population
    (needed near a critical point, where the mean field predicts no excitations but the
    fluctuations are large); at most 4 rounds."""
    n_max, n_cavity = suggested_cutoffs(params, drive)
    for _ in range(4):
        state = quantum_steady_state(
            params, drive, n_max, n_cavity, liouvillian_gap=False, method=method
        )
        magnon_ok, cavity_ok = state.magnon_tail < tail, state.cavity_tail < tail
        if magnon_ok and cavity_ok:
            break
        if not magnon_ok:
            n_max = math.ceil(1.3 * n_max) + 2
        if not cavity_ok:
            n_cavity = math.ceil(1.3 * n_cavity) + 2
    return state


@dataclass(frozen=True)
class GapPoint:
    """Liouvillian gaps and the steady state at one (K, drive).

    Attributes:
        kerr, drive: the point.
        mean_field_phase: ``symmetric``, ``broken``, ``bistable`` or ``unstable`` (mean field).
        n_max, n_cavity, method: cutoffs (from ``suggested_cutoffs``) and solver.
        magnon_number: <m^dag m>; scaled_magnon_number: K <m^dag m>.
        mean_field_scaled: K |beta|^2 of every stable mean-field state.
        odd_gap, even_gap: slowest decay rate in each parity sector.
        odd_next, even_next: the next slowest (shows how separated the slow mode is).
        magnon_tail: population of the top magnon level (truncation check).
        solver_steps, seconds: GMRES steps of the steady state (0 if direct) and wall time.
    """

    kerr: float
    drive: float
    mean_field_phase: str
    n_max: int
    n_cavity: int
    method: str
    magnon_number: float
    scaled_magnon_number: float
    mean_field_scaled: list[float]
    odd_gap: float
    even_gap: float
    odd_next: float
    even_next: float
    magnon_tail: float
    solver_steps: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def gap_point(params: MagnonParams, drive: float, method: str = "auto") -> GapPoint:
    """Gaps and steady state at ``params`` (its K) and ``drive``, cutoffs from
    :func:`converged_steady_state`."""
    steady = converged_steady_state(params, drive, method=method)
    n_max, n_cavity = steady.n_max, steady.n_cavity
    state = quantum_steady_state(
        params, drive, n_max, n_cavity, liouvillian_gap=True, method=method, eigenvalue_count=2
    )

    def rate(values, index):
        return float(-values[index].real) if len(values) > index else math.nan

    stable = sorted({round(b.magnon_number, 12) for b in steady_states(params, drive) if b.stable})
    return GapPoint(
        kerr=params.kerr,
        drive=drive,
        mean_field_phase=phase(params, drive).value,
        n_max=n_max,
        n_cavity=n_cavity,
        method=state.method,
        magnon_number=state.magnon_number,
        scaled_magnon_number=params.kerr * state.magnon_number,
        mean_field_scaled=[params.kerr * n for n in stable],
        odd_gap=rate(state.odd_eigenvalues, 0),
        even_gap=rate(state.even_eigenvalues, 0),
        odd_next=rate(state.odd_eigenvalues, 1),
        even_next=rate(state.even_eigenvalues, 1),
        magnon_tail=state.magnon_tail,
        solver_steps=state.solver_steps,
        seconds=state.seconds,
    )


def gap_scan(
    params: MagnonParams,
    drives,
    kerr_values,
    *,
    method: str = "auto",
    progress: bool = False,
) -> list[GapPoint]:
    """:func:`gap_point` for every K in ``kerr_values`` (the :func:`thermodynamic_family` of
    ``params``) and drive in ``drives`` (K outer)."""
    drives = [check_drive(d) for d in drives]
    kerr_values = list(kerr_values)
    if not drives or not kerr_values:
        raise PhysicsInputError("drives and kerr_values must be non-empty")
    family = [thermodynamic_family(params, k) for k in kerr_values]  # validates every K first
    grid = [(member, d) for member in family for d in drives]
    return [gap_point(member, d, method) for member, d in show_progress(grid, progress, "gaps")]


@dataclass(frozen=True)
class GapFit:
    """ln(gap) fitted two ways over K (least squares), for one drive and one sector.

    Attributes:
        drive, sector: which gaps.
        kerr: the K values used.
        exponential_action: S in gap = A exp(-S/K) (S > 0: exponential closing).
        exponential_rms: rms residual of ln(gap) of that fit.
        power_exponent: nu in gap = B K^nu (nu > 0: algebraic closing).
        power_rms: rms residual of ln(gap) of that fit.
    """

    drive: float
    sector: str
    kerr: list[float]
    exponential_action: float
    exponential_rms: float
    power_exponent: float
    power_rms: float

    @property
    def better_fit(self) -> str:
        return "exponential" if self.exponential_rms < self.power_rms else "power law"


def fit_gap_closing(points: list[GapPoint], drive: float, sector: str) -> GapFit:
    """Fit the ``sector`` ("odd" or "even") gaps at ``drive`` against 1/K and against ln K."""
    check_choice("sector", sector, ("odd", "even"))
    chosen = sorted((p for p in points if p.drive == drive), key=lambda p: p.kerr)
    kerr = np.array([p.kerr for p in chosen])
    gaps = np.array([getattr(p, f"{sector}_gap") for p in chosen])
    keep = np.isfinite(gaps) & (gaps > 0)
    if keep.sum() < 3:
        raise PhysicsInputError(
            f"fitting needs gaps at >= 3 Kerr values, drive={drive} has {keep.sum()}"
        )
    kerr, log_gap = kerr[keep], np.log(gaps[keep])
    fits = {}
    for name, x in (("exponential", -1.0 / kerr), ("power", np.log(kerr))):
        slope, intercept = np.polyfit(x, log_gap, 1)
        fits[name] = (slope, float(np.sqrt(np.mean((slope * x + intercept - log_gap) ** 2))))
    return GapFit(
        drive=drive,
        sector=sector,
        kerr=kerr.tolist(),
        exponential_action=float(fits["exponential"][0]),
        exponential_rms=fits["exponential"][1],
        power_exponent=float(fits["power"][0]),
        power_rms=fits["power"][1],
    )


@dataclass(frozen=True)
class OrderParameterCurve:
    """K <m^dag m> against the drive at one K.

    Attributes:
        kerr, method: K and ``"exact"`` or ``"truncated_wigner"`` (+ the start for TW).
        drives, scaled_number: the curve; errors: standard errors (0 for exact).
        details: per-drive extras (cutoffs, time, ...).
    """

    kerr: float
    method: str
    drives: list[float]
    scaled_number: list[float]
    errors: list[float]
    details: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def quantum_order_parameter(
    params: MagnonParams, drives, *, method: str = "auto", progress: bool = False
) -> OrderParameterCurve:
    """Exact K <m^dag m> of the steady state at each drive (:func:`converged_steady_state`)."""
    numbers, details = [], []
    for drive in show_progress(list(drives), progress, f"exact K={params.kerr:g}"):
        state = converged_steady_state(params, drive, method=method)
        numbers.append(params.kerr * state.magnon_number)
        details.append(
            {"n_max": state.n_max, "n_cavity": state.n_cavity, "method": state.method,
             "seconds": state.seconds, "magnon_tail": state.magnon_tail}
        )  # fmt: skip
    return OrderParameterCurve(
        kerr=params.kerr,
        method="exact",
        drives=[float(d) for d in drives],
        scaled_number=numbers,
        errors=[0.0] * len(numbers),
        details=details,
    )


def wigner_order_parameter(
    params: MagnonParams,
    drives,
    *,
    start: str = "vacuum",
    t_final: float = 60.0,
    trajectories: int = 400,
    dt: float = 0.01,
    seed: int = 0,
    progress: bool = False,
) -> OrderParameterCurve:
    """Truncated-Wigner K <m^dag m>, averaged over the last half of [0, t_final].

    start: ``"vacuum"`` or ``"broken"`` (coherent at the upper mean-field branch, where one
    exists, else vacuum). Inside the bistable window the two starts stay apart when the escape
    time exceeds t_final: the finite-time hysteresis that becomes exact as K -> 0.
    """
    check_choice("start", start, ("vacuum", "broken"))
    numbers, errors = [], []
    for drive in show_progress(list(drives), progress, f"truncated Wigner K={params.kerr:g}"):
        initial = (0j, 0j)
        if start == "broken":
            upper = [b for b in steady_states(params, drive) if b.name == "upper" and b.stable]
            if upper:
                initial = (upper[0].cavity, upper[0].magnon)
        run = truncated_wigner(
            params, drive, t_final, trajectories=trajectories, dt=dt, samples=60,
            start=initial, seed=seed,
        )  # fmt: skip
        averages = run.stationary(after=t_final / 2)
        numbers.append(params.kerr * averages["magnon_number"])
        errors.append(params.kerr * averages["magnon_number_error"])
    return OrderParameterCurve(
        kerr=params.kerr,
        method=f"truncated_wigner ({start} start)",
        drives=[float(d) for d in drives],
        scaled_number=numbers,
        errors=errors,
    )


@dataclass(frozen=True, eq=False)
class WignerSnapshot:
    """The magnon's steady-state Wigner function at one drive (exact master equation).

    Attributes:
        kerr, drive, mean_field_phase: the point.
        grid: Re beta = Im beta axis; values: W, axis 0 = Re beta.
        peaks: local maxima (position, height), highest first.
        mean_field_amplitudes: beta of every stable mean-field state.
    """

    kerr: float
    drive: float
    mean_field_phase: str
    grid: np.ndarray
    values: np.ndarray
    peaks: list
    mean_field_amplitudes: list[complex]

    def to_dict(self) -> dict:
        return {
            "kerr": self.kerr,
            "drive": self.drive,
            "mean_field_phase": self.mean_field_phase,
            "peaks": [
                {"re": p.amplitude.real, "im": p.amplitude.imag, "height": p.height}
                for p in self.peaks
            ],
            "mean_field_amplitudes": [[b.real, b.imag] for b in self.mean_field_amplitudes],
        }


def wigner_snapshots(
    params: MagnonParams,
    drives,
    *,
    points: int = 121,
    method: str = "auto",
    progress: bool = False,
) -> list[WignerSnapshot]:
    """Steady-state Wigner functions of the magnon at each drive, on a grid wide enough for
    the largest stable mean-field amplitude."""
    points = check_count("points", points, 21, 801)
    drives = [check_drive(d) for d in drives]
    largest = max(
        (abs(b.magnon) for d in drives for b in steady_states(params, d) if b.stable), default=0.0
    )
    grid = amplitude_grid(largest + 2.5, points)
    snapshots = []
    for drive in show_progress(drives, progress, f"Wigner functions K={params.kerr:g}"):
        state = converged_steady_state(params, drive, method=method)
        values = wigner_function(state.magnon_density_matrix, grid)
        stable = [b.magnon for b in steady_states(params, drive) if b.stable]
        snapshots.append(
            WignerSnapshot(
                kerr=params.kerr,
                drive=drive,
                mean_field_phase=phase(params, drive).value,
                grid=grid,
                values=values,
                peaks=wigner_maxima(values, grid),
                mean_field_amplitudes=stable,
            )
        )
    return snapshots
