"""Finite temperature: Metropolis Monte Carlo with over-relaxation.

The model is the one of ``model.py`` (classical unit spins; exchange J, interfacial DMI D,
anisotropy K, Zeeman B) at temperature T, with k_B T in the same energy unit (lattice units:
T in units of J). We sample the Boltzmann distribution exp(-E/T).

Why Monte Carlo and not stochastic LLG: the question is which phase is the equilibrium state at
(T, B). Monte Carlo samples exp(-E/T) directly, with no time step to control and no
damping-dependent equilibration speed; stochastic LLG would compute dynamics we do not need
(its long-time distribution is the same Boltzmann distribution). Over-relaxation moves
(reflections of a spin about its local field, which keep the exchange/DMI/Zeeman energy)
decorrelate the long-wavelength modes of a textured state several times faster at the cost of
one field evaluation each.

One sweep visits every site once (typewriter order) with

1. a Metropolis move: m' = normalize(m + delta g), g Gaussian (a proposal symmetric in m, m'),
   accepted with min(1, exp(-dE/T)); delta adapts during equilibration to accept ~50 %;
2. a z-flip move: m' = (m_x, m_y, -m_z), an involution (symmetric), accepted with
   min(1, exp(-dE/T)); it lets the strongly easy-axis (Ising) limit equilibrate;
3. ``over_relaxation`` reflections m' = 2 (m . h) h / |h|^2 - m about the linear local field h
   (exchange + DMI + Zeeman), accepted with min(1, exp(-dE_K/T)) for the anisotropy change
   (always, when K = 0).

Each move satisfies detailed balance, so their sequence leaves exp(-E/T) invariant. The
kernels are compiled with numba (cached on disk after the first call).

Observables per measured sweep: energy, magnetization, topological charge (Berg-Lüscher,
``observables.topological_charge``) and, from snapshots, the structure factor of m_z.
:func:`thermal_phase` names the phase: ``skyrmion lattice`` (a Bragg peak of m_z at q != 0 holding
>= 5 % of a perfect helix's 1/4, see :func:`bragg_threshold`, and a thermally averaged |<Q>| of
at least half the ideal count area / A_hex of a triple-q lattice built from the zero-field helix
period), ``helix`` (the Bragg peak without that charge), ``ferromagnet`` (no Bragg peak,
<m_z> >= 1/2: field-polarized) or ``paramagnet``. The boundary between
the last two is a crossover in a field, not a transition; the 1/2 is a convention.

Exact limits used by the tests (:func:`langevin`, :func:`onsager_energy`,
:func:`onsager_magnetization`, :data:`ONSAGER_TC`): the classical Heisenberg chain has
<m_i . m_i+1> = L(J/T) (Langevin function, Fisher 1964); for K -> infinity the square lattice is
the 2D Ising model with T_c = 2J / ln(1 + sqrt 2) (Onsager 1944); at low T every spin holds two
harmonic degrees of freedom, so E - E_0 = N T (equipartition).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..common import (
    PhysicsInputError,
    check_choice,
    check_count,
    check_positive,
    check_range,
    show_progress,
)
from .model import SITE_AREA, SpinSystem, lattice_helix_period
from .observables import topological_charge

THERMAL_PHASES = ("paramagnet", "ferromagnet", "helix", "skyrmion lattice")
ONSAGER_TC = 2.0 / math.log(1.0 + math.sqrt(2.0))  # 2D Ising, units of J


# --------------------------------------------------------------------------- exact limits


def langevin(x):
    """L(x) = coth x - 1/x, the mean cosine of a classical unit spin in a field x / T."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-4
    safe = np.where(small, 1.0, x)
    return np.where(small, x / 3.0, 1.0 / np.tanh(safe) - 1.0 / safe)


def onsager_energy(temperature: float, J: float = 1.0) -> float:
    """Internal energy per site of the square-lattice Ising model (coupling J, k_B = 1)."""
    from scipy.special import ellipk

    beta = 1.0 / check_positive("temperature", temperature)
    k = 2.0 * math.sinh(2 * beta * J) / math.cosh(2 * beta * J) ** 2
    elliptic = ellipk(k * k)  # scipy's parameter is m = k^2
    return float(
        -J
        / math.tanh(2 * beta * J)
        * (1 + 2 / math.pi * (2 * math.tanh(2 * beta * J) ** 2 - 1) * elliptic)
    )


def onsager_magnetization(temperature: float, J: float = 1.0) -> float:
    """Spontaneous magnetization of the square-lattice Ising model (0 above T_c)."""
    temperature = check_positive("temperature", temperature)
    if temperature >= ONSAGER_TC * J:
        return 0.0
    return float((1.0 - math.sinh(2 * J / temperature) ** -4) ** 0.125)


# --------------------------------------------------------------------------- kernels


def _kernels():
    """Compile (once) and return the numba kernels."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    import numba

    @numba.njit(cache=True)
    def seed(value):
        np.random.seed(value)

    @numba.njit(cache=True, inline="always")
    def local_field(s, i, neighbours, dmi, J, B):
        hx = hy = 0.0
        hz = B
        for k in range(neighbours.shape[1]):
            j = neighbours[i, k]
            if j < 0:
                continue
            mx, my, mz = s[j, 0], s[j, 1], s[j, 2]
            dx, dy, dz = dmi[i, k, 0], dmi[i, k, 1], dmi[i, k, 2]
            # J m_j + d x m_j
            hx += J * mx + (dy * mz - dz * my)
            hy += J * my + (dz * mx - dx * mz)
            hz += J * mz + (dx * my - dy * mx)
        return hx, hy, hz

    @numba.njit(cache=True)
    def sweep(s, neighbours, dmi, J, K, B, T, delta, over_relaxation):
        """One sweep; returns the number of accepted Metropolis moves."""
        accepted = 0
        n = s.shape[0]
        beta = 1.0 / T
        for i in range(n):
            hx, hy, hz = local_field(s, i, neighbours, dmi, J, B)
            mx, my, mz = s[i, 0], s[i, 1], s[i, 2]
            # 1. Metropolis: a Gaussian kick, renormalized.
            px = mx + delta * np.random.standard_normal()
            py = my + delta * np.random.standard_normal()
            pz = mz + delta * np.random.standard_normal()
            norm = math.sqrt(px * px + py * py + pz * pz)
            px, py, pz = px / norm, py / norm, pz / norm
            dE = -((px - mx) * hx + (py - my) * hy + (pz - mz) * hz) - K * (pz * pz - mz * mz)
            if dE <= 0.0 or np.random.random() < math.exp(-beta * dE):
                mx, my, mz = px, py, pz
                accepted += 1
            # 2. z-flip (anisotropy unchanged).
            dE = 2.0 * mz * hz
            if dE <= 0.0 or np.random.random() < math.exp(-beta * dE):
                mz = -mz
            # 3. over-relaxation about the linear field.
            h2 = hx * hx + hy * hy + hz * hz
            if h2 > 0.0:
                for _ in range(over_relaxation):
                    projection = 2.0 * (mx * hx + my * hy + mz * hz) / h2
                    rx, ry, rz = projection * hx - mx, projection * hy - my, projection * hz - mz
                    dE = -K * (rz * rz - mz * mz)
                    if dE <= 0.0 or np.random.random() < math.exp(-beta * dE):
                        mx, my, mz = rx, ry, rz
            s[i, 0], s[i, 1], s[i, 2] = mx, my, mz
        return accepted

    @numba.njit(cache=True)
    def energy(s, neighbours, dmi, J, K, B):
        """E = -1/2 sum_i m_i . h_i(pairs) - K sum m_z^2 - B sum m_z."""
        total = 0.0
        for i in range(s.shape[0]):
            hx, hy, hz = local_field(s, i, neighbours, dmi, J, 0.0)
            mz = s[i, 2]
            total += -0.5 * (s[i, 0] * hx + s[i, 1] * hy + mz * hz) - K * mz * mz - B * mz
        return total

    _KERNELS = (seed, sweep, energy)
    return _KERNELS


_KERNELS = None


def neighbour_tables(system: SpinSystem) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour indices (N, z), -1 where a bond is missing (open edges), and the DMI vectors
    (N, z, 3) such that the local field is h_i = B z + sum_k (J m_j + d_ik x m_j).

    A bond i -> j = i + shift carries D_ij = D (z x r_ij): site i feels J m_j + D_ij x m_j,
    site j feels J m_i + m_i x D_ij = J m_i - D_ij x m_i (the same as ``field_internal``).
    Sites are numbered i = ix * ny + iy, the C order of an (nx, ny, 3) array.
    """
    nx, ny = system.shape
    z = 2 * len(system.bonds)
    neighbours = np.full((nx * ny, z), -1, dtype=np.int64)
    dmi = np.zeros((nx * ny, z, 3))
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    site = ix * ny + iy
    for k, bond in enumerate(system.bonds):
        dx, dy = bond.shift
        vector = np.array([-bond.vector[1], bond.vector[0], 0.0]) * system.D
        exists = np.ones((nx, ny), dtype=bool) if bond.mask is None else bond.mask > 0
        partner = ((ix + dx) % nx) * ny + (iy + dy) % ny
        forward, backward = 2 * k, 2 * k + 1
        neighbours[site[exists], forward] = partner[exists]
        dmi[site[exists], forward] = vector
        neighbours[partner[exists], backward] = site[exists]
        dmi[partner[exists], backward] = -vector
    return neighbours, dmi


# --------------------------------------------------------------------------- runs


@dataclass
class ThermalRun:
    """Averages of one Monte Carlo run at temperature T (units of the system's energy).

    Attributes:
        temperature, sweeps, equilibration: T and the number of measured / discarded sweeps.
        acceptance: fraction of accepted Metropolis moves (measured sweeps); step: its delta.
        energy_per_site, energy_error: <E>/N and its standard error (batch means).
        specific_heat: (<E^2> - <E>^2) / (N T^2) per site.
        magnetization: <m> (3,); magnetization_error: standard error of <m_z>.
        charge, charge_error: <Q> (Berg-Lüscher) and its standard error.
        ideal_skyrmions: area / A_hex, the skyrmion count of a triple-q lattice of the
            zero-field helix period in this box (inf when D = 0).
        peak_structure_factor: max over q != 0 of <|sum (m_z - <m_z>) e^-iqr|^2> / N^2
            (a perfect helix: 1/4); peak_wavevector: that q (index units, 2 pi n / L).
        binder: 1 - <M^4> / (3 <M^2>^2) of the z magnetization (Binder cumulant).
        phase: :func:`thermal_phase` of these averages.
        m: the final spins (nx, ny, 3).
        series: per-measurement energy/N, m_z, Q (for autocorrelation checks).
    """

    temperature: float
    sweeps: int
    equilibration: int
    acceptance: float
    step: float
    energy_per_site: float
    energy_error: float
    specific_heat: float
    magnetization: np.ndarray
    magnetization_error: float
    charge: float
    charge_error: float
    ideal_skyrmions: float
    peak_structure_factor: float
    peak_wavevector: tuple[int, int]
    binder: float
    phase: str = ""
    m: np.ndarray = field(default=None, repr=False)
    series: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("m")
        out.pop("series")
        out["magnetization"] = [float(v) for v in self.magnetization]
        return out


def _batch_error(values: np.ndarray, batches: int = 10) -> float:
    """Standard error of the mean from ``batches`` consecutive batch means (autocorrelation)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 * batches:
        return float(np.std(values, ddof=1) / math.sqrt(max(len(values) - 1, 1)))
    means = np.array([b.mean() for b in np.array_split(values, batches)])
    return float(means.std(ddof=1) / math.sqrt(batches))


def ideal_skyrmion_count(system: SpinSystem) -> float:
    """Skyrmions of a triple-q lattice built from the zero-field helix period L in this box:
    area / ((2/sqrt 3) L^2)."""
    if system.D == 0:
        return math.inf
    period = lattice_helix_period(system.J, system.D, system.lattice)
    return system.area / (2.0 / math.sqrt(3.0) * period**2)


def bragg_threshold(sites: int) -> float:
    """Smallest structure-factor peak counted as order: 5 % of a perfect helix's 1/4, and at
    least 20 times the 1/N of one uncorrelated mode (a small box's noise)."""
    return max(0.05 * 0.25, 20.0 / sites)


def thermal_phase(run: ThermalRun) -> str:
    """Name the phase from the averages (see the module docstring for the thresholds).

    The skyrmion lattice needs both the charge and a Bragg peak: a paramagnet in a field
    carries a thermal topological charge too, but no long-range order.
    """
    sites = run.m.shape[0] * run.m.shape[1]
    ordered = run.peak_structure_factor >= bragg_threshold(sites)
    if ordered and abs(run.charge) >= 0.5 * run.ideal_skyrmions:
        return "skyrmion lattice"
    if ordered:
        return "helix"
    if run.magnetization[2] >= 0.5:
        return "ferromagnet"
    return "paramagnet"


def monte_carlo(
    system: SpinSystem,
    temperature: float,
    m0,
    *,
    sweeps: int = 1000,
    equilibration: int = 500,
    over_relaxation: int = 2,
    snapshot_every: int = 10,
    step: float | None = None,
    seed: int = 0,
) -> ThermalRun:
    """Equilibrate ``equilibration`` sweeps from ``m0`` (adapting the Metropolis step), then
    measure over ``sweeps`` sweeps (fixed step; Q and the structure factor every
    ``snapshot_every`` sweeps, the rest every sweep).

    temperature: k_B T in the system's energy unit, > 0. step: initial Metropolis kick size
    (default sqrt(T / (J z)), small at low T). seed: numba's generator (reproducible).
    """
    temperature = check_positive("temperature", temperature)
    sweeps = check_count("sweeps", sweeps, 20)
    equilibration = check_count("equilibration", equilibration, 0)
    over_relaxation = check_count("over_relaxation", over_relaxation, 0, 20)
    snapshot_every = check_count("snapshot_every", snapshot_every, 1, sweeps)
    seed_kernel, sweep_kernel, energy_kernel = _kernels()
    neighbours, dmi = neighbour_tables(system)
    z = max(1, neighbours.shape[1])
    if step is None:
        step = min(1.0, math.sqrt(temperature / (system.J * z)) + 0.02)
    step = check_range("step", step, 0.0, 2.0, low_open=True)
    s = np.ascontiguousarray(system.check_spins(m0).reshape(-1, 3))
    n = s.shape[0]
    args = (neighbours, dmi, system.J, system.K, system.B, temperature)
    seed_kernel(int(seed) % (2**32))
    for index in range(equilibration):
        accepted = sweep_kernel(s, *args, step, over_relaxation)
        if index % 10 == 9:  # steer the acceptance towards 1/2 while equilibrating
            step = float(np.clip(step * (0.5 + accepted / n), 1e-3, 2.0))
    energies, mz, charges, accepted_total = [], [], [], 0
    structure = np.zeros(system.shape)
    snapshots = 0
    magnetization_sum = np.zeros(3)
    for index in range(sweeps):
        accepted_total += sweep_kernel(s, *args, step, over_relaxation)
        energies.append(energy_kernel(s, *args[:-1]) / n)
        mean = s.mean(axis=0)
        magnetization_sum += mean
        mz.append(mean[2])
        if index % snapshot_every == 0:
            m = s.reshape(*system.shape, 3)
            # A chain (one site wide) has no plaquettes and no charge.
            planar = min(system.shape) >= 2
            charges.append(
                topological_charge(m, system.lattice, system.boundary) if planar else 0.0
            )
            fourier = np.fft.fft2(m[..., 2] - m[..., 2].mean())
            structure += np.abs(fourier) ** 2 / n**2
            snapshots += 1
    energies, mz = np.array(energies), np.array(mz)
    structure /= snapshots
    structure[0, 0] = 0.0
    peak = np.unravel_index(int(np.argmax(structure)), structure.shape)
    m2, m4 = np.mean(mz**2), np.mean(mz**4)
    run = ThermalRun(
        temperature=temperature,
        sweeps=sweeps,
        equilibration=equilibration,
        acceptance=accepted_total / (n * sweeps),
        step=step,
        energy_per_site=float(energies.mean()),
        energy_error=_batch_error(energies),
        specific_heat=float(energies.var() * n / temperature**2),
        magnetization=magnetization_sum / sweeps,
        magnetization_error=_batch_error(mz),
        charge=float(np.mean(charges)),
        charge_error=_batch_error(np.array(charges), batches=min(10, max(2, len(charges) // 2))),
        ideal_skyrmions=ideal_skyrmion_count(system),
        peak_structure_factor=float(structure[peak]),
        peak_wavevector=(int(peak[0]), int(peak[1])),
        binder=float(1.0 - m4 / (3.0 * m2 * m2)) if m2 > 0 else 0.0,
        m=s.reshape(*system.shape, 3).copy(),
        series={"energy_per_site": energies, "m_z": mz, "charge": np.array(charges)},
    )
    run.phase = thermal_phase(run)
    return run


def anneal(
    system: SpinSystem,
    temperatures,
    m0,
    *,
    sweeps: int = 400,
    equilibration: int = 300,
    over_relaxation: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> list[ThermalRun]:
    """Cool (or heat) through ``temperatures`` in the given order, each run starting from the
    previous one's final spins: the field-cooling protocol when the temperatures decrease."""
    temperatures = [check_positive("temperature", t) for t in temperatures]
    runs, m = [], m0
    items = list(enumerate(temperatures))
    for index, temperature in show_progress(
        items, progress, f"anneal B={system.B:g}", unit="T", leave=False
    ):
        run = monte_carlo(
            system, temperature, m, sweeps=sweeps, equilibration=equilibration,
            over_relaxation=over_relaxation, seed=seed + index,
        )  # fmt: skip
        runs.append(run)
        m = run.m
    return runs


@dataclass
class ThermalPhaseDiagram:
    """Field-cooled phases on a (B, T) grid; arrays are indexed [i_B, i_T]."""

    B_values: np.ndarray
    temperatures: np.ndarray  # as annealed (descending)
    phase: np.ndarray  # str
    charge: np.ndarray  # <Q>
    magnetization: np.ndarray  # <m_z>
    energy_per_site: np.ndarray
    specific_heat: np.ndarray
    peak_structure_factor: np.ndarray
    ideal_skyrmions: float
    parameters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "B_values": self.B_values.tolist(),
            "temperatures": self.temperatures.tolist(),
            "phase": self.phase.tolist(),
            "charge": self.charge.tolist(),
            "magnetization": self.magnetization.tolist(),
            "energy_per_site": self.energy_per_site.tolist(),
            "specific_heat": self.specific_heat.tolist(),
            "peak_structure_factor": self.peak_structure_factor.tolist(),
            "ideal_skyrmions": self.ideal_skyrmions,
            "parameters": self.parameters,
        }

    def skyrmion_lattice_window(self) -> dict[float, tuple[float, float] | None]:
        """For each temperature, the lowest and highest field of the skyrmion lattice."""
        out = {}
        for j, temperature in enumerate(self.temperatures):
            fields = self.B_values[self.phase[:, j] == "skyrmion lattice"]
            out[float(temperature)] = (
                (float(fields.min()), float(fields.max())) if len(fields) else None
            )
        return out


def thermal_phase_diagram(
    system: SpinSystem,
    B_values,
    temperatures,
    *,
    sweeps: int = 400,
    equilibration: int = 300,
    over_relaxation: int = 2,
    start: str = "random",
    seed: int = 0,
    progress: bool = False,
) -> ThermalPhaseDiagram:
    """Field-cool ``system`` at every B: anneal through ``temperatures`` (sorted high to low)
    from a ``start`` state ("random": the paramagnet; "skyrmion-lattice"), as in experiments
    where the skyrmion lattice forms on cooling in a field."""
    from .states import initial_state

    check_choice("start", start, ("random", "skyrmion-lattice"))
    B_values = np.asarray([check_range("B", b) for b in B_values], dtype=float)
    temperatures = np.sort(np.asarray([check_positive("temperature", t) for t in temperatures]))[
        ::-1
    ]
    if B_values.size == 0 or temperatures.size == 0:
        raise PhysicsInputError("B_values and temperatures must be non-empty")
    shape = (B_values.size, temperatures.size)
    names = ("charge", "magnetization", "energy_per_site", "specific_heat", "peak_structure_factor")
    arrays = {name: np.zeros(shape) for name in names}
    phase = np.empty(shape, dtype=object)
    items = list(enumerate(B_values))
    for i, B in show_progress(items, progress, "T-B phase diagram", unit="field"):
        at_field = system.with_couplings(B=float(B))
        runs = anneal(
            at_field, temperatures, initial_state(at_field, start, seed=seed), sweeps=sweeps,
            equilibration=equilibration, over_relaxation=over_relaxation, seed=seed + 1000 * i,
        )  # fmt: skip
        for j, run in enumerate(runs):
            phase[i, j] = run.phase
            arrays["charge"][i, j] = run.charge
            arrays["magnetization"][i, j] = run.magnetization[2]
            arrays["energy_per_site"][i, j] = run.energy_per_site
            arrays["specific_heat"][i, j] = run.specific_heat
            arrays["peak_structure_factor"][i, j] = run.peak_structure_factor
    return ThermalPhaseDiagram(
        B_values=B_values,
        temperatures=temperatures,
        phase=phase.astype(str),
        ideal_skyrmions=ideal_skyrmion_count(system),
        parameters={
            "shape": list(system.shape),
            "lattice": system.lattice,
            "J": system.J,
            "D": system.D,
            "K": system.K,
            "sweeps": sweeps,
            "equilibration": equilibration,
            "over_relaxation": over_relaxation,
            "start": start,
            "seed": seed,
            "site_area": SITE_AREA[system.lattice],
        },  # fmt: skip
        **arrays,
    )
