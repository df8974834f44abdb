"""The model's parameters: wurtzite GaN and AlN from one cited data file, and what transport needs.

All numbers live in ``sw/physics/data/nitride_materials.json``; this module only reads
them and derives what the solver needs (strain, polarization, valence-band splittings,
effective masses) and what the mobility needs (:class:`TransportParameters`: permittivities,
LO phonon, deformation potential, roughness, dislocations). Conventions:

* The growth axis is metal-polar [0001]; polarizations are the components along it
  (negative: pointing toward the substrate).
* Energies in eV, lengths in nm unless a name says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..common import check_range

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "nitride_materials.json"

# Valence bands the solver knows, top first in GaN: heavy hole, light hole, crystal-field hole.
VALENCE_BANDS = ("hh", "lh", "ch")


@dataclass(frozen=True)
class Material:
    """One wurtzite binary from a parameter set (see the data file for units and sources)."""

    name: str
    lattice_a_angstrom: float
    c13_GPa: float
    c33_GPa: float
    e31_C_per_m2: float
    e33_C_per_m2: float
    spontaneous_polarization_C_per_m2: float
    relative_permittivity: float
    bandgap_0K_eV: float
    varshni_alpha_eV_per_K: float
    varshni_beta_K: float
    valence_band_offset_eV: float
    luttinger_A: tuple[float, float, float, float, float, float]
    crystal_field_splitting_eV: float
    spin_orbit_splitting_eV: float
    deformation_D3_eV: float | None
    deformation_D4_eV: float | None
    electron_mass_m0: float
    donor_ionization_energy_eV: float
    high_frequency_permittivity: float
    lo_phonon_energy_eV: float | None
    lattice_c_angstrom: float
    deformation_D1_eV: float | None
    deformation_D2_eV: float | None
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def bandgap_eV(self, temperature_K: float) -> float:
        """Varshni gap: Eg(T) = Eg(0) - alpha T^2 / (T + beta)."""
        t = temperature_K
        return self.bandgap_0K_eV - self.varshni_alpha_eV_per_K * t * t / (t + self.varshni_beta_K)

    def in_plane_strain(self, substrate_lattice_a_angstrom: float) -> float:
        """Biaxial strain eps_xx of a layer grown pseudomorphically on the given lattice."""
        return (substrate_lattice_a_angstrom - self.lattice_a_angstrom) / self.lattice_a_angstrom

    def axial_strain(self, in_plane_strain: float) -> float:
        """eps_zz = -2 (C13 / C33) eps_xx for biaxial stress on a c-plane layer."""
        return -2.0 * self.c13_GPa / self.c33_GPa * in_plane_strain

    def piezoelectric_polarization_C_per_m2(self, in_plane_strain: float) -> float:
        """P_pz = 2 eps_xx (e31 - e33 C13 / C33) (e.g. Ambacher et al. 2000, eq. 3)."""
        return (
            2.0
            * in_plane_strain
            * (self.e31_C_per_m2 - self.e33_C_per_m2 * self.c13_GPa / self.c33_GPa)
        )

    def total_polarization_C_per_m2(self, in_plane_strain: float) -> float:
        """Spontaneous plus piezoelectric polarization along [0001]."""
        return self.spontaneous_polarization_C_per_m2 + self.piezoelectric_polarization_C_per_m2(
            in_plane_strain
        )

    def valence_band_edges_eV(self, in_plane_strain: float) -> dict[str, float]:
        """Zone-centre energies of the hh, lh and ch bands relative to the valence-band top.

        Quasi-cubic 3x3 k.p at k = 0 (Chuang and Chang, PRB 54, 2491 (1996)) with
        Delta_1 = Delta_cr, Delta_2 = Delta_3 = Delta_so / 3 and the biaxial-strain term
        theta = D3 eps_zz + 2 D4 eps_xx added to Delta_1 (the hydrostatic shift common to
        all three bands is dropped). Values are <= 0; the top band is 0.
        """
        theta = 0.0
        if in_plane_strain != 0.0:
            if self.deformation_D3_eV is None or self.deformation_D4_eV is None:
                raise ValueError(
                    f"{self.name}: strained layers need deformation potentials D3 and D4, "
                    "which this parameter set does not tabulate; grow it relaxed "
                    "(as the bottom layer) instead"
                )
            eps_zz = self.axial_strain(in_plane_strain)
            theta = self.deformation_D3_eV * eps_zz + 2.0 * self.deformation_D4_eV * in_plane_strain
        delta1 = self.crystal_field_splitting_eV + theta
        delta2 = delta3 = self.spin_orbit_splitting_eV / 3.0
        heavy = delta1 + delta2
        half = 0.5 * (delta1 - delta2)
        root = math.sqrt(half * half + 2.0 * delta3 * delta3)
        upper, lower = half + root, half - root
        # With a positive effective crystal field (GaN) the upper root is light-hole-like
        # (|X+iY> character); with a negative one (AlN) it is crystal-field-like (|Z>).
        light, crystal = (upper, lower) if delta1 - delta2 >= 0.0 else (lower, upper)
        top = max(heavy, upper)
        return {"hh": heavy - top, "lh": light - top, "ch": crystal - top}

    def heavy_hole_deformation_potential_eV(self) -> float:
        """|D1 + D3|: the shift of the heavy-hole (A) band per unit strain along c.

        The acoustic deformation potential of the hole transport model (an LA phonon along
        c strains ε_zz only; along a the shift is D2 + D4, much smaller for GaN). The
        absolute deformation potential of a valence band is not uniquely defined, so this
        is the relative, band-resolved value of the data set."""
        if self.deformation_D1_eV is None or self.deformation_D3_eV is None:
            raise ValueError(f"{self.name}: D1 and D3 are needed for hole transport")
        return abs(self.deformation_D1_eV + self.deformation_D3_eV)

    def hole_masses_m0(self) -> dict[str, tuple[float, float]]:
        """(m_z, m_inplane) per band from A1..A6, quasi-cubic large-k limit.

        hh: 1/|A1+A3|, 1/|A2+A4-A5|;  lh: 1/|A1+A3|, 1/|A2+A4+A5|;  ch: 1/|A1|, 1/|A2|.
        The large-k in-plane masses are used because the 2DHG Fermi energy (~0.1 eV) is
        far above the ~10 meV splittings that make the band-edge masses differ.
        """
        a1, a2, a3, a4, a5, _ = self.luttinger_A
        inverse = {
            "hh": (a1 + a3, a2 + a4 - a5),
            "lh": (a1 + a3, a2 + a4 + a5),
            "ch": (a1, a2),
        }
        masses = {}
        for band, (inv_z, inv_xy) in inverse.items():
            if inv_z >= 0.0 or inv_xy >= 0.0:
                raise ValueError(f"{self.name}: A-parameters give a non-positive {band} hole mass")
            masses[band] = (-1.0 / inv_z, -1.0 / inv_xy)
        return masses


@dataclass(frozen=True)
class ParameterSet:
    """A named, self-consistent choice of parameters for every material."""

    name: str
    description: str
    materials: dict[str, Material]
    references: dict[str, str]
    assumptions: dict[str, float]

    def material(self, name: str) -> Material:
        try:
            return self.materials[name]
        except KeyError:
            raise ValueError(
                f"material {name!r} is not in parameter set {self.name!r}; "
                f"allowed: {', '.join(sorted(self.materials))}"
            ) from None


@lru_cache(maxsize=1)
def _raw_database() -> dict:
    with DATA_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


def available_parameter_sets() -> list[str]:
    """Names accepted by :func:`load_parameter_set`."""
    return sorted(_raw_database()["parameter_sets"])


def default_parameter_set_name() -> str:
    return _raw_database()["default_parameter_set"]


@lru_cache(maxsize=8)
def load_parameter_set(name: str | None = None) -> ParameterSet:
    """Load one parameter set from the data file (the default one when ``name`` is None)."""
    raw = _raw_database()
    name = name or raw["default_parameter_set"]
    if name not in raw["parameter_sets"]:
        raise ValueError(
            f"unknown parameter set {name!r}; allowed: {', '.join(available_parameter_sets())}"
        )
    entry = raw["parameter_sets"][name]
    materials = {}
    for material_name, fields in entry["materials"].items():
        values = {key: item["value"] for key, item in fields.items()}
        sources = {key: item["source"] for key, item in fields.items()}
        values["luttinger_A"] = tuple(values["luttinger_A"])
        materials[material_name] = Material(name=material_name, sources=sources, **values)
    assumptions = {key: item["value"] for key, item in raw["model_assumptions"].items()}
    return ParameterSet(
        name=name,
        description=entry["description"],
        materials=materials,
        references=dict(raw["references"]),
        assumptions=assumptions,
    )


def interface_sheet_charge_C_per_m2(
    upper: Material, lower: Material, substrate_lattice_a_angstrom: float
) -> float:
    """Bound sheet charge sigma = P_lower - P_upper at a c-plane interface (metal-polar).

    ``upper`` lies on top (toward the surface). Both layers are strained to the relaxed
    buffer lattice ``substrate_lattice_a_angstrom``. For GaN on relaxed AlN this is
    negative: the charge that binds the 2D hole gas.
    """
    p_upper = upper.total_polarization_C_per_m2(upper.in_plane_strain(substrate_lattice_a_angstrom))
    p_lower = lower.total_polarization_C_per_m2(lower.in_plane_strain(substrate_lattice_a_angstrom))
    return p_lower - p_upper


@dataclass(frozen=True)
class TransportParameters:
    """Inputs of the 2D hole mobility (``scattering.py``), SI where a name says so.

    Material values come from the channel (cap) material of the parameter set; the
    roughness and the dislocations are model assumptions of the data file (override them
    with :meth:`replace`). ``temperature_K`` is the solved structure's temperature.
    """

    temperature_K: float
    static_permittivity: float  # relative
    high_frequency_permittivity: float  # relative
    lo_phonon_energy_eV: float
    deformation_potential_eV: float  # heavy-hole acoustic deformation potential Ξ
    elastic_constant_GPa: float  # c_L = C33 (ρ v_LA² along c)
    roughness_height_nm: float  # Δ
    roughness_correlation_nm: float  # Λ
    dislocation_density_cm2: float
    dislocation_occupancy: float  # f: charged fraction of the sites along a line
    dislocation_site_spacing_nm: float  # c lattice constant

    @classmethod
    def for_channel(
        cls, material: Material, assumptions: dict, temperature_K: float
    ) -> TransportParameters:
        if material.lo_phonon_energy_eV is None:
            raise ValueError(f"{material.name}: no LO phonon energy; it cannot be the channel")
        return cls(
            temperature_K=float(temperature_K),
            static_permittivity=material.relative_permittivity,
            high_frequency_permittivity=material.high_frequency_permittivity,
            lo_phonon_energy_eV=material.lo_phonon_energy_eV,
            deformation_potential_eV=material.heavy_hole_deformation_potential_eV(),
            elastic_constant_GPa=material.c33_GPa,
            roughness_height_nm=float(assumptions["interface_roughness_height_nm"]),
            roughness_correlation_nm=float(assumptions["interface_roughness_correlation_nm"]),
            dislocation_density_cm2=float(assumptions["dislocation_density_cm2"]),
            dislocation_occupancy=float(assumptions["dislocation_line_occupancy"]),
            dislocation_site_spacing_nm=material.lattice_c_angstrom / 10.0,
        )

    def replace(self, **changes) -> TransportParameters:
        """A copy with some fields changed (checked: non-negative, finite)."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"unknown transport parameter(s) {', '.join(sorted(unknown))}; allowed: "
                f"{', '.join(self.__dataclass_fields__)}"
            )
        for name, value in changes.items():
            check_range(name, value, 0.0)
        return dataclasses.replace(self, **changes)
