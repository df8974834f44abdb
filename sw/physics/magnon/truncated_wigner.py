"""Truncated Wigner: stochastic phase-space trajectories that need no Fock cutoff.

The master equation maps onto an equation of motion for the Wigner function W(alpha, beta).
Losses give drift and diffusion exactly; the Kerr term gives drift plus third-order derivative
terms. Dropping those (the truncation) leaves a Fokker-Planck equation, sampled by::

    d(alpha) = [-(i delta_a + gamma_a/2) alpha - i g beta] dt + sqrt(gamma_a/4) (dW1 + i dW2)
    d(beta)  = [-(i delta_m'' + gamma_m/2) beta - 2 i K |beta|^2 beta - i g alpha - i G beta*] dt
               + sqrt(gamma_m/4) (dW3 + i dW4)

with independent real Wiener increments, initial amplitudes drawn from the Wigner function of
the initial state (vacuum: Re, Im ~ N(0, 1/4)), and delta_m'' = delta_m + the Kerr shift of the
*symmetric* ordering (the Weyl symbol of K(m^dag m)^2 is K(|b|^4 - |b|^2): 2K less than the
mean field's shift, see ``Conventions.wigner_kerr_detuning_shift``). Averages of |beta|^2 are
symmetrically ordered: <m^dag m> = <|beta|^2> - 1/2.

When it is valid (why we use it as the large-size method):

- it is exact when the Hamiltonian is quadratic (K -> 0 below threshold: the Lyapunov limit,
  a test checks it);
- with the Kerr term, the dropped terms are smaller than the kept ones by O(1/n), n the magnon
  number, i.e. O(K) at a fixed scaled amplitude K n: the method becomes exact in the
  thermodynamic limit K -> 0 (tests compare it with the exact master equation at K = 0.5 and
  0.2 and check that the error shrinks);
- it does not reproduce quantum tunnelling exactly: escape from one attractor over the barrier
  is driven by the vacuum noise treated as classical noise, so its rate has the right
  exponential form exp(-S/K) but in general not the exact action S. The documentation compares
  these escape rates with the exact Liouvillian gap.

The positive-P representation would be exact, but for a weakly damped Kerr oscillator its
trajectories are unstable (spikes to infinity in finite time), the usual reason it is avoided
for this model. Trajectories are integrated with the stochastic Heun scheme (predictor-corrector;
for additive noise weakly second order), all trajectories at once as numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..common import PhysicsInputError, check_choice, check_count, check_positive, check_range
from .model import Coefficients, MagnonParams, check_drive, coefficients, rhs
from .solver import steady_states


def wigner_coefficients(params: MagnonParams, drive: float) -> Coefficients:
    """The drift coefficients of the truncated-Wigner equations (symmetric-order Kerr shift)."""
    c = coefficients(params, drive)
    shift = params.conventions.wigner_kerr_detuning_shift(params.kerr)
    return replace(c, delta_m=params.delta_m + shift)


@dataclass(frozen=True, eq=False)
class WignerTrajectories:
    """Samples of the truncated-Wigner ensemble.

    Attributes:
        drive, dt: the drive and the time step.
        times: sample times, shape (samples,).
        cavity, magnon: complex amplitudes, shape (trajectories, samples).
    """

    drive: float
    dt: float
    times: np.ndarray
    cavity: np.ndarray
    magnon: np.ndarray

    @property
    def magnon_number(self) -> np.ndarray:
        """<m^dag m>(t) = <|beta|^2> - 1/2, shape (samples,)."""
        return np.mean(np.abs(self.magnon) ** 2, axis=0) - 0.5

    @property
    def cavity_number(self) -> np.ndarray:
        return np.mean(np.abs(self.cavity) ** 2, axis=0) - 0.5

    def stationary(self, after: float) -> dict:
        """Time-and-ensemble averages over samples with t >= ``after``, with standard errors
        from the spread between trajectories (each trajectory's time average is one sample).

        Keys: magnon_number, cavity_number, magnon_pair (<m^2>), and ``*_error`` for each.
        """
        window = self.times >= after
        if window.sum() < 1:
            raise PhysicsInputError(f"after={after} leaves no samples (t_final={self.times[-1]})")
        per_trajectory = {
            "magnon_number": np.mean(np.abs(self.magnon[:, window]) ** 2, axis=1) - 0.5,
            "cavity_number": np.mean(np.abs(self.cavity[:, window]) ** 2, axis=1) - 0.5,
            "magnon_pair": np.mean(self.magnon[:, window] ** 2, axis=1),
        }
        out = {}
        for name, values in per_trajectory.items():
            out[name] = complex(values.mean()) if name == "magnon_pair" else float(values.mean())
            out[name + "_error"] = float(np.std(values, ddof=1) / math.sqrt(len(values)))
        return out


def _initial_amplitudes(rng, count: int, center: complex) -> np.ndarray:
    """Wigner samples of the coherent state |center>: center + vacuum noise (variance 1/4)."""
    return center + 0.5 * (rng.standard_normal(count) + 1j * rng.standard_normal(count))


def truncated_wigner(
    params: MagnonParams,
    drive: float,
    t_final: float,
    *,
    trajectories: int = 1000,
    dt: float = 0.01,
    samples: int = 200,
    start: tuple[complex, complex] = (0j, 0j),
    seed: int = 0,
) -> WignerTrajectories:
    """Integrate the truncated-Wigner equations from the coherent state ``start`` = (alpha0,
    beta0) (default: vacuum) up to ``t_final``, keeping ``samples`` equally spaced snapshots.

    dt: time step (units of 1/kappa_m), at most 0.05 and small against 1/|delta_a|.
    """
    drive = check_drive(drive)
    t_final = check_positive("t_final", t_final)
    dt = check_range("dt", dt, 0.0, 0.05, low_open=True)
    trajectories = check_count("trajectories", trajectories, 2, 10**6)
    samples = check_count("samples", samples, 1, 100_000)
    c = wigner_coefficients(params, drive)
    rng = np.random.default_rng(seed)
    cavity = _initial_amplitudes(rng, trajectories, complex(start[0]))
    magnon = _initial_amplitudes(rng, trajectories, complex(start[1]))
    steps = max(1, math.ceil(t_final / dt))
    dt = t_final / steps
    sample_steps = np.unique(np.linspace(0, steps, samples + 1)[1:].round().astype(int))
    noise_a = math.sqrt(c.gamma_a / 4 * dt)
    noise_m = math.sqrt(c.gamma_m / 4 * dt)
    times, cavity_out, magnon_out = [], [], []
    next_sample = 0
    for step in range(1, steps + 1):
        kick_a = noise_a * (
            rng.standard_normal(trajectories) + 1j * rng.standard_normal(trajectories)
        )
        kick_m = noise_m * (
            rng.standard_normal(trajectories) + 1j * rng.standard_normal(trajectories)
        )
        drift_a, drift_m = rhs(c, cavity, magnon)
        predicted_a = cavity + drift_a * dt + kick_a
        predicted_m = magnon + drift_m * dt + kick_m
        drift_a2, drift_m2 = rhs(c, predicted_a, predicted_m)
        cavity = cavity + 0.5 * (drift_a + drift_a2) * dt + kick_a
        magnon = magnon + 0.5 * (drift_m + drift_m2) * dt + kick_m
        if next_sample < len(sample_steps) and step == sample_steps[next_sample]:
            times.append(step * dt)
            cavity_out.append(cavity.copy())
            magnon_out.append(magnon.copy())
            next_sample += 1
    if not np.all(np.isfinite(magnon)):
        raise RuntimeError(f"truncated-Wigner trajectories diverged; reduce dt={dt}")
    return WignerTrajectories(
        drive=drive,
        dt=dt,
        times=np.array(times),
        cavity=np.array(cavity_out).T,
        magnon=np.array(magnon_out).T,
    )


@dataclass(frozen=True)
class EscapeRate:
    """Rate at which truncated-Wigner trajectories leave an attractor.

    Attributes:
        start: ``"zero"``, ``"broken"`` (leave the zero state / the upper branch for the other
            one) or ``"flip"`` (switch from +beta to -beta).
        rate: escapes / (total time at risk), after the ``settle`` time (maximum likelihood for
            a constant rate); 0 if nothing escaped.
        rate_error: rate / sqrt(escapes) (Poisson).
        escapes, trajectories, time_at_risk: the counts behind it.
    """

    start: str
    rate: float
    rate_error: float
    escapes: int
    trajectories: int
    time_at_risk: float


def escape_rate(
    params: MagnonParams,
    drive: float,
    start: str,
    t_final: float,
    *,
    trajectories: int = 500,
    dt: float = 0.01,
    settle: float = 5.0,
    seed: int = 0,
) -> EscapeRate:
    """Escape rate out of one mean-field attractor, counted on truncated-Wigner trajectories.

    ``start="zero"``: trajectories start in the vacuum; an escape is |beta|^2 passing the
    midpoint between the lower (saddle) and the upper branch. ``"broken"``: they start coherent
    at the upper branch +beta; an escape is |beta|^2 falling below half the lower branch's.
    Both thresholds lie well inside the other basin, so a trajectory that touches the
    separatrix and falls back is not counted (the rate hardly depends on them when the barrier
    is high). ``"flip"``: they start at +beta; an escape is the projection of beta on the +beta
    direction turning negative (the parity partner). Crossings before ``settle`` (time for the
    start to relax onto the attractor) are not counted. A two-state picture then gives the
    Liouvillian gaps: even gap = rate(zero) + rate(broken), odd gap = 2 rate(flip).
    """
    check_choice("start", start, ("zero", "broken", "flip"))
    drive = check_drive(drive)
    t_final = check_positive("t_final", t_final)
    settle = check_range("settle", settle, 0.0, t_final, high_open=True)
    branches = steady_states(params, drive)
    upper = [b for b in branches if b.name == "upper" and b.parity == 1]
    lower = [b for b in branches if b.name == "lower" and b.parity == 1]
    if not upper or not upper[0].stable:
        raise PhysicsInputError(f"drive={drive} has no stable broken state to escape from or to")
    beta, alpha = upper[0].magnon, upper[0].cavity
    if start != "flip" and (not lower or not branches[0].stable):
        raise PhysicsInputError(
            f"drive={drive} is outside the bistable window: there is no zero/broken pair"
        )
    initial = (0j, 0j) if start == "zero" else (alpha, beta)
    samples = max(50, int(t_final / 0.05))
    run = truncated_wigner(
        params, drive, t_final, trajectories=trajectories, dt=dt, samples=samples,
        start=initial, seed=seed,
    )  # fmt: skip
    if start == "flip":
        coordinate = np.real(run.magnon * np.conj(beta)) / abs(beta)
        escaped_now = coordinate < 0
    elif start == "zero":
        threshold = 0.5 * (lower[0].magnon_number + upper[0].magnon_number)
        escaped_now = np.abs(run.magnon) ** 2 > threshold
    else:
        escaped_now = np.abs(run.magnon) ** 2 < 0.5 * lower[0].magnon_number
    at_risk = run.times >= settle
    escaped_now = escaped_now[:, at_risk]
    times = run.times[at_risk]
    first = np.where(escaped_now.any(axis=1), escaped_now.argmax(axis=1), -1)
    escapes = int(np.sum(first >= 0))
    exposure = np.where(first >= 0, times[np.maximum(first, 0)], times[-1]) - times[0]
    time_at_risk = float(exposure.sum())
    rate = escapes / time_at_risk if time_at_risk > 0 else math.nan
    return EscapeRate(
        start=start,
        rate=rate,
        rate_error=rate / math.sqrt(escapes) if escapes else math.nan,
        escapes=escapes,
        trajectories=trajectories,
        time_at_risk=time_at_risk,
    )
