"""Micromagnetic parameters of the Fe(Co)GeTe2 class and their conversion to lattice units.

The seed paper (arXiv 2106.00833) reports the Néel skyrmion lattice of (Fe0.5Co0.5)5-xGeTe2 at
room temperature; its abstract gives no micromagnetic constants, and neither could we read them
from the related papers' full texts here. So :data:`FCGT_CLASS` collects constants of the same
family (Fe3GeTe2, Fe5GeTe2) from sources whose numbers we could check, and says which ones are
assumptions. Every constant carries its source in :attr:`MaterialParameters.sources`.

Conversion (``SpinSystem.from_micromagnetic`` holds the formulas, square lattice of cell a and
thickness t; the spins of a column of thickness t move together)::

    J = 2 A t,   D_lat = D a t,   K_lat = K_eff a^2 t,   B_lat = Ms B a^2 t,   T_lat = k_B T

all divided by J to get lattice units. Two combinations do not depend on the cell size a:

- the reduced field h = B_lat J / D_lat^2 = 2 A Ms B / D^2 (the skyrmion-lattice window of the
  lattice model is h ~ 0.2 .. 0.8, see docs/physics/skyrmion.md);
- the reduced temperature k_B T / J = k_B T / (2 A t): thermal fluctuations of a film weaken as
  its thickness grows, so where a flake sits on the T axis is set by its thickness.

D_lat / J = D a / (2 A) sets the helix period in cells (L ~ 2 pi J / D_lat) and K_lat / J the
anisotropy. In the continuum the zero-field ground state is a helix only if
D > D_c = 4 sqrt(A K_eff) / pi; below it the ferromagnet wins and skyrmions are metastable.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scipy import constants

from ..common import check_positive, check_range
from .model import SpinSystem, lattice_helix_period

MU_0 = constants.mu_0  # T m / A
K_B = constants.k


@dataclass(frozen=True)
class MaterialParameters:
    """A micromagnetic parameter set (SI units) and where each number comes from.

    Attributes:
        name: short label.
        A: exchange stiffness, J/m.
        D: interfacial DMI constant, J/m^2.
        K_u: uniaxial (magnetocrystalline) anisotropy, J/m^3 (> 0: easy axis c).
        Ms: saturation magnetization, A/m.
        lattice_constant: in-plane lattice constant a, m (the finest sensible cell).
        layer_thickness: thickness of one van der Waals layer, m.
        curie_temperature: K.
        sources: for each field above, the reference and whether it was checked.
    """

    name: str
    A: float
    D: float
    K_u: float
    Ms: float
    lattice_constant: float
    layer_thickness: float
    curie_temperature: float
    sources: dict = field(default_factory=dict)

    @property
    def K_eff(self) -> float:
        """K_u minus the thin-film shape anisotropy mu_0 Ms^2 / 2, J/m^3."""
        return self.K_u - 0.5 * MU_0 * self.Ms**2

    @property
    def helix_period(self) -> float:
        """Continuum zero-field helix period 4 pi A / |D|, m."""
        return 4 * math.pi * self.A / abs(self.D)

    @property
    def critical_dmi(self) -> float:
        """D_c = 4 sqrt(A K_eff) / pi (J/m^2): above it the zero-field ground state is a helix
        (0 when K_eff <= 0: no easy axis to beat)."""
        return 4 * math.sqrt(self.A * self.K_eff) / math.pi if self.K_eff > 0 else 0.0

    def with_values(self, **changes) -> MaterialParameters:
        """A copy with some constants changed (their source becomes "changed by the user")."""
        sources = dict(self.sources)
        for name in changes:
            sources[name] = "changed by the user"
        params = asdict(self) | changes
        params["sources"] = sources
        return MaterialParameters(**params)


# Constants of the Fe(Co)GeTe2 family. "checked" = the number was read in the cited text (its
# abstract) in this work; "derived" = computed here from checked numbers; "assumed" = a typical
# value we could not tie to a readable source.
FCGT_CLASS = MaterialParameters(
    name="Fe(Co)GeTe2 class",
    A=1.0e-12,
    D=1.0e-3,
    K_u=1.05e6,
    Ms=2 * 1.05e6 / 5.85,  # 2 K_u / B_A, about 3.6e5 A/m
    lattice_constant=4.04e-10,
    layer_thickness=29.19e-10 / 3,
    curie_temperature=310.0,
    sources={
        "A": "assumed: 1 pJ/m, the order used for FexGeTe2 in micromagnetics; not checked here",
        "D": "checked: 1.0 mJ/m^2 at the WTe2/Fe3GeTe2 interface, Wu et al., Nat. Commun. 11, "
        "3860 (2020); bulk Fe5GeTe2 films have only 0.04 mJ/m^2, Sampaio et al., "
        "arXiv:2503.18689 (2025)",
        "K_u": "checked: 1.05 MJ/m^3 (10.5e6 erg/cm^3) for Fe3GeTe2 at 2 K from high-field FMR, "
        "arXiv:2507.15366; Fe5-xGeTe2 flakes lose this c-axis anisotropy to the shape "
        "anisotropy above about 200 K (ACS Nano 19, 26193 (2025)), so at room temperature "
        "K_eff is much smaller",
        "Ms": "derived: 2 K_u / B_A with the anisotropy field B_A = 5.85 T of the same FMR "
        "study (Fe3GeTe2, 2 K)",
        "lattice_constant": "checked: a = 4.04 A, c = 29.19 A (three layers) for Fe5GeTe2 "
        "(May et al., the structure used in public crystal data)",
        "layer_thickness": "derived: c / 3",
        "curie_temperature": "checked: about 310 K for Fe5-xGeTe2, May et al., arXiv:2006.10116; "
        "Co substitution up to ~30 % raises it; the seed paper's FCGT orders above room "
        "temperature (arXiv 2106.00833)",
    },
)


@dataclass(frozen=True)
class LatticeMapping:
    """A material on a square lattice of cell ``cell_size`` and thickness ``thickness``.

    Attributes:
        exchange_joule: J = 2 A t, the energy unit, in joules (and in kelvin: J / k_B).
        D, K: D_lat / J and K_lat / J (K from K_eff).
        field_per_tesla: B_lat / J for 1 T.
        temperature_per_kelvin: k_B (1 K) / J.
        reduced_field_per_tesla: h = 2 A Ms B / D^2 for 1 T (cell-size independent).
        helix_period_cells: zero-field lattice helix period in cells; helix_period_nm in nm.
    """

    material: str
    cell_size: float
    thickness: float
    exchange_joule: float
    exchange_kelvin: float
    D: float
    K: float
    field_per_tesla: float
    temperature_per_kelvin: float
    reduced_field_per_tesla: float
    helix_period_cells: float
    helix_period_nm: float

    def field(self, tesla: float) -> float:
        """B_lat / J for mu_0 H = ``tesla``."""
        return self.field_per_tesla * tesla

    def temperature(self, kelvin: float) -> float:
        """k_B T / J for T = ``kelvin``."""
        return self.temperature_per_kelvin * kelvin

    def to_dict(self) -> dict:
        return asdict(self)


def to_lattice(
    material: MaterialParameters, thickness: float, cell_size: float | None = None
) -> LatticeMapping:
    """Map ``material`` onto a square lattice: cells of ``cell_size`` (default the lattice
    constant) and a film of ``thickness`` (m) whose columns move together."""
    thickness = check_positive("thickness (m)", thickness)
    cell_size = material.lattice_constant if cell_size is None else cell_size
    check_positive("cell_size (m)", cell_size)
    one_tesla = SpinSystem.from_micromagnetic(
        3, A=material.A, D=material.D, cell_size=cell_size, K_eff=material.K_eff,
        Ms=material.Ms, B=1.0, thickness=thickness,
    )  # fmt: skip
    exchange = one_tesla.units.energy
    period = lattice_helix_period(1.0, one_tesla.D) if one_tesla.D else math.inf
    return LatticeMapping(
        material=material.name,
        cell_size=cell_size,
        thickness=thickness,
        exchange_joule=exchange,
        exchange_kelvin=exchange / K_B,
        D=one_tesla.D,
        K=one_tesla.K,
        field_per_tesla=one_tesla.B,
        temperature_per_kelvin=K_B / exchange,
        reduced_field_per_tesla=2 * material.A * material.Ms / material.D**2,
        helix_period_cells=period,
        helix_period_nm=period * cell_size * 1e9,
    )


def layers_for_temperature(
    material: MaterialParameters, kelvin: float, lattice_temperature: float
) -> float:
    """How many van der Waals layers a film needs so that ``kelvin`` is ``lattice_temperature``
    (k_B T / J) in lattice units: t = k_B T / (2 A T_lat), in layers."""
    check_positive("kelvin", kelvin)
    check_range("lattice_temperature", lattice_temperature, 0.0, low_open=True)
    thickness = K_B * kelvin / (2 * material.A * lattice_temperature)
    return thickness / material.layer_thickness


def edelstein_inputs() -> dict:
    """Inputs of the free-Rashba-gas Edelstein estimate for this material class, with their
    status; see docs/physics/skyrmion.md. The seed paper measures the effect (spin-charge
    conversion) but its abstract gives no Rashba parameter, so the alpha here is an assumption of
    the order found at polar metal surfaces and interfaces."""
    return {
        "alpha_eV_m": 1e-11,  # 0.1 eV Angstrom: assumed, not from the seed paper
        "m_eff": 1.0,  # free-electron mass: assumed for a metal
        "tau_s": 1e-14,  # 10 fs: assumed, typical of a disordered metal at room temperature
        "E_V_per_m": 1e4,  # 100 V/cm: a typical transport field
        "fermi_energy_eV": 1.0,  # above the band crossing; the result does not depend on it
        "status": "all assumed: order-of-magnitude inputs for a metal with Rashba splitting",
    }
