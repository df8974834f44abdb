"""The driven cavity-magnon model: parameters and the one place where conventions live.

Hamiltonian (hbar = 1), in the frame rotating at half the parametric drive frequency::

    H = delta_a a^dag a + delta_m m^dag m + KERR_TERM + g (a^dag m + a m^dag)
        + drive_factor * drive * (m^dag^2 + m^2)

with Lindblad losses ``L_a = sqrt(gamma_a) a`` and ``L_m = sqrt(gamma_m) m``.

Three choices differ between papers. They are all fields of :class:`Conventions`, and every
other piece of the package (mean-field equations, Jacobian, noise, QuTiP Hamiltonian) reads
them from there, so switching one switches it everywhere:

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Literal

KerrOrdering = Literal["number_squared", "normal_ordered"]
LossConvention = Literal["lindblad_rate", "amplitude_rate"]

# The model parameters a phase diagram may sweep, besides the drive.
SWEEPABLE_PARAMETERS = ("delta_a", "delta_m", "kerr", "g", "kappa_a", "kappa_m")


def _require_finite(name: str, value: float, allowed: str = "any finite real number") -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {allowed} (got {value!r})") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {allowed} (got {value!r})")
    return number


def check_drive(drive: float) -> float:
    """Validate a drive strength Omega: finite and >= 0 (a negative one is a phase rotation)."""
    number = _require_finite("drive", drive, "a finite number >= 0")
    if number < 0:
        raise ValueError(f"drive must be a finite number >= 0 (got {drive!r})")
    return number


@dataclass(frozen=True)
class Conventions:
    """The conventions that differ between papers (see the module docstring)."""

    drive_factor: float = 0.5
    kerr_ordering: KerrOrdering = "number_squared"
    loss: LossConvention = "lindblad_rate"

    def __post_init__(self) -> None:
        factor = _require_finite("drive_factor", self.drive_factor, "a finite number > 0")
        if factor <= 0:
            raise ValueError(f"drive_factor must be a finite number > 0 (got {self.drive_factor})")
        if self.kerr_ordering not in ("number_squared", "normal_ordered"):
            raise ValueError(
                "kerr_ordering must be 'number_squared' or 'normal_ordered' "
                f"(got {self.kerr_ordering!r})"
            )
        if self.loss not in ("lindblad_rate", "amplitude_rate"):
            raise ValueError(
                f"loss must be 'lindblad_rate' or 'amplitude_rate' (got {self.loss!r})"
            )

    def parametric_gain(self, drive: float) -> float:
        """G in the mean-field equation d(beta)/dt = ... - i G beta*: twice the drive term."""
        return 2.0 * self.drive_factor * drive

    def drive_for_gain(self, gain: float) -> float:
        """Inverse of :meth:`parametric_gain`."""
        return gain / (2.0 * self.drive_factor)

    def kerr_detuning_shift(self, kerr: float) -> float:
        """Shift of the magnon detuning that the Kerr ordering puts into the mean field."""
        return kerr if self.kerr_ordering == "number_squared" else 0.0

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
            object.__setattr__(self, name, _require_finite(name, getattr(self, name)))
        kerr = _require_finite("kerr", self.kerr, "a finite non-zero number")
        if kerr == 0.0:
            raise ValueError("kerr must be a finite non-zero number (got 0)")
        object.__setattr__(self, "kerr", kerr)
        g = _require_finite("g", self.g, "a finite number >= 0")
        if g < 0:
            raise ValueError(f"g must be a finite number >= 0 (got {self.g})")
        object.__setattr__(self, "g", g)
        for name in ("kappa_a", "kappa_m"):
            value = _require_finite(name, getattr(self, name), "a finite number > 0")
            if value <= 0:
                raise ValueError(f"{name} must be a finite number > 0 (got {getattr(self, name)})")
            object.__setattr__(self, name, value)
        if not isinstance(self.conventions, Conventions):
            raise ValueError(
                f"conventions must be a Conventions instance (got {type(self.conventions)})"
            )

    def with_value(self, name: str, value: float) -> MagnonParams:
        """A copy with one sweepable parameter changed (validated like the constructor)."""
        if name not in SWEEPABLE_PARAMETERS:
            raise ValueError(f"parameter must be one of {SWEEPABLE_PARAMETERS} (got {name!r})")
        return replace(self, **{name: value})

    def as_dict(self) -> dict[str, float | str]:
        """Flat dictionary of all parameters and conventions (for reports and JSON)."""
        out: dict[str, float | str] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "conventions"
        }
        for f in fields(self.conventions):
            out[f.name] = getattr(self.conventions, f.name)
        return out
