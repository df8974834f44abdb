"""The paper's comparisons: growths with and without IBLs, IBL placement and efficiency.

* :func:`sweep`: each "growth" is the same stack with a different floating donor tail
  density N0 at the nucleation interface; the spread of p_s over N0 stands for the
  growth-to-growth variation, with and without one IBL, and every solution gets its Hall
  mobility and sheet conductance from the scattering model (``observables.hall_mobility``).
* :func:`ibl_map`: one contaminated growth, the IBL moved up the buffer and its blocking
  efficiency varied: how much of the lost p_s it recovers (the donors it captures stay in
  the profile, see ``structure.py``).
* :func:`two_carrier_hall`: what a Hall measurement reports when the donor-rich buffer
  conducts in parallel (electrons) - the one way in this model for an apparent density to
  exceed the polarization charge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .observables import hall_mobility, recovery, transport_parameters
from .solver import solve
from .structure import BlockingLayer, DonorTail, Stack, preset

DEFAULT_TAIL_DENSITIES_CM3 = np.logspace(17.0, np.log10(3e20), 15)
DEFAULT_DECAY_LENGTH_NM = 100.0
DEFAULT_IBL_THICKNESS_NM = 20.0
DEFAULT_MAP_HEIGHTS_NM = np.linspace(0.0, 260.0, 14)
DEFAULT_MAP_TRANSMISSIONS = np.array([0.5, 0.2, 0.1, 0.03, 0.01, 1e-3, 1e-4])


@dataclass
class Growth:
    """One solved structure reduced to what the comparison needs (cm^-2, cm^2/Vs, mS)."""

    p_s_cm2: float
    hall_mobility_cm2_per_Vs: float
    sheet_conductance_mS: float
    electrons_cm2: float  # electrons in the structure (the donor-rich buffer), cm^-2
    ionized_donors_cm2: float
    converged: bool

    @classmethod
    def of(cls, result, transport_overrides: dict) -> Growth:
        electrons = float((result.electron_density_cm3 * result.node_weights_nm).sum() * 1e-7)
        try:
            mobility = hall_mobility(result, transport_parameters(result, **transport_overrides))
            hall, conductance = mobility.hall_cm2_per_Vs, mobility.sheet_conductance_mS
        except ValueError:  # no 2D hole gas left: fully compensated
            hall, conductance = math.nan, 0.0
        return cls(
            result.p_s_cm2,
            hall,
            conductance,
            electrons,
            result.ionized_donor_sheet_cm2,
            result.convergence.converged,
        )


def two_carrier_hall(
    holes_cm2: float, hole_mobility: float, electrons_cm2: float, electron_mobility: float
) -> tuple[float, float]:
    """(apparent Hall density cm^-2, apparent Hall mobility cm^2/Vs) of holes and electrons
    conducting in parallel (low field): R_H = (p μp² - n μn²) / (e (p μp + n μn)²).

    The apparent density (p μp + n μn)² / (p μp² - n μn²) exceeds p and diverges where
    p μp² = n μn² (negative beyond: the sample looks n-type)."""
    conductance = holes_cm2 * hole_mobility + electrons_cm2 * electron_mobility
    hall = holes_cm2 * hole_mobility**2 - electrons_cm2 * electron_mobility**2
    if hall == 0:
        return math.inf, 0.0
    return conductance**2 / hall, hall / conductance


@dataclass
class SweepResult:
    tail_densities_cm3: np.ndarray
    decay_length_nm: float
    cap_decay_length_nm: float | None
    blocking_layer: BlockingLayer
    without_ibl: list[Growth]
    with_ibl: list[Growth]
    undoped: Growth
    polarization_charge_cm2: float
    stack_name: str
    parameter_set: str
    temperature_K: float

    def _column(self, growths: list[Growth], name: str) -> np.ndarray:
        return np.array([getattr(growth, name) for growth in growths], dtype=float)

    @property
    def p_s_without_ibl_cm2(self) -> np.ndarray:
        return self._column(self.without_ibl, "p_s_cm2")

    @property
    def p_s_with_ibl_cm2(self) -> np.ndarray:
        return self._column(self.with_ibl, "p_s_cm2")

    @property
    def mobility_without_ibl_cm2_per_Vs(self) -> np.ndarray:
        return self._column(self.without_ibl, "hall_mobility_cm2_per_Vs")

    @property
    def mobility_with_ibl_cm2_per_Vs(self) -> np.ndarray:
        return self._column(self.with_ibl, "hall_mobility_cm2_per_Vs")

    @property
    def conductance_without_ibl_mS(self) -> np.ndarray:
        return self._column(self.without_ibl, "sheet_conductance_mS")

    @property
    def conductance_with_ibl_mS(self) -> np.ndarray:
        return self._column(self.with_ibl, "sheet_conductance_mS")

    @property
    def undoped_p_s_cm2(self) -> float:
        return self.undoped.p_s_cm2

    @property
    def all_converged(self) -> bool:
        growths = [self.undoped, *self.without_ibl, *self.with_ibl]
        return all(growth.converged for growth in growths)

    @property
    def spread_without_ibl_cm2(self) -> float:
        return float(np.ptp(self.p_s_without_ibl_cm2))

    @property
    def spread_with_ibl_cm2(self) -> float:
        return float(np.ptp(self.p_s_with_ibl_cm2))

    @property
    def mobility_ratio(self) -> np.ndarray:
        """μ_Hall(IBL) / μ_Hall(no IBL) per growth (NaN where the gas is gone)."""
        return self.mobility_with_ibl_cm2_per_Vs / self.mobility_without_ibl_cm2_per_Vs

    @property
    def conductance_ratio(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return self.conductance_with_ibl_mS / self.conductance_without_ibl_mS

    def plot(self, path: str | Path) -> Path:
        from .plotting import plot_sweep

        return plot_sweep(self, path)

    def summary(self) -> str:
        lines = [
            f"{'N0 (cm^-3)':>11} {'p_s no IBL':>11} {'p_s IBL':>11} {'muH no IBL':>10} "
            f"{'muH IBL':>8} {'mu ratio':>8} {'sigma ratio':>11}"
        ]
        for row in zip(
            self.tail_densities_cm3,
            self.p_s_without_ibl_cm2,
            self.p_s_with_ibl_cm2,
            self.mobility_without_ibl_cm2_per_Vs,
            self.mobility_with_ibl_cm2_per_Vs,
            self.mobility_ratio,
            self.conductance_ratio,
            strict=True,
        ):
            lines.append(
                "{:>11.3g} {:>11.4g} {:>11.4g} {:>10.3g} {:>8.3g} {:>8.3g} {:>11.3g}".format(*row)
            )
        lines.append(
            f"spread of p_s: {self.spread_without_ibl_cm2:.3g} cm^-2 without IBL, "
            f"{self.spread_with_ibl_cm2:.3g} cm^-2 with IBL (undoped p_s "
            f"{self.undoped_p_s_cm2:.4g}, |sigma|/q {self.polarization_charge_cm2:.4g})"
        )
        lines.append(
            f"Hall mobility from the scattering model (cm^2/Vs; undoped "
            f"{self.undoped.hall_mobility_cm2_per_Vs:.3g}); ratios are IBL / no IBL"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        ibl = self.blocking_layer

        def listed(values):
            return [None if not math.isfinite(v) else float(v) for v in values]

        return {
            "stack": self.stack_name,
            "parameter_set": self.parameter_set,
            "temperature_K": self.temperature_K,
            "decay_length_nm": self.decay_length_nm,
            "cap_decay_length_nm": self.cap_decay_length_nm,
            "blocking_layer": {
                "thickness_nm": ibl.thickness_nm,
                "height_nm": ibl.height_nm,
                "transmission": ibl.transmission,
                "trapped_active": ibl.trapped_active,
            },
            "tail_densities_cm3": self.tail_densities_cm3.tolist(),
            "p_s_without_ibl_cm2": listed(self.p_s_without_ibl_cm2),
            "p_s_with_ibl_cm2": listed(self.p_s_with_ibl_cm2),
            "hall_mobility_without_ibl_cm2_per_Vs": listed(self.mobility_without_ibl_cm2_per_Vs),
            "hall_mobility_with_ibl_cm2_per_Vs": listed(self.mobility_with_ibl_cm2_per_Vs),
            "sheet_conductance_without_ibl_mS": listed(self.conductance_without_ibl_mS),
            "sheet_conductance_with_ibl_mS": listed(self.conductance_with_ibl_mS),
            "electrons_without_ibl_cm2": listed(self._column(self.without_ibl, "electrons_cm2")),
            "mobility_ratio": listed(self.mobility_ratio),
            "conductance_ratio": listed(self.conductance_ratio),
            "spread_without_ibl_cm2": self.spread_without_ibl_cm2,
            "spread_with_ibl_cm2": self.spread_with_ibl_cm2,
            "undoped_p_s_cm2": self.undoped_p_s_cm2,
            "undoped_hall_mobility_cm2_per_Vs": self.undoped.hall_mobility_cm2_per_Vs,
            "polarization_charge_cm2": self.polarization_charge_cm2,
            "all_converged": self.all_converged,
        }


def sweep(
    stack: Stack | None = None,
    tail_densities_cm3=None,
    decay_length_nm: float = DEFAULT_DECAY_LENGTH_NM,
    blocking_layer: BlockingLayer | None = None,
    T: float = 300.0,
    parameter_set: str | None = None,
    cap_decay_length_nm: float | None = None,
    transport_overrides: dict | None = None,
    progress: bool = False,
    **solver_options,
) -> SweepResult:
    """Solve ``stack`` for each tail density, once without and once with ``blocking_layer``.

    The tail is added to the stack's own donors (a background stays); the stack's own
    IBLs are replaced. Defaults: the gan-on-aln preset, N0 from 1e17 to 3e20 cm^-3, a
    100 nm segregation length (the same in the cap unless ``cap_decay_length_nm``) and one
    20 nm IBL 50 nm above the nucleation interface. ``transport_overrides`` change
    transport parameters (e.g. ``{"dislocation_density_cm2": 5e9}``).
    """
    stack = stack if stack is not None else preset("gan-on-aln")
    densities = np.asarray(
        DEFAULT_TAIL_DENSITIES_CM3 if tail_densities_cm3 is None else tail_densities_cm3, float
    )
    if densities.ndim != 1 or densities.size < 2:
        raise ValueError("tail_densities_cm3 must list at least 2 densities")
    if blocking_layer is None:
        blocking_layer = BlockingLayer(DEFAULT_IBL_THICKNESS_NM)
    overrides = dict(transport_overrides or {})
    plain = stack.with_blocking_layers()
    blocked = stack.with_blocking_layers(blocking_layer)

    undoped_result = solve(plain, T=T, parameter_set=parameter_set, **solver_options)
    undoped = Growth.of(undoped_result, overrides)
    growths: dict[bool, list[Growth]] = {False: [], True: []}
    jobs = [(density, with_ibl) for density in densities for with_ibl in (False, True)]
    for density, with_ibl in tqdm(jobs, desc="nitride sweep", disable=not progress):
        base = blocked if with_ibl else plain
        tail = DonorTail(float(density), decay_length_nm, cap_decay_length_nm)
        result = solve(
            base.with_donors(*base.donors, tail), T=T, parameter_set=parameter_set, **solver_options
        )
        growths[with_ibl].append(Growth.of(result, overrides))
    return SweepResult(
        tail_densities_cm3=densities,
        decay_length_nm=float(decay_length_nm),
        cap_decay_length_nm=cap_decay_length_nm,
        blocking_layer=blocking_layer,
        without_ibl=growths[False],
        with_ibl=growths[True],
        undoped=undoped,
        polarization_charge_cm2=undoped_result.polarization_charge_cm2,
        stack_name=stack.name,
        parameter_set=undoped_result.parameter_set,
        temperature_K=float(T),
    )


@dataclass
class IBLMap:
    """Recovery of p_s by one IBL over (height above the nucleation interface, transmission)."""

    tail: DonorTail
    thickness_nm: float
    trapped_active: bool
    heights_nm: np.ndarray
    transmissions: np.ndarray
    p_s_cm2: np.ndarray  # (heights, transmissions)
    trapped_ionized_cm2: np.ndarray  # ionized donors inside the IBL
    p_s_without_ibl_cm2: float
    undoped_p_s_cm2: float
    converged: bool = True

    @property
    def recovery(self) -> np.ndarray:
        """Fraction of the donor-induced loss of p_s recovered, per (height, transmission)."""
        return np.vectorize(recovery)(self.p_s_cm2, self.p_s_without_ibl_cm2, self.undoped_p_s_cm2)

    def plot(self, path: str | Path) -> Path:
        from .plotting import plot_ibl_map

        return plot_ibl_map(self, path)

    def summary(self) -> str:
        header = "height (nm) | recovery for T = " + ", ".join(
            f"{value:g}" for value in self.transmissions
        )
        lines = [header]
        for height, row in zip(self.heights_nm, self.recovery, strict=True):
            lines.append(f"{height:11.4g} | " + " ".join(f"{value:6.1%}" for value in row))
        lines.append(
            f"tail N0 = {self.tail.density_cm3:.3g} cm^-3, λ = {self.tail.decay_length_nm:g} "
            f"nm; {self.thickness_nm:g} nm IBL, captured donors "
            f"{'active' if self.trapped_active else 'inactive'}; p_s {self.p_s_without_ibl_cm2:.4g}"
            f" without IBL, {self.undoped_p_s_cm2:.4g} undoped"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "tail": {
                "density_cm3": self.tail.density_cm3,
                "decay_length_nm": self.tail.decay_length_nm,
                "cap_decay_length_nm": self.tail.cap_decay_length_nm,
            },
            "thickness_nm": self.thickness_nm,
            "trapped_active": self.trapped_active,
            "heights_nm": self.heights_nm.tolist(),
            "transmissions": self.transmissions.tolist(),
            "p_s_cm2": self.p_s_cm2.tolist(),
            "recovery": self.recovery.tolist(),
            "trapped_ionized_cm2": self.trapped_ionized_cm2.tolist(),
            "p_s_without_ibl_cm2": self.p_s_without_ibl_cm2,
            "undoped_p_s_cm2": self.undoped_p_s_cm2,
            "converged": self.converged,
        }


def ibl_map(
    stack: Stack | None = None,
    tail: DonorTail | None = None,
    heights_nm=None,
    transmissions=None,
    thickness_nm: float = DEFAULT_IBL_THICKNESS_NM,
    trapped_active: bool = True,
    T: float = 300.0,
    parameter_set: str | None = None,
    progress: bool = False,
    **solver_options,
) -> IBLMap:
    """p_s with one IBL at each (height, transmission): the placement/efficiency study.

    Defaults: gan-on-aln, a 1e20 cm^-3 / 100 nm tail, IBL bottoms from the nucleation
    interface to 260 nm (the buffer is 300 nm), transmissions 0.5 ... 1e-4."""
    stack = (stack if stack is not None else preset("gan-on-aln")).with_blocking_layers()
    tail = tail or DonorTail(1e20, DEFAULT_DECAY_LENGTH_NM)
    heights = np.asarray(DEFAULT_MAP_HEIGHTS_NM if heights_nm is None else heights_nm, float)
    transmissions = np.asarray(
        DEFAULT_MAP_TRANSMISSIONS if transmissions is None else transmissions, float
    )
    if heights.ndim != 1 or heights.size < 1 or transmissions.ndim != 1 or transmissions.size < 1:
        raise ValueError("heights_nm and transmissions must be non-empty lists")
    options = dict(T=T, parameter_set=parameter_set, **solver_options)
    undoped = solve(stack, **options)
    doped = stack.with_donors(*stack.donors, tail)
    without = solve(doped, **options)
    converged = undoped.convergence.converged and without.convergence.converged
    p_s = np.empty((heights.size, transmissions.size))
    trapped = np.empty_like(p_s)
    jobs = [(i, j) for i in range(heights.size) for j in range(transmissions.size)]
    for i, j in tqdm(jobs, desc="IBL map", disable=not progress):
        ibl = BlockingLayer(
            thickness_nm, float(heights[i]), float(transmissions[j]), trapped_active
        )
        result = solve(doped.with_blocking_layers(ibl), **options)
        converged = converged and result.convergence.converged
        p_s[i, j] = result.p_s_cm2
        top, bottom = doped.with_blocking_layers(ibl).ibl_depths_nm()[0]
        inside = (result.z_nm >= top) & (result.z_nm <= bottom)
        trapped[i, j] = float(
            (result.ionized_donor_density_cm3 * result.node_weights_nm)[inside].sum() * 1e-7
        )
    return IBLMap(
        tail=tail,
        thickness_nm=float(thickness_nm),
        trapped_active=trapped_active,
        heights_nm=heights,
        transmissions=transmissions,
        p_s_cm2=p_s,
        trapped_ionized_cm2=trapped,
        p_s_without_ibl_cm2=without.p_s_cm2,
        undoped_p_s_cm2=undoped.p_s_cm2,
        converged=converged,
    )
