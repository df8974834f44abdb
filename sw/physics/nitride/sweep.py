"""The paper's central comparison: p_s across impurity levels, with and without IBLs.

Each "growth" is the same stack with a different floating donor tail density N0 at the
nucleation interface; the spread of p_s over the range of N0 stands for the growth-to-
growth variation. With an impurity blocking layer the tail is cut before it reaches the
channel, so the spread collapses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .mobility import estimate_hall_mobility
from .solver import solve
from .structure import BlockingLayer, DonorTail, Stack, preset

DEFAULT_TAIL_DENSITIES_CM3 = np.logspace(17.0, np.log10(3e20), 15)
DEFAULT_DECAY_LENGTH_NM = 100.0
DEFAULT_IBL_THICKNESS_NM = 20.0


@dataclass
class SweepResult:
    tail_densities_cm3: np.ndarray
    decay_length_nm: float
    blocking_layer: BlockingLayer
    p_s_without_ibl_cm2: np.ndarray
    p_s_with_ibl_cm2: np.ndarray
    mobility_without_ibl_cm2_per_Vs: np.ndarray
    mobility_with_ibl_cm2_per_Vs: np.ndarray
    undoped_p_s_cm2: float
    polarization_charge_cm2: float
    stack_name: str
    parameter_set: str
    temperature_K: float
    all_converged: bool

    @property
    def spread_without_ibl_cm2(self) -> float:
        return float(np.ptp(self.p_s_without_ibl_cm2))

    @property
    def spread_with_ibl_cm2(self) -> float:
        return float(np.ptp(self.p_s_with_ibl_cm2))

    def plot(self, path: str | Path) -> Path:
        from .plotting import plot_sweep

        return plot_sweep(self, path)

    def summary(self) -> str:
        lines = [
            f"{'N0 (cm^-3)':>11} {'p_s no IBL':>11} {'p_s IBL':>11} {'mu no IBL':>10} {'mu IBL':>8}"
        ]
        for row in zip(
            self.tail_densities_cm3,
            self.p_s_without_ibl_cm2,
            self.p_s_with_ibl_cm2,
            self.mobility_without_ibl_cm2_per_Vs,
            self.mobility_with_ibl_cm2_per_Vs,
            strict=True,
        ):
            lines.append("{:>11.3g} {:>11.4g} {:>11.4g} {:>10.3g} {:>8.3g}".format(*row))
        lines.append(
            f"spread of p_s: {self.spread_without_ibl_cm2:.3g} cm^-2 without IBL, "
            f"{self.spread_with_ibl_cm2:.3g} cm^-2 with IBL (undoped p_s "
            f"{self.undoped_p_s_cm2:.4g}, |sigma|/q {self.polarization_charge_cm2:.4g})"
        )
        lines.append("mobility: Matthiessen MODEL in cm^2/Vs (see docs/physics/nitride.md)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        ibl = self.blocking_layer
        return {
            "stack": self.stack_name,
            "parameter_set": self.parameter_set,
            "temperature_K": self.temperature_K,
            "decay_length_nm": self.decay_length_nm,
            "blocking_layer": {
                "thickness_nm": ibl.thickness_nm,
                "height_nm": ibl.height_nm,
                "transmission": ibl.transmission,
            },
            "tail_densities_cm3": self.tail_densities_cm3.tolist(),
            "p_s_without_ibl_cm2": self.p_s_without_ibl_cm2.tolist(),
            "p_s_with_ibl_cm2": self.p_s_with_ibl_cm2.tolist(),
            "mobility_model_without_ibl_cm2_per_Vs": self.mobility_without_ibl_cm2_per_Vs.tolist(),
            "mobility_model_with_ibl_cm2_per_Vs": self.mobility_with_ibl_cm2_per_Vs.tolist(),
            "spread_without_ibl_cm2": self.spread_without_ibl_cm2,
            "spread_with_ibl_cm2": self.spread_with_ibl_cm2,
            "undoped_p_s_cm2": self.undoped_p_s_cm2,
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
    intrinsic_mobility_cm2_per_Vs: float | None = None,
    progress: bool = False,
    **solver_options,
) -> SweepResult:
    """Solve ``stack`` for each tail density, once without and once with ``blocking_layer``.

    The tail is added to the stack's own donors (a background stays); the stack's own
    IBLs are replaced. Defaults: the gan-on-aln preset, N0 from 1e17 to 3e20 cm^-3, a
    100 nm decay length and one 20 nm IBL 50 nm above the nucleation interface.
    """
    stack = stack if stack is not None else preset("gan-on-aln")
    densities = np.asarray(
        DEFAULT_TAIL_DENSITIES_CM3 if tail_densities_cm3 is None else tail_densities_cm3, float
    )
    if densities.ndim != 1 or densities.size < 2:
        raise ValueError("tail_densities_cm3 must list at least 2 densities")
    if blocking_layer is None:
        blocking_layer = BlockingLayer(DEFAULT_IBL_THICKNESS_NM)
    plain = stack.with_blocking_layers()
    blocked = stack.with_blocking_layers(blocking_layer)

    undoped = solve(plain, T=T, parameter_set=parameter_set, **solver_options)
    p_s = {False: [], True: []}
    mobility = {False: [], True: []}
    converged = undoped.convergence.converged
    jobs = [(density, with_ibl) for density in densities for with_ibl in (False, True)]
    for density, with_ibl in tqdm(jobs, desc="nitride sweep", disable=not progress):
        base = blocked if with_ibl else plain
        doped = base.with_donors(*base.donors, DonorTail(float(density), decay_length_nm))
        result = solve(doped, T=T, parameter_set=parameter_set, **solver_options)
        converged = converged and result.convergence.converged
        p_s[with_ibl].append(result.p_s_cm2)
        estimate = estimate_hall_mobility(result, intrinsic_mobility_cm2_per_Vs)
        mobility[with_ibl].append(estimate.total_cm2_per_Vs)
    return SweepResult(
        tail_densities_cm3=densities,
        decay_length_nm=float(decay_length_nm),
        blocking_layer=blocking_layer,
        p_s_without_ibl_cm2=np.array(p_s[False]),
        p_s_with_ibl_cm2=np.array(p_s[True]),
        mobility_without_ibl_cm2_per_Vs=np.array(mobility[False]),
        mobility_with_ibl_cm2_per_Vs=np.array(mobility[True]),
        undoped_p_s_cm2=undoped.p_s_cm2,
        polarization_charge_cm2=undoped.polarization_charge_cm2,
        stack_name=stack.name,
        parameter_set=undoped.parameter_set,
        temperature_K=float(T),
        all_converged=converged,
    )
