"""The equations the nodal model learns, their parameters and how `--param` sets them.

Each `Equation` names its fields, its spatial dimension, the boundaries it supports and a
table of `Parameter`s: the physical coefficients plus the discretization (time step
``dt``, number of nodes, Fourier modes of the random initial conditions). Every parameter
has a default and an allowed range; `Equation.parse_params` turns ``["nu=0.05", ...]``
into a complete `dict`, refusing unknown names and out-of-range or non-numeric values
with a `ValueError` that names the parameter and its range.

Domains (fixed, not parameters): ``[0, 2*pi)`` when periodic (``[0, 2*pi)^2`` in 2D) and
``[0, pi]`` with homogeneous Dirichlet ends when bounded. A Dirichlet problem is the odd
extension of a periodic one on ``[-pi, pi)``; the equations offered with Dirichlet ends
keep odd solutions odd, so one periodic solver serves both.

===========  =========================================  ======  ==================
name         equation                                    fields  boundaries
===========  =========================================  ======  ==================
advection    u_t + a u_x = 0                             u       periodic
heat         u_t = nu u_xx                               u       dirichlet, periodic
burgers      u_t + u u_x = nu u_xx                       u       periodic, dirichlet
system       u_t = du u_xx + u - u^3 - v                 u, v    periodic, dirichlet
             v_t = dv v_xx + eps (u - gamma v)
advdiff2d    u_t + ax u_x + ay u_y = nu (u_xx + u_yy)    u       periodic (2D)
===========  =========================================  ======  ==================

``system`` is a FitzHugh-Nagumo reaction-diffusion pair: an excitable, bistable ``u``
(cubic reaction) and a slow linear inhibitor ``v``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PERIODIC = "periodic"
DIRICHLET = "dirichlet"
BOUNDARIES = (PERIODIC, DIRICHLET)


@dataclass(frozen=True)
class Parameter:
    """One ``--param`` entry: a real (or integer) value in ``[low, high]``."""

    name: str
    default: float
    low: float
    high: float
    help: str
    integer: bool = False

    def parse(self, text: str) -> float | int:
        """The value of ``text``, or a `ValueError` naming the parameter and its range."""
        kind = "an integer" if self.integer else "a number"
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"--param {self.name}={text!r} is not {kind}; allowed range is "
                f"[{self.low:g}, {self.high:g}]"
            ) from None
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise ValueError(
                f"--param {self.name}={text} is out of range; allowed range is "
                f"[{self.low:g}, {self.high:g}] ({self.help})"
            )
        if self.integer:
            if value != int(value):
                raise ValueError(f"--param {self.name}={text} must be an integer")
            return int(value)
        return value


# Discretization parameters every equation has (defaults differ per equation).
def _dt(default: float) -> Parameter:
    return Parameter("dt", default, 1e-4, 0.5, "time step between snapshots (training step)")


def _nodes(default: int, low: int = 16, high: int = 512) -> Parameter:
    return Parameter("nodes", default, low, high, "number of nodes", integer=True)


def _modes(default: int) -> Parameter:
    return Parameter(
        "modes", default, 1, 24, "Fourier modes of the random initial conditions", integer=True
    )


@dataclass(frozen=True)
class Equation:
    """A PDE family: fields, dimension, boundaries and its parameter table."""

    name: str
    formula: str
    fields: tuple[str, ...]
    dim: int
    boundaries: tuple[str, ...]  # the first is the default
    parameters: tuple[Parameter, ...]
    linear: bool
    default_grid: str = "uniform"

    @property
    def default_boundary(self) -> str:
        return self.boundaries[0]

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        known = ", ".join(p.name for p in self.parameters)
        raise ValueError(f"unknown parameter {name!r} for {self.name}; known: {known}")

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.parameters}

    def parse_params(self, items: list[str] | None) -> dict[str, float]:
        """All parameters: the defaults, overridden by ``["name=value", ...]``."""
        values = self.defaults()
        seen = set()
        for item in items or []:
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise ValueError(f"--param {item!r} must look like name=value")
            if name in seen:
                raise ValueError(f"--param {name} is given twice")
            seen.add(name)
            values[name] = self.parameter(name).parse(text.strip())
        return values

    def check_boundary(self, boundary: str | None) -> str:
        boundary = boundary or self.default_boundary
        if boundary not in self.boundaries:
            raise ValueError(
                f"--boundary {boundary} is not supported by {self.name}; allowed: "
                f"{', '.join(self.boundaries)}"
            )
        return boundary


EQUATIONS: dict[str, Equation] = {
    equation.name: equation
    for equation in (
        Equation(
            "advection",
            "u_t + a u_x = 0",
            ("u",),
            1,
            (PERIODIC,),
            (
                Parameter("a", 1.0, -5.0, 5.0, "advection speed"),
                _dt(0.02),
                _nodes(128),
                _modes(8),
            ),
            linear=True,
        ),
        Equation(
            "heat",
            "u_t = nu u_xx",
            ("u",),
            1,
            (DIRICHLET, PERIODIC),
            (
                Parameter("nu", 0.1, 1e-3, 2.0, "diffusivity"),
                _dt(0.01),
                _nodes(64),
                _modes(8),
            ),
            linear=True,
        ),
        Equation(
            "burgers",
            "u_t + u u_x = nu u_xx",
            ("u",),
            1,
            (PERIODIC, DIRICHLET),
            (
                Parameter("nu", 0.1, 0.01, 2.0, "viscosity"),
                _dt(0.02),
                _nodes(128),
                _modes(6),
            ),
            linear=False,
        ),
        Equation(
            "system",
            "u_t = du u_xx + u - u^3 - v;  v_t = dv v_xx + eps (u - gamma v)",
            ("u", "v"),
            1,
            (PERIODIC, DIRICHLET),
            (
                Parameter("du", 0.05, 1e-3, 1.0, "diffusivity of u"),
                Parameter("dv", 0.1, 0.0, 1.0, "diffusivity of v"),
                Parameter("eps", 0.5, 0.0, 5.0, "inhibitor rate"),
                Parameter("gamma", 1.0, 0.0, 5.0, "inhibitor self-decay"),
                _dt(0.05),
                _nodes(128),
                _modes(6),
            ),
            linear=False,
        ),
        Equation(
            "advdiff2d",
            "u_t + ax u_x + ay u_y = nu (u_xx + u_yy)",
            ("u",),
            2,
            (PERIODIC,),
            (
                Parameter("ax", 1.0, -5.0, 5.0, "advection speed along x"),
                Parameter("ay", 0.5, -5.0, 5.0, "advection speed along y"),
                Parameter("nu", 0.05, 0.0, 1.0, "diffusivity"),
                _dt(0.05),
                _nodes(576, 64, 2048),
                _modes(2),
            ),
            linear=True,
            default_grid="random",
        ),
    )
}


def get_equation(name: str) -> Equation:
    try:
        return EQUATIONS[name]
    except KeyError:
        raise ValueError(f"unknown equation {name!r}; known: {', '.join(EQUATIONS)}") from None
