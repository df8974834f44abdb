"""The driven cavity-magnon model: parameters, conventions and the mean-field equations.

Hamiltonian (hbar = 1), in the frame rotating at half the parametric drive frequency::

    H = delta_a a^dag a + delta_m m^dag m + KERR_TERM + g (a^dag m + a m^dag)
        + drive_factor * drive * (m^dag^2 + m^2)

with Lindblad losses ``L_a = sqrt(gamma_a) a`` and ``L_m = sqrt(gamma_m) m``.

Three choices differ between papers. They are all fields of :class:`Conventions`, and every
other piece of the package (mean-field equations, Jacobian, noise, QuTiP Hamiltonian,
truncated Wigner drift) reads them from there, so switching one switches it everywhere:

``drive_factor`` (default 1/2)
    The drive term is ``drive_factor * Omega * (m^dag^2 + m^2)``; the brief writes
    ``(Omega/2)(m^dag^2 + m^2)``. In the mean-field equations the drive enters through the
    *parametric gain* ``G = 2 * drive_factor * Omega`` (= Omega by default).
``kerr_ordering`` (default ``"number_squared"``)
    ``"number_squared"``: ``K (m^dag m)^2`` as written, which equals ``K m^dag^2 m^2 + K m^dag m``,
    so the mean field sees the magnon detuning shifted by ``+K``;
    ``"normal_ordered"``: ``K m^dag^2 m^2``, no shift.
``loss`` (default ``"lindblad_rate"``)
    ``"lindblad_rate"``: ``kappa`` is the Lindblad (energy) decay rate, amplitudes decay at
    ``kappa/2``; ``"amplitude_rate"``: amplitudes decay at ``kappa`` (Lindblad rate ``2 kappa``).

All rates and frequencies are in one arbitrary unit; the defaults take the magnon linewidth
``kappa_m = 1`` as that unit.

Mean-field equations for the amplitudes alpha = <a>, beta = <m> (gamma = Lindblad rate,
G = parametric gain, delta_m' = delta_m + Kerr-ordering shift)::

    d(alpha)/dt = -(i delta_a + gamma_a/2) alpha - i g beta
    d(beta)/dt  = -(i delta_m' + gamma_m/2) beta - 2 i K |beta|^2 beta - i g alpha - i G beta*

Eliminating the cavity in a steady state (alpha = chi beta, chi = -g / (delta_a - i gamma_a/2))
leaves a magnon with the complex frequency Delta_eff - i Gamma_eff (:func:`effective_magnon`);
the zero state has a zero eigenvalue at G_c = sqrt(Delta_eff^2 + Gamma_eff^2)
(:func:`critical_drive`), and a first-order transition (Delta_eff K < 0) has its saddle node at
G = Gamma_eff (:func:`saddle_node_drive`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Literal

import numpy as np

from ..common import PhysicsInputError, check_choice, check_range

KerrOrdering = Literal["number_squared", "normal_ordered"]
LossConvention = Literal["lindblad_rate", "amplitude_rate"]
KERR_ORDERINGS = ("number_squared", "normal_ordered")
LOSS_CONVENTIONS = ("lindblad_rate", "amplitude_rate")

# The model parameters a phase diagram may sweep, besides the drive.
SWEEPABLE_PARAMETERS = ("delta_a", "delta_m", "kerr", "g", "kappa_a", "kappa_m")


def check_drive(drive: float) -> float:
    """A drive strength Omega: finite and >= 0 (a negative one is only a phase rotation)."""
    return check_range("drive", drive, 0.0)


@dataclass(frozen=True)
class Conventions:
    """The conventions that differ between papers (see the module docstring)."""

    drive_factor: float = 0.5
    kerr_ordering: KerrOrdering = "number_squared"
    loss: LossConvention = "lindblad_rate"

    def __post_init__(self) -> None:
        factor = check_range("drive_factor", self.drive_factor, 0.0, low_open=True)
        object.__setattr__(self, "drive_factor", factor)
        check_choice("kerr_ordering", self.kerr_ordering, KERR_ORDERINGS)
        check_choice("loss", self.loss, LOSS_CONVENTIONS)

    def parametric_gain(self, drive: float) -> float:
        """G in the mean-field equation d(beta)/dt = ... - i G beta*: twice the drive term."""
        return 2.0 * self.drive_factor * drive

    def drive_for_gain(self, gain: float) -> float:
        """Inverse of :meth:`parametric_gain`."""
        return gain / (2.0 * self.drive_factor)

    def kerr_detuning_shift(self, kerr: float) -> float:
        """Shift of the magnon detuning that the Kerr ordering puts into the mean field."""
        return kerr if self.kerr_ordering == "number_squared" else 0.0

    def wigner_kerr_detuning_shift(self, kerr: float) -> float:
        """The same shift in the Wigner (symmetric-order) drift: the Weyl symbol of the Kerr
        term is K(|b|^4 - |b|^2) (number_squared) or K(|b|^4 - 2|b|^2 + 1/2) (normal_ordered),
        so the truncated-Wigner equations see the mean-field shift minus 2K."""
        return self.kerr_detuning_shift(kerr) - 2.0 * kerr

    def lindblad_rate(self, kappa: float) -> float:
        """Energy decay rate gamma of the Lindblad operator sqrt(gamma) * mode."""
        return kappa if self.loss == "lindblad_rate" else 2.0 * kappa


@dataclass(frozen=True)
class MagnonParams:
    """Parameters of the driven cavity-magnon system (units: magnon linewidth ``kappa_m``).

    The defaults (cavity detuned by 6, coupling 3, cavity linewidth 2, magnon on resonance with
    half the drive, small positive Kerr) give a *first-order* transition with a bistable window:
    the cavity pulls the effective magnon detuning negative, opposite in sign to the Kerr term.

    Attributes:
        delta_a: cavity detuning from half the drive frequency.
        delta_m: magnon detuning from half the drive frequency.
        kerr: magnon Kerr coefficient K (non-zero: without it there is no saturated state).
            1/K plays the role of the system size: mean-field magnon numbers scale as 1/K.
        g: cavity-magnon coupling (>= 0; its sign is a gauge choice).
        kappa_a: cavity loss (> 0), meaning set by ``conventions.loss``.
        kappa_m: magnon loss (> 0), meaning set by ``conventions.loss``.
        conventions: drive factor, Kerr ordering and loss convention.
    """

    delta_a: float = 6.0
    delta_m: float = 0.0
    kerr: float = 0.05
    g: float = 3.0
    kappa_a: float = 2.0
    kappa_m: float = 1.0
    conventions: Conventions = field(default_factory=Conventions)

    def __post_init__(self) -> None:
        for name in ("delta_a", "delta_m"):
            object.__setattr__(self, name, check_range(name, getattr(self, name)))
        kerr = check_range("kerr", self.kerr)
        if kerr == 0.0:
            raise PhysicsInputError(
                "kerr=0 is out of range; allowed: any finite non-zero number "
                "(without a Kerr term there is no saturated state)"
            )
        object.__setattr__(self, "kerr", kerr)
        object.__setattr__(self, "g", check_range("g", self.g, 0.0))
        for name in ("kappa_a", "kappa_m"):
            value = check_range(name, getattr(self, name), 0.0, low_open=True)
            object.__setattr__(self, name, value)
        if not isinstance(self.conventions, Conventions):
            raise PhysicsInputError(
                f"conventions must be a Conventions instance, got {type(self.conventions)}"
            )

    def with_value(self, name: str, value: float) -> MagnonParams:
        """A copy with one sweepable parameter changed (validated like the constructor)."""
        check_choice("parameter", name, SWEEPABLE_PARAMETERS)
        return replace(self, **{name: value})

    def as_dict(self) -> dict[str, float | str]:
        """Flat dictionary of all parameters and conventions (for reports and JSON)."""
        out: dict[str, float | str] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "conventions"
        }
        for f in fields(self.conventions):
            out[f.name] = getattr(self.conventions, f.name)
        return out


# --------------------------------------------------------------------------- coefficients


@dataclass(frozen=True)
class Coefficients:
    """The numbers in the equations of motion, after applying the conventions.

    Fields may be floats or numpy arrays (one entry per system, for batched integration).
    """

    delta_a: float | np.ndarray
    delta_m: float | np.ndarray  # includes the Kerr-ordering shift
    kerr: float | np.ndarray
    g: float | np.ndarray
    gamma_a: float | np.ndarray  # Lindblad (energy) rates
    gamma_m: float | np.ndarray
    gain: float | np.ndarray  # G = 2 * drive_factor * drive

    @property
    def rate_scale(self) -> float:
        """A typical frequency of the problem, to make tolerances relative."""
        return max(
            abs(self.delta_a),
            abs(self.delta_m),
            abs(self.g),
            self.gamma_a,
            self.gamma_m,
            abs(self.gain),
            1e-300,
        )

    @property
    def time_unit(self) -> float:
        """1 / (slowest bare amplitude decay rate): the natural unit of integration times."""
        return 2.0 / min(self.gamma_a, self.gamma_m)


def coefficients(params: MagnonParams, drive: float) -> Coefficients:
    """The mean-field coefficients at one drive."""
    conv = params.conventions
    return Coefficients(
        delta_a=params.delta_a,
        delta_m=params.delta_m + conv.kerr_detuning_shift(params.kerr),
        kerr=params.kerr,
        g=params.g,
        gamma_a=conv.lindblad_rate(params.kappa_a),
        gamma_m=conv.lindblad_rate(params.kappa_m),
        gain=conv.parametric_gain(check_drive(drive)),
    )


def stack_coefficients(many: list[Coefficients]) -> Coefficients:
    """One Coefficients whose fields are arrays (entry i from many[i])."""
    names = Coefficients.__dataclass_fields__
    return Coefficients(**{name: np.array([getattr(c, name) for c in many]) for name in names})


def rhs(c: Coefficients, cavity, magnon):
    """Time derivatives (d alpha/dt, d beta/dt); works elementwise on arrays."""
    d_cavity = -(1j * c.delta_a + c.gamma_a / 2) * cavity - 1j * c.g * magnon
    d_magnon = (
        -(1j * c.delta_m + c.gamma_m / 2) * magnon
        - 2j * c.kerr * (magnon * np.conj(magnon)) * magnon
        - 1j * c.g * cavity
        - 1j * c.gain * np.conj(magnon)
    )
    return d_cavity, d_magnon


def equations_of_motion(
    params: MagnonParams, drive: float, cavity: complex, magnon: complex
) -> tuple[complex, complex]:
    """The mean-field right-hand side (d alpha/dt, d beta/dt) at the given amplitudes."""
    return rhs(coefficients(params, drive), cavity, magnon)


def residual(params: MagnonParams, drive: float, cavity: complex, magnon: complex) -> float:
    """Largest |d/dt| of the two amplitudes: zero at a steady state."""
    d_cavity, d_magnon = equations_of_motion(params, drive, cavity, magnon)
    return float(max(abs(d_cavity), abs(d_magnon)))


# One mode: (x, p) = T (delta, delta*), x = (delta + delta*)/sqrt 2, p = (delta - delta*)/(i sqrt 2)
_QUADRATURES = np.kron(np.eye(2), np.array([[1, 1], [-1j, 1j]]) / math.sqrt(2))
_QUADRATURES_INV = np.linalg.inv(_QUADRATURES)


def drift_matrix(c: Coefficients, magnon: complex) -> np.ndarray:
    """Real drift matrix of the linearized dynamics in (x_a, p_a, x_m, p_m)."""
    n = abs(magnon) ** 2
    cavity_diag = 1j * c.delta_a + c.gamma_a / 2
    magnon_diag = 1j * (c.delta_m + 4 * c.kerr * n) + c.gamma_m / 2
    pair = 1j * (c.gain + 2 * c.kerr * magnon**2)  # coefficient of delta_beta* in d(delta_beta)/dt
    # Basis (delta_alpha, delta_alpha*, delta_beta, delta_beta*).
    complex_drift = np.array(
        [
            [-cavity_diag, 0, -1j * c.g, 0],
            [0, -np.conj(cavity_diag), 0, 1j * c.g],
            [-1j * c.g, 0, -magnon_diag, -pair],
            [0, 1j * c.g, -np.conj(pair), -np.conj(magnon_diag)],
        ]
    )
    return (_QUADRATURES @ complex_drift @ _QUADRATURES_INV).real


def jacobian(params: MagnonParams, drive: float, magnon: complex) -> np.ndarray:
    """Drift matrix A of the fluctuations (x_a, p_a, x_m, p_m) around a state with <m> = magnon.

    The cavity amplitude does not enter (its equation is linear). Quadratures are
    x = (a + a^dag)/sqrt 2 and p = (a - a^dag)/(i sqrt 2).
    """
    return drift_matrix(coefficients(params, drive), magnon)


def sorted_eigenvalues(matrix: np.ndarray) -> np.ndarray:
    """Eigenvalues sorted by decreasing real part (the first one decides stability)."""
    eigenvalues = np.linalg.eigvals(matrix)
    return eigenvalues[np.argsort(-eigenvalues.real)]


# --------------------------------------------------------------------------- closed forms


@dataclass(frozen=True)
class EffectiveMagnon:
    """The magnon after adiabatic elimination of the cavity (exact for steady states).

    Attributes:
        detuning: Delta_eff = delta_m' - g^2 delta_a / (delta_a^2 + gamma_a^2/4).
        damping: Gamma_eff = gamma_m/2 + g^2 (gamma_a/2) / (delta_a^2 + gamma_a^2/4),
            an amplitude decay rate.
        cavity_response: chi in alpha = chi * beta.
    """

    detuning: float
    damping: float
    cavity_response: complex


def effective_magnon(params: MagnonParams) -> EffectiveMagnon:
    """Effective detuning and damping of the magnon once the cavity is eliminated."""
    c = coefficients(params, 0.0)
    cavity_frequency = complex(c.delta_a, -c.gamma_a / 2)
    complex_frequency = complex(c.delta_m, -c.gamma_m / 2) - c.g**2 / cavity_frequency
    return EffectiveMagnon(
        detuning=complex_frequency.real,
        damping=-complex_frequency.imag,
        cavity_response=-c.g / cavity_frequency,
    )


def critical_drive(params: MagnonParams) -> float:
    """Closed-form drive at which the zero state has a zero eigenvalue (the pitchfork).

    Omega_c = sqrt(Delta_eff^2 + Gamma_eff^2) / (2 * drive_factor). The zero state loses
    stability here unless a Hopf instability (see ``solver.zero_state_instability``) comes
    first.
    """
    effective = effective_magnon(params)
    return params.conventions.drive_for_gain(math.hypot(effective.detuning, effective.damping))


def saddle_node_drive(params: MagnonParams) -> float | None:
    """Drive where the upper and lower branches are born (G = Gamma_eff), if first order.

    Returns None when Delta_eff and K have the same sign (no saddle node: second order).
    """
    effective = effective_magnon(params)
    if effective.detuning * params.kerr >= 0:
        return None
    return params.conventions.drive_for_gain(effective.damping)


def predicted_order(params: MagnonParams) -> str:
    """``"second"`` if Delta_eff K >= 0 (continuous transition), else ``"first"``."""
    return "second" if effective_magnon(params).detuning * params.kerr >= 0 else "first"
