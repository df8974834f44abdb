"""Self-consistent Schrodinger-Poisson solver for GaN/AlN 2D hole gases.

Model (details and equations in docs/physics/nitride.md):

* Poisson along the growth axis, d/dz (eps dphi/dz) = -rho, finite volumes on a graded
  non-uniform mesh. Interfaces carry the polarization sheet charges sigma = P_below -
  P_above. The free surface is a Dirichlet node (Fermi level pinned ``surface_barrier_eV``
  below E_C: surface states absorb whatever charge that takes); the nucleation interface
  at the bottom is a zero-field (Neumann) node, its own polarization charge taken as
  compensated by the substrate.
* rho = q (p - n + N_D^+): 3D electrons and (outside the quantum box) 3D holes from
  Fermi-Dirac 1/2 statistics, donors ionized as N_D / (1 + g exp((E_F - E_D) / kT)).
* Holes in the cap and a few nm of the buffer (the quantum box) come from the effective
  mass Schrodinger equation of each valence band (hh; optionally lh and ch), every
  subband filled as a 2D gas: p_i = m_xy kT / (pi hbar^2) ln(1 + exp((E_i - E_F) / kT)).
* Nonlinear Poisson is solved by Newton's method, damped by a line search on the convex
  functional whose gradient is the Poisson residual (globally convergent: fully ionized
  donor tails make the first linearizations ask for moves of hundreds of volts).
  The outer Schrodinger-Poisson loop uses
  the predictor-corrector of Trellakis et al., J. Appl. Phys. 81, 7880 (1997): inside
  Newton the subband energies follow the local potential change, which makes the outer
  iteration converge without ad-hoc mixing.

Internal units: nm, eV, volts, densities in nm^-3 / nm^-2; public results in cm^-3 /
cm^-2. The Fermi level is the energy zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.constants as const
from scipy.interpolate import CubicHermiteSpline
from scipy.linalg import solve_banded
from scipy.special import expit, spence

from ..common import check_range
from .mesh import graded_mesh_nm
from .model import (
    VALENCE_BANDS,
    ParameterSet,
    interface_sheet_charge_C_per_m2,
    load_parameter_set,
)
from .schrodinger import HBAR2_OVER_2M0_EV_NM2, node_weights_nm, solve_schrodinger
from .structure import DonorSheet, Stack, UniformDonors

BOLTZMANN_EV_PER_K = const.k / const.e
VACUUM_PERMITTIVITY_E_PER_V_NM = const.epsilon_0 / const.e * 1e-9  # about 0.0553
NM3_TO_CM3 = 1e21  # 1 nm^-3 = 1e21 cm^-3
NM2_TO_CM2 = 1e14  # 1 nm^-2 = 1e14 cm^-2
C_PER_M2_TO_E_PER_NM2 = 1.0 / const.e * 1e-18
MAX_NEWTON_STEP_V = 5.0  # first trial of a Newton step moves no node further
MAX_BACKTRACKS = 60


@dataclass(frozen=True)
class SolverOptions:
    """Numerical knobs. ``mesh_scale`` < 1 refines every spacing (for convergence checks)."""

    mesh_scale: float = 1.0
    bands: tuple[str, ...] = ("hh",)
    quantum_margin_nm: float = 3.0  # how far the quantum box reaches into the buffer
    potential_tolerance_V: float = 1e-7  # outer loop: max |phi_new - phi_old|
    newton_tolerance_V: float = 1e-10
    max_outer_iterations: int = 80
    max_newton_iterations: int = 80
    energy_window_kT: float = 20.0  # subbands up to E_F + this many kT (hole energies)

    def __post_init__(self):
        object.__setattr__(
            self, "mesh_scale", check_range("mesh_scale", self.mesh_scale, 0.05, 4.0)
        )
        bands = tuple(self.bands)
        if not bands or any(band not in VALENCE_BANDS for band in bands):
            raise ValueError(
                f"bands must be a non-empty subset of {', '.join(VALENCE_BANDS)}, got {bands}"
            )
        object.__setattr__(self, "bands", bands)
        margin = check_range("quantum_margin_nm", self.quantum_margin_nm, 0.5, 50.0)
        object.__setattr__(self, "quantum_margin_nm", margin)


@dataclass
class ConvergenceInfo:
    """How the self-consistent loop went."""

    converged: bool
    outer_iterations: int
    newton_iterations: int
    potential_updates_V: list[float]  # max |phi_new - phi_old| per outer iteration
    sheet_density_history_cm2: list[float]  # p_s after each outer iteration
    final_residual_cm2: float  # max |Poisson residual| at the end, as a sheet density

    def summary(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        last = self.potential_updates_V[-1] if self.potential_updates_V else float("nan")
        return (
            f"{state} in {self.outer_iterations} Schrodinger-Poisson iterations "
            f"({self.newton_iterations} Newton steps), last potential update {last:.1e} V, "
            f"Poisson residual {self.final_residual_cm2:.1e} cm^-2"
        )


@dataclass
class Subband:
    """One 2D subband of the hole gas."""

    band: str  # hh, lh or ch
    index: int  # 0 = ground state of that band
    energy_eV: float  # subband edge on the electron energy scale, relative to E_F
    sheet_density_cm2: float
    inplane_mass_m0: float
    wavefunction_per_sqrt_nm: np.ndarray = field(repr=False)  # on NitrideResult.z_nm


@dataclass
class NitrideResult:
    """Everything :func:`solve` computes. Energies relative to the Fermi level (0 eV)."""

    stack: Stack
    parameter_set: str
    temperature_K: float
    surface_barrier_eV: float
    z_nm: np.ndarray
    potential_V: np.ndarray
    conduction_band_eV: np.ndarray  # at nodes; interface nodes take the lower material
    valence_band_eV: np.ndarray  # valence-band maximum, same convention
    hole_density_cm3: np.ndarray
    electron_density_cm3: np.ndarray
    donor_density_cm3: np.ndarray
    ionized_donor_density_cm3: np.ndarray
    node_weights_nm: np.ndarray
    subbands: list[Subband]
    p_s_cm2: float  # 2D hole gas: all subbands
    classical_holes_cm2: float  # 3D holes outside the quantum box (normally negligible)
    interface_charges_cm2: list[tuple[float, float]]  # (depth nm, sigma / q cm^-2, signed)
    channel_relative_permittivity: float
    channel_hole_mass_m0: float  # in-plane hh mass of the cap (mobility model, plots)
    convergence: ConvergenceInfo
    cell_conduction_offset_eV: np.ndarray = field(repr=False)
    cell_valence_offset_eV: np.ndarray = field(repr=False)

    @property
    def polarization_charge_cm2(self) -> float:
        """|sigma| / q at the cap/buffer interface: the upper bound for p_s."""
        channel_depth = self.stack.channel_depth_nm
        for depth, sigma in self.interface_charges_cm2:
            if abs(depth - channel_depth) < 1e-9:
                return -sigma
        raise RuntimeError("no interface charge at the channel")  # cannot happen

    @property
    def hole_centroid_nm(self) -> float:
        """Depth of the centre of mass of the 2D hole gas."""
        weights = np.zeros_like(self.z_nm)
        for subband in self.subbands:
            weights += subband.sheet_density_cm2 * subband.wavefunction_per_sqrt_nm**2
        weights = weights * self.node_weights_nm
        total = weights.sum()
        return float((weights * self.z_nm).sum() / total) if total > 0 else float("nan")

    @property
    def ionized_donor_sheet_cm2(self) -> float:
        return float((self.ionized_donor_density_cm3 * self.node_weights_nm).sum() * 1e-7)

    def band_edges_for_plot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z, E_C, E_V) with both sides of every interface (each cell's two ends)."""
        z = np.repeat(self.z_nm, 2)[1:-1]
        phi = np.repeat(self.potential_V, 2)[1:-1]
        return (
            z,
            np.repeat(self.cell_conduction_offset_eV, 2) - phi,
            np.repeat(self.cell_valence_offset_eV, 2) - phi,
        )

    def summary_table(self) -> str:
        lines = [
            f"p_s = {self.p_s_cm2:.4g} cm^-2   (polarization charge |sigma|/q = "
            f"{self.polarization_charge_cm2:.4g} cm^-2)",
            f"T = {self.temperature_K:g} K, parameter set {self.parameter_set}, surface "
            f"barrier E_C - E_F = {self.surface_barrier_eV:g} eV",
            f"2DHG centroid {self.hole_centroid_nm - self.stack.channel_depth_nm:+.2f} nm from "
            f"the interface, ionized donors {self.ionized_donor_sheet_cm2:.3g} cm^-2",
            "",
            f"{'band':>4} {'n':>2} {'E - E_F (meV)':>14} {'p_i (cm^-2)':>12} {'m_xy/m0':>8}",
        ]
        shown = sorted(self.subbands, key=lambda s: -s.sheet_density_cm2)[:8]
        for subband in shown:
            lines.append(
                f"{subband.band:>4} {subband.index:>2} {1e3 * subband.energy_eV:>14.1f} "
                f"{subband.sheet_density_cm2:>12.3e} {subband.inplane_mass_m0:>8.3f}"
            )
        if len(self.subbands) > len(shown):
            lines.append(f"   ... {len(self.subbands) - len(shown)} more weakly occupied subbands")
        lines.append("")
        lines.append(self.convergence.summary())
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready summary (arrays as lists)."""
        return {
            "stack": self.stack.describe(),
            "parameter_set": self.parameter_set,
            "temperature_K": self.temperature_K,
            "surface_barrier_eV": self.surface_barrier_eV,
            "p_s_cm2": self.p_s_cm2,
            "polarization_charge_cm2": self.polarization_charge_cm2,
            "classical_holes_cm2": self.classical_holes_cm2,
            "hole_centroid_nm": self.hole_centroid_nm,
            "ionized_donor_sheet_cm2": self.ionized_donor_sheet_cm2,
            "interface_charges_cm2": [
                {"depth_nm": depth, "sigma_over_q_cm2": sigma}
                for depth, sigma in self.interface_charges_cm2
            ],
            "subbands": [
                {
                    "band": s.band,
                    "index": s.index,
                    "energy_eV": s.energy_eV,
                    "sheet_density_cm2": s.sheet_density_cm2,
                    "inplane_mass_m0": s.inplane_mass_m0,
                }
                for s in self.subbands
            ],
            "convergence": {
                "converged": self.convergence.converged,
                "outer_iterations": self.convergence.outer_iterations,
                "newton_iterations": self.convergence.newton_iterations,
                "potential_updates_V": self.convergence.potential_updates_V,
                "sheet_density_history_cm2": self.convergence.sheet_density_history_cm2,
                "final_residual_cm2": self.convergence.final_residual_cm2,
            },
            "profile": {
                "z_nm": self.z_nm.tolist(),
                "potential_V": self.potential_V.tolist(),
                "conduction_band_eV": self.conduction_band_eV.tolist(),
                "valence_band_eV": self.valence_band_eV.tolist(),
                "hole_density_cm3": self.hole_density_cm3.tolist(),
                "electron_density_cm3": self.electron_density_cm3.tolist(),
                "donor_density_cm3": self.donor_density_cm3.tolist(),
                "ionized_donor_density_cm3": self.ionized_donor_density_cm3.tolist(),
            },
        }


def fermi_dirac_half(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalized F_1/2(eta) and its derivative (Aymerich-Humet et al. 1981, <0.5 % error).

    F_1/2 = 1 / (exp(-eta) + xi(eta)), xi = 3 sqrt(pi/2) / u^(3/2),
    u = eta + 2.13 + (|eta - 2.13|^2.4 + 9.6)^(5/12). Goes to exp(eta) for eta << 0.
    """
    eta = np.clip(eta, -700.0, 700.0)
    shifted = eta - 2.13
    inner = np.abs(shifted) ** 2.4 + 9.6
    u = eta + 2.13 + inner ** (5.0 / 12.0)
    du = 1.0 + inner ** (-7.0 / 12.0) * np.abs(shifted) ** 1.4 * np.sign(shifted)
    constant = 3.0 * math.sqrt(math.pi / 2.0)
    xi = constant * u**-1.5
    dxi = -1.5 * constant * u**-2.5 * du
    exp_minus = np.exp(-eta)
    value = 1.0 / (exp_minus + xi)
    derivative = (exp_minus - dxi) * value * value
    return value, derivative


@lru_cache(maxsize=1)
def _fermi_half_antiderivative_table() -> CubicHermiteSpline:
    """G(eta) = integral of fermi_dirac_half from -inf, tabulated once (Gauss-Legendre).

    Cubic Hermite interpolation with F_1/2 as the slope keeps G' = F_1/2 at every node,
    so the Newton merit function below is consistent with the charge it integrates.
    """
    nodes = np.linspace(_G_TABLE_LOW, 700.0, 30_401)
    gauss_x, gauss_w = np.polynomial.legendre.leggauss(6)
    left, right = nodes[:-1], nodes[1:]
    half = 0.5 * (right - left)
    points = 0.5 * (right + left)[:, None] + half[:, None] * gauss_x[None, :]
    pieces = (fermi_dirac_half(points)[0] * gauss_w[None, :]).sum(axis=1) * half
    values = np.concatenate(([math.exp(_G_TABLE_LOW)], math.exp(_G_TABLE_LOW) + np.cumsum(pieces)))
    return CubicHermiteSpline(nodes, values, fermi_dirac_half(nodes)[0])


_G_TABLE_LOW = -60.0  # below this F_1/2 = exp(eta) to 1e-26, so G = exp(eta) too


def fermi_half_antiderivative(eta: np.ndarray) -> np.ndarray:
    """G(eta) with G' = fermi_dirac_half (used by the convex Newton merit function)."""
    eta = np.clip(eta, -700.0, 700.0)
    low = eta < _G_TABLE_LOW
    result = np.empty_like(eta)
    result[low] = np.exp(eta[low])
    result[~low] = _fermi_half_antiderivative_table()(eta[~low])
    return result


class _Model:
    """The discretized stack: mesh, per-cell materials, donors, and the charge model."""

    def __init__(
        self, stack: Stack, params: ParameterSet, temperature_K: float, opts: SolverOptions
    ):
        self.stack, self.params, self.opts = stack, params, opts
        self.kT = BOLTZMANN_EV_PER_K * temperature_K
        materials = [params.material(layer.material) for layer in stack.layers]
        substrate_a = materials[-1].lattice_a_angstrom
        strains = [m.in_plane_strain(substrate_a) for m in materials]
        boundaries = np.concatenate(
            ([0.0], np.cumsum([layer.thickness_nm for layer in stack.layers]))
        )
        self.boundaries = boundaries

        # Mesh: fine at the surface and the heterointerfaces, graded up to 2 nm elsewhere.
        scale = opts.mesh_scale
        breakpoints = list(boundaries)
        refinements = [(0.0, 0.1 * scale)]
        refinements += [(depth, 0.04 * scale) for depth in boundaries[1:-1]]
        for (top, bottom), ibl in zip(stack.ibl_depths_nm(), stack.blocking_layers, strict=True):
            breakpoints += [top, bottom]
            # captured donors pile up at the bottom edge over λ_I: resolve that spike
            spike = min(0.5, 0.25 * ibl.segregation_length_nm)
            refinements += [(top, 0.5 * scale), (bottom, spike * scale)]
        for component in stack.donors:
            if isinstance(component, DonorSheet | UniformDonors):
                for edge in (component.top_depth_nm, component.bottom_depth_nm):
                    if 0.0 < edge < boundaries[-1]:
                        breakpoints.append(edge)
                        refinements.append((edge, 0.2 * scale))
        self.z = graded_mesh_nm(breakpoints, refinements, 2.0 * scale, 1.0 + 0.12 * scale)
        z = self.z
        self.h = np.diff(z)
        self.node_weights = node_weights_nm(z)
        count = z.size
        cell_layer = np.clip(
            np.searchsorted(boundaries, 0.5 * (z[1:] + z[:-1])) - 1, 0, len(materials) - 1
        )
        self.cell_layer = cell_layer

        # Per-layer properties (energies in eV with E_F = 0 at phi = 0 reference).
        eps0 = VACUUM_PERMITTIVITY_E_PER_V_NM
        self.layer_eps = np.array([m.relative_permittivity * eps0 for m in materials])
        self.layer_ec0 = np.array(
            [m.valence_band_offset_eV + m.bandgap_eV(temperature_K) for m in materials]
        )
        self.layer_ev0 = np.array([m.valence_band_offset_eV for m in materials])
        self.layer_ionization = np.array([m.donor_ionization_energy_eV for m in materials])
        band_edges = [m.valence_band_edges_eV(s) for m, s in zip(materials, strains, strict=True)]
        masses = [m.hole_masses_m0() for m in materials]
        self.bands = opts.bands
        self.layer_band_offset = {b: np.array([e[b] for e in band_edges]) for b in self.bands}
        self.layer_mass_z = {b: np.array([m[b][0] for m in masses]) for b in self.bands}
        self.layer_mass_xy = {b: np.array([m[b][1] for m in masses]) for b in self.bands}
        electron_mass = np.array([m.electron_mass_m0 for m in materials])
        self.layer_nc = self._effective_density(electron_mass)
        self.layer_nv = {
            b: self._effective_density(
                (self.layer_mass_xy[b] ** 2 * self.layer_mass_z[b]) ** (1.0 / 3.0)
            )
            for b in self.bands
        }
        self.donor_degeneracy = float(params.assumptions["donor_ground_state_degeneracy"])
        self.eps_cell = self.layer_eps[cell_layer]

        # Half cells: each cell contributes its left half to node c and right half to c + 1.
        cells = np.arange(count - 1)
        self.half_node = np.concatenate((cells, cells + 1))
        self.half_layer = np.concatenate((cell_layer, cell_layer))
        self.half_width = np.concatenate((0.5 * self.h, 0.5 * self.h))
        half_mid = np.concatenate((z[:-1] + 0.25 * self.h, z[1:] - 0.25 * self.h))
        self.half_donors = stack.donor_density_cm3(half_mid) / NM3_TO_CM3

        # Polarization sheet charges at the heterointerfaces (e / nm^2).
        self.sheet_charge = np.zeros(count)
        self.interface_charges_cm2 = []
        for k in range(1, len(materials)):
            sigma = interface_sheet_charge_C_per_m2(materials[k - 1], materials[k], substrate_a)
            node = int(np.argmin(np.abs(z - boundaries[k])))
            self.sheet_charge[node] += sigma * C_PER_M2_TO_E_PER_NM2
            self.interface_charges_cm2.append(
                (float(boundaries[k]), sigma * C_PER_M2_TO_E_PER_NM2 * NM2_TO_CM2)
            )

        # Surface: E_C - E_F = barrier  =>  phi(0) = E_C0(cap) - barrier.
        barrier = stack.surface_barrier_eV
        if barrier is None:
            barrier = float(params.assumptions["surface_barrier_eV"])
        cap_gap = materials[0].bandgap_eV(temperature_K)
        barrier = check_range(
            "surface_barrier_eV (at most the cap's band gap)", barrier, 0.0, cap_gap
        )
        self.surface_barrier = barrier
        self.surface_potential = self.layer_ec0[0] - barrier

        # Quantum box: from the surface to the channel interface plus a margin.
        box_end_depth = min(stack.channel_depth_nm + opts.quantum_margin_nm, boundaries[-1])
        self.box_end = int(np.searchsorted(z, box_end_depth))
        self.in_box = np.zeros(count, dtype=bool)
        self.in_box[1 : self.box_end] = True
        self.half_classical_holes = ~self.in_box[self.half_node]

    def _effective_density(self, mass_m0: np.ndarray) -> np.ndarray:
        """N = 2 (m kT / (2 pi hbar^2))^(3/2) in nm^-3."""
        return 2.0 * (mass_m0 * self.kT / (4.0 * math.pi * HBAR2_OVER_2M0_EV_NM2)) ** 1.5

    # ----- charge model -------------------------------------------------------------
    def _classical_half_charges(self, phi: np.ndarray):
        """Per half cell: hole, electron, ionized-donor densities (nm^-3) and d(rho)/dphi."""
        phi_half = phi[self.half_node]
        layer = self.half_layer
        kT = self.kT
        ec = self.layer_ec0[layer] - phi_half
        electrons, d_electrons = fermi_dirac_half(-ec / kT)
        electrons = self.layer_nc[layer] * electrons
        d_electrons = self.layer_nc[layer] * d_electrons / kT  # dn/dphi
        holes = np.zeros_like(phi_half)
        d_holes = np.zeros_like(phi_half)
        mask = self.half_classical_holes
        for band in self.bands:
            ev = self.layer_ev0[layer] + self.layer_band_offset[band][layer] - phi_half
            value, derivative = fermi_dirac_half(ev / kT)
            holes += np.where(mask, self.layer_nv[band][layer] * value, 0.0)
            d_holes -= np.where(mask, self.layer_nv[band][layer] * derivative / kT, 0.0)
        filled = (-(ec - self.layer_ionization[layer])) / kT + math.log(self.donor_degeneracy)
        ionized_fraction = expit(-filled)
        ionized = self.half_donors * ionized_fraction
        d_ionized = -ionized * (1.0 - ionized_fraction) / kT
        return holes, electrons, ionized, d_holes - d_electrons + d_ionized

    def _quantum_holes(self, phi: np.ndarray, states) -> tuple[np.ndarray, np.ndarray]:
        """Subband hole density at nodes (nm^-3) with the predictor shift, and d/dphi."""
        density = np.zeros_like(phi)
        derivative = np.zeros_like(phi)
        if states is None:
            return density, derivative
        kT = self.kT
        shift = phi - states.anchor_potential  # hole energies follow the local potential
        for energy, dos, psi2 in zip(states.hole_energies, states.dos, states.psi2, strict=True):
            argument = -(energy + shift) / kT
            density += dos * kT * np.logaddexp(0.0, argument) * psi2
            derivative -= dos * expit(argument) * psi2
        return density, derivative

    def node_charge(self, phi: np.ndarray, states):
        """Net charge per node (e / nm^2) and its derivative with respect to phi_i."""
        holes, electrons, ionized, d_half = self._classical_half_charges(phi)
        count = self.z.size
        weights = self.half_width
        charge = np.bincount(self.half_node, weights * (holes - electrons + ionized), count)
        d_charge = np.bincount(self.half_node, weights * d_half, count)
        quantum, d_quantum = self._quantum_holes(phi, states)
        charge += self.node_weights * quantum + self.sheet_charge
        d_charge += self.node_weights * d_quantum
        return charge, d_charge

    def residual(self, phi: np.ndarray, states):
        """Finite-volume Poisson residual F_i = flux_{i+1/2} - flux_{i-1/2} + Q_i."""
        flux = self.eps_cell * np.diff(phi) / self.h
        charge, d_charge = self.node_charge(phi, states)
        residual = charge.copy()
        residual[:-1] += flux
        residual[1:] -= flux
        return residual, d_charge

    def energy(self, phi: np.ndarray, states) -> float:
        """Convex functional whose gradient is minus the Poisson residual.

        E(phi) = sum_cells eps/(2h) (dphi)^2 - sum_nodes integral Q_i(phi_i) dphi_i. The
        charge falls as phi rises, so E is strictly convex: damped Newton with a line
        search on E converges from any start (the residual norm does not guarantee that).
        """
        kT = self.kT
        phi_half = phi[self.half_node]
        layer = self.half_layer
        ec = self.layer_ec0[layer] - phi_half
        integral = -self.layer_nc[layer] * kT * fermi_half_antiderivative(-ec / kT)
        mask = self.half_classical_holes
        for band in self.bands:
            ev = self.layer_ev0[layer] + self.layer_band_offset[band][layer] - phi_half
            holes = self.layer_nv[band][layer] * kT * fermi_half_antiderivative(ev / kT)
            integral -= np.where(mask, holes, 0.0)
        filled = (-(ec - self.layer_ionization[layer])) / kT + math.log(self.donor_degeneracy)
        integral -= self.half_donors * kT * np.logaddexp(0.0, -filled)
        total = float((self.half_width * integral)[self.half_node > 0].sum())
        if states is not None:
            shift = phi - states.anchor_potential
            for energy, dos, psi2 in zip(
                states.hole_energies, states.dos, states.psi2, strict=True
            ):
                y = np.clip((energy + shift) / kT, -700.0, 700.0)
                # integral of log(1 + exp(-y)) dy = Li2(-exp(-y)) = spence(1 + exp(-y))
                total += float(
                    (self.node_weights * dos * kT * kT * psi2 * spence(1.0 + np.exp(-y)))[1:].sum()
                )
        total += float((self.sheet_charge * phi)[1:].sum())
        laplacian = 0.5 * float((self.eps_cell / self.h * np.diff(phi) ** 2).sum())
        return laplacian - total

    # ----- Newton on nonlinear Poisson ------------------------------------------------
    def newton(self, phi: np.ndarray, states) -> tuple[np.ndarray, int]:
        phi = phi.copy()
        phi[0] = self.surface_potential
        coupling = self.eps_cell / self.h
        residual, d_charge = self.residual(phi, states)
        norm = np.linalg.norm(residual[1:])
        for iteration in range(1, self.opts.max_newton_iterations + 1):
            # Tridiagonal Jacobian of rows/unknowns 1..N-1 (node 0 is Dirichlet).
            diagonal = d_charge.copy()
            diagonal[:-1] -= coupling
            diagonal[1:] -= coupling
            banded = np.zeros((3, phi.size - 1))
            banded[0, 1:] = coupling[1:]
            banded[1, :] = diagonal[1:]
            banded[2, :-1] = coupling[1:]
            step = solve_banded((1, 1), banded, -residual[1:])
            if np.max(np.abs(step)) < self.opts.newton_tolerance_V:
                phi[1:] += step
                return phi, iteration
            # Try the full step (fast local convergence); if the residual does not drop,
            # backtrack on the convex energy instead (Armijo), which always succeeds.
            fraction = min(1.0, MAX_NEWTON_STEP_V / np.max(np.abs(step)))
            trial = phi.copy()
            trial[1:] += fraction * step
            trial_residual, trial_d = self.residual(trial, states)
            trial_norm = np.linalg.norm(trial_residual[1:])
            if trial_norm > (1.0 - 1e-4 * fraction) * norm:
                start_energy = self.energy(phi, states)
                descent = float(residual[1:] @ step)  # dE/dt = -F . step < 0
                for _ in range(MAX_BACKTRACKS):
                    trial_energy = self.energy(trial, states)
                    if trial_energy <= start_energy - 1e-4 * fraction * descent:
                        break
                    fraction *= 0.5
                    trial = phi.copy()
                    trial[1:] += fraction * step
                trial_residual, trial_d = self.residual(trial, states)
                trial_norm = np.linalg.norm(trial_residual[1:])
            phi, residual, d_charge, norm = trial, trial_residual, trial_d, trial_norm
        return phi, self.opts.max_newton_iterations

    # ----- Schrodinger ------------------------------------------------------------------
    def subbands(self, phi: np.ndarray):
        """Hole subbands of every band in the quantum box at the potential phi."""
        box = slice(0, self.box_end + 1)
        z_box = self.z[box]
        cells = self.cell_layer[: self.box_end]
        widths = self.node_weights[box]
        left = np.concatenate(([0.0], 0.5 * self.h[: self.box_end]))
        right = np.concatenate((0.5 * self.h[: self.box_end], [0.0]))
        left_layer = np.concatenate(([cells[0]], cells))
        right_layer = np.concatenate((cells, [cells[-1]]))
        states = _States(anchor_potential=phi.copy())
        ceiling = self.opts.energy_window_kT * self.kT
        for band in self.bands:
            edge = self.layer_ev0 + self.layer_band_offset[band]
            # Hole potential energy U = -E_V(band) = phi - E_V0; interface nodes average
            # the two half cells so the finite-volume operator stays conservative.
            edge_node = (left * edge[left_layer] + right * edge[right_layer]) / np.maximum(
                left + right, 1e-300
            )
            potential = phi[box] - edge_node
            energies, psi = solve_schrodinger(
                z_box, potential, self.layer_mass_z[band][cells], energy_ceiling_eV=ceiling
            )
            # In-plane kinetic energy to first order: hbar^2 k^2 / 2 * <1/m_xy>.
            inverse_mass_node = (
                left / self.layer_mass_xy[band][left_layer]
                + right / self.layer_mass_xy[band][right_layer]
            ) / np.maximum(left + right, 1e-300)
            for index, (energy, wave) in enumerate(zip(energies, psi, strict=True)):
                probability = wave**2 * widths
                mass_xy = float(probability.sum() / (probability * inverse_mass_node).sum())
                full = np.zeros_like(self.z)
                full[box] = wave
                states.band.append(band)
                states.index.append(index)
                states.hole_energies.append(float(energy))
                states.mass_xy.append(mass_xy)
                states.dos.append(mass_xy / (2.0 * math.pi * HBAR2_OVER_2M0_EV_NM2))
                states.psi.append(full)
                states.psi2.append(full**2)
        return states


@dataclass
class _States:
    """Subbands frozen at one potential (the predictor-corrector anchor)."""

    anchor_potential: np.ndarray
    band: list[str] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    hole_energies: list[float] = field(default_factory=list)  # eV, hole energy above E_F
    mass_xy: list[float] = field(default_factory=list)
    dos: list[float] = field(default_factory=list)  # eV^-1 nm^-2, spin included
    psi: list[np.ndarray] = field(default_factory=list)
    psi2: list[np.ndarray] = field(default_factory=list)

    def sheet_densities_nm2(self, kT: float) -> np.ndarray:
        energies = np.asarray(self.hole_energies)
        return np.asarray(self.dos) * kT * np.logaddexp(0.0, -energies / kT)


def solve(
    stack: Stack,
    T: float = 300.0,
    parameter_set: str | None = None,
    options: SolverOptions | None = None,
    **option_overrides,
) -> NitrideResult:
    """Solve the self-consistent Schrodinger-Poisson problem for ``stack`` at ``T`` kelvin.

    ``parameter_set`` picks a set from the material database (default: the file's
    default). Extra keyword arguments override :class:`SolverOptions` fields, e.g.
    ``solve(stack, bands=("hh", "lh", "ch"), mesh_scale=0.5)``.
    """
    if not isinstance(stack, Stack):
        raise ValueError(f"stack must be a Stack, got {type(stack).__name__}")
    temperature = check_range("T (K)", T, 4.0, 1000.0)
    options = options or SolverOptions()
    unknown = set(option_overrides) - set(SolverOptions.__dataclass_fields__)
    if unknown:
        raise ValueError(
            f"unknown solver option(s) {', '.join(sorted(unknown))}; allowed: "
            f"{', '.join(SolverOptions.__dataclass_fields__)}"
        )
    if option_overrides:
        options = SolverOptions(**{**options.__dict__, **option_overrides})
    params = load_parameter_set(parameter_set)
    model = _Model(stack, params, temperature, options)
    kT = model.kT

    # Initial guess: valence band at E_F at the channel, linear across the cap, flat below.
    channel = stack.channel_depth_nm
    phi_channel = model.layer_ev0[0]
    phi = np.where(
        model.z < channel,
        model.surface_potential + (phi_channel - model.surface_potential) * model.z / channel,
        phi_channel,
    )
    # Semiclassical (Thomas-Fermi) solution first: a good start for the quantum loop.
    model.half_classical_holes[:] = True
    phi, newton_steps = model.newton(phi, None)
    model.half_classical_holes[:] = ~model.in_box[model.half_node]

    updates, history = [], []
    converged = False
    states = None
    for _ in range(options.max_outer_iterations):
        states = model.subbands(phi)
        new_phi, steps = model.newton(phi, states)
        newton_steps += steps
        updates.append(float(np.max(np.abs(new_phi - phi))))
        phi = new_phi
        history.append(float(states.sheet_densities_nm2(kT).sum() * NM2_TO_CM2))
        if updates[-1] < options.potential_tolerance_V:
            converged = True
            break

    # Report subbands solved at the final potential (consistent to the tolerance).
    states = model.subbands(phi)
    residual, _ = model.residual(phi, states)
    sheet = states.sheet_densities_nm2(kT)
    quantum, _ = model._quantum_holes(phi, states)
    holes, electrons, ionized, _ = model._classical_half_charges(phi)
    count = model.z.size
    weights = model.node_weights

    def per_node(values):
        return np.bincount(model.half_node, model.half_width * values, count) / weights

    classical_holes = per_node(holes)
    subbands = [
        Subband(
            band=band,
            index=index,
            energy_eV=-energy,
            sheet_density_cm2=float(density * NM2_TO_CM2),
            inplane_mass_m0=mass,
            wavefunction_per_sqrt_nm=psi,
        )
        for band, index, energy, density, mass, psi in zip(
            states.band,
            states.index,
            states.hole_energies,
            sheet,
            states.mass_xy,
            states.psi,
            strict=True,
        )
    ]
    node_layer = np.concatenate((model.cell_layer, model.cell_layer[-1:]))
    cell_vbm = model.layer_ev0[model.cell_layer]
    cell_cbm = model.layer_ec0[model.cell_layer]
    return NitrideResult(
        stack=stack,
        parameter_set=params.name,
        temperature_K=temperature,
        surface_barrier_eV=model.surface_barrier,
        z_nm=model.z,
        potential_V=phi,
        conduction_band_eV=model.layer_ec0[node_layer] - phi,
        valence_band_eV=model.layer_ev0[node_layer] - phi,
        hole_density_cm3=(quantum + classical_holes) * NM3_TO_CM3,
        electron_density_cm3=per_node(electrons) * NM3_TO_CM3,
        donor_density_cm3=per_node(model.half_donors) * NM3_TO_CM3,
        ionized_donor_density_cm3=per_node(ionized) * NM3_TO_CM3,
        node_weights_nm=weights,
        subbands=subbands,
        p_s_cm2=float(sheet.sum() * NM2_TO_CM2),
        classical_holes_cm2=float((classical_holes * weights).sum() * NM2_TO_CM2),
        interface_charges_cm2=model.interface_charges_cm2,
        channel_relative_permittivity=float(model.layer_eps[0] / VACUUM_PERMITTIVITY_E_PER_V_NM),
        channel_hole_mass_m0=float(
            params.material(stack.layers[0].material).hole_masses_m0()["hh"][1]
        ),
        convergence=ConvergenceInfo(
            converged=converged,
            outer_iterations=len(updates),
            newton_iterations=newton_steps,
            potential_updates_V=updates,
            sheet_density_history_cm2=history,
            final_residual_cm2=float(np.max(np.abs(residual[1:])) * NM2_TO_CM2),
        ),
        cell_conduction_offset_eV=cell_cbm,
        cell_valence_offset_eV=cell_vbm,
    )
