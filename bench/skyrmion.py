"""Skyrmion solver: speed of the numpy kernels and the physics numbers quoted in the docs.

Measures
- the cost of one effective-field evaluation and of one relaxation step vs lattice size;
- the skyrmion-lattice field window (helix | SkX | FM crossings of relaxed energies per
  site, box period optimized) for several D, in B and in reduced field h = B J / D^2;
- the field at which a relaxed skyrmion lattice unwinds (D = 0.3);
- the relaxed helix period against 4 pi A / D for several meshes;
- Q of a relaxed isolated skyrmion and of a relaxed skyrmion lattice;
- the Rashba-Edelstein k-grid result against the closed form for several grids;
- ``thermal``: the Monte Carlo against exact limits (Heisenberg chain, Onsager's Ising limit,
  equipartition), its cost per sweep, and the field-cooled T-B phase diagram of the skyrmion
  lattice (figure docs/figures/skyrmion_thermal_phase_diagram.png);
- ``material``: the Fe(Co)GeTe2-class parameters in lattice units.

Writes bench/results/skyrmion.json (and, with --figures, PNGs in build/skyrmion/).
Run: .venv/bin/python bench/skyrmion.py [--quick] [--figures] [--only SECTION ...]
(--only keeps the other sections of an existing JSON)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sw.physics.skyrmion import (  # noqa: E402
    SpinSystem,
    add_noise,
    commensurate_shape,
    initial_state,
    lattice_helix_period,
    phase_diagram,
    rashba_edelstein,
    relax,
    skyrmion_lattice_window,
    skyrmion_state,
    uniform_state,
)
from sw.physics.skyrmion.model import to_internal  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "skyrmion.json"
FIGURES = Path(__file__).resolve().parent.parent / "build" / "skyrmion"
FIGURES_DOCS = Path(__file__).resolve().parent.parent / "docs" / "figures"


def time_kernels(sizes) -> list[dict]:
    """Seconds per field evaluation and per relaxation step (best of several)."""
    rows = []
    for n in sizes:
        system = SpinSystem(n, D=0.3, B=0.04)
        s = to_internal(initial_state(system, "random", seed=0))
        repeats = max(3, int(2e6 / n**2))
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(repeats):
                system.field_internal(s)
            best = min(best, (time.perf_counter() - start) / repeats)
        m0 = initial_state(system, "skyrmion-lattice")
        start = time.perf_counter()
        state = relax(system, m0, max_iter=200, torque_tol=1e-12)
        per_step = (time.perf_counter() - start) / state.iterations
        rows.append(
            {
                "sites": n * n,
                "shape": [n, n],
                "field_evaluation_s": best,
                "relax_step_s": per_step,
                "ns_per_site_per_step": per_step / (n * n) * 1e9,
            }
        )
        print(f"{n:4d}^2: field {best * 1e3:.3f} ms, relax step {per_step * 1e3:.3f} ms")
    return rows


def windows(D_values, quick: bool) -> list[dict]:
    rows = []
    for D in D_values:
        h = np.linspace(0.0, 1.0, 11 if quick else 41)
        scales = (1.0, 1.2, 1.4) if quick else tuple(np.linspace(1.0, 1.6, 13))
        start = time.perf_counter()
        window = skyrmion_lattice_window(D, h * D**2, box_scales=scales)
        elapsed = time.perf_counter() - start
        low, high = window.helix_to_lattice, window.lattice_to_ferromagnet
        rows.append(
            {
                "D": D,
                "helix_period": lattice_helix_period(1.0, D),
                "B_helix_to_skx": low,
                "B_skx_to_fm": high,
                "h_helix_to_skx": None if low is None else low / D**2,
                "h_skx_to_fm": None if high is None else high / D**2,
                "seconds": elapsed,
            }
        )
        print(f"D = {D}: SkX window B in [{low}, {high}] ({elapsed:.0f} s)")
    return rows


def collapse_field(D: float) -> dict:
    """Bisect the field above which a relaxed skyrmion lattice unwinds (Q -> 0)."""
    shape = commensurate_shape(D)
    low, high = 0.1, 0.4  # in units of J; survives at low, unwinds at high (checked)
    for _ in range(14):
        mid = 0.5 * (low + high)
        system = SpinSystem(shape, D=D, B=mid)
        state = relax(system, initial_state(system, "skyrmion-lattice"))
        if abs(state.topological_charge) > 0.5:
            low = mid
        else:
            high = mid
    return {"D": D, "shape": list(shape), "B_collapse": 0.5 * (low + high), "h": low / D**2}


def helix_periods() -> list[dict]:
    A, D = 1e-11, 3e-3  # J/m, J/m^2
    analytic = 4 * math.pi * A / D
    rows = []
    for cell in (2e-9, 1e-9, 0.5e-9, 0.25e-9):
        system = SpinSystem.from_micromagnetic(
            (round(160e-9 / cell), 4), A=A, D=D, cell_size=cell, boundary=("open", "periodic")
        )
        state = relax(system, add_noise(uniform_state(system), 0.05, seed=1), torque_tol=1e-10)
        phase = np.unwrap(np.arctan2(state.m[:, 0, 0], state.m[:, 0, 2]))
        slope = np.polyfit(np.arange(phase.size)[5:-5], phase[5:-5], 1)[0]
        period = 2 * math.pi / abs(slope) * cell
        rows.append(
            {
                "cell_nm": cell * 1e9,
                "D_lattice_over_J": system.D,
                "period_nm": period * 1e9,
                "analytic_nm": analytic * 1e9,
                "relative_error": period / analytic - 1,
                "lattice_period_nm": lattice_helix_period(1.0, system.D) * cell * 1e9,
                "converged": state.converged,
            }
        )
        print(f"a = {cell * 1e9} nm: L = {period * 1e9:.3f} nm vs {analytic * 1e9:.3f} nm")
    return rows


def charges() -> dict:
    out = {}
    for lattice, size, B in (("square", 48, 0.1), ("triangular", 52, 0.15)):
        system = SpinSystem(size, lattice=lattice, D=0.3, B=B)
        state = relax(system, skyrmion_state(system, radius=5.0))
        out[f"isolated_{lattice}"] = {
            "Q": state.topological_charge,
            "radius": float(state.skyrmion_radii[0]),
            "B": B,
            "phase": state.phase,
        }
    system = SpinSystem((50, 86), D=0.3, B=0.04)
    state = relax(system, initial_state(system, "skyrmion-lattice"))
    out["lattice_square_50x86"] = {
        "Q": state.topological_charge,
        "mean_radius": float(np.mean(state.skyrmion_radii)),
        "phase": state.phase,
    }
    uniform = relax(system, uniform_state(system))
    out["uniform"] = {"Q": uniform.topological_charge, "phase": uniform.phase}
    print("charges:", {k: round(v["Q"], 6) for k, v in out.items()})
    return out


def edelstein() -> list[dict]:
    rows = []
    for grid in (100, 200, 300, 400, 600):
        start = time.perf_counter()
        result = rashba_edelstein(1e-11, 1.0, 1e-14, 1e4, grid_points=grid)
        rows.append(
            {
                "grid_points": grid,
                "spin_density": result.spin_density,
                "closed_form": result.spin_density_closed_form,
                "relative_difference": result.relative_difference,
                "lambda_iree_m": result.lambda_iree,
                "seconds": time.perf_counter() - start,
            }
        )
    print("Edelstein relative differences:", [f"{r['relative_difference']:.1e}" for r in rows])
    return rows


def thermal(quick: bool) -> dict:
    """Monte Carlo checks against exact limits, its speed, and the T-B phase diagram."""
    from sw.physics.skyrmion.plotting import plot_thermal_phase_diagram
    from sw.physics.skyrmion.thermal import (
        langevin,
        monte_carlo,
        onsager_magnetization,
        thermal_phase_diagram,
    )

    out: dict = {"chain": [], "ising": []}
    chain = SpinSystem((256, 1), D=0.0, boundary=("periodic", "open"))
    for temperature in (0.25, 0.5, 1.0, 2.0):
        run = monte_carlo(chain, temperature, initial_state(chain, "random", seed=0),
                          sweeps=3000, equilibration=500)  # fmt: skip
        exact = float(langevin(1.0 / temperature))
        out["chain"].append({"T": temperature, "mc": -run.energy_per_site,
                             "error": run.energy_error, "exact": exact})  # fmt: skip
    ising = SpinSystem(24, D=0.0, K=1000.0)
    for temperature in (1.6, 2.0, 2.2, 3.2):
        run = monte_carlo(ising, temperature, uniform_state(ising), sweeps=1500,
                          equilibration=500)  # fmt: skip
        out["ising"].append({"T": temperature, "mc_abs_mz": abs(float(run.magnetization[2])),
                             "error": run.magnetization_error,
                             "onsager": onsager_magnetization(temperature)})  # fmt: skip
    print("chain", out["chain"], "\nising", out["ising"], flush=True)
    speed = []
    for D in (0.5, 0.3):
        system = SpinSystem(commensurate_shape(D, cells=2), D=D, B=0.5 * D * D)
        m = initial_state(system, "random", seed=0)
        monte_carlo(system, 0.5, m, sweeps=20, equilibration=0)  # compile / warm up
        start = time.perf_counter()
        monte_carlo(system, 0.5, m, sweeps=200, equilibration=0)
        per_sweep = (time.perf_counter() - start) / 200
        speed.append({"D": D, "shape": list(system.shape), "seconds_per_sweep": per_sweep,
                      "ns_per_site": per_sweep / system.n_sites * 1e9})  # fmt: skip
    out["speed"] = speed
    D = 0.5
    system = SpinSystem(commensurate_shape(D, cells=2), D=D)
    B_values = list(np.linspace(0.0, 1.6, 9 if quick else 17) * D * D)
    temperatures = list(np.geomspace(1.2, 0.05, 8 if quick else 12))
    start = time.perf_counter()
    diagram = thermal_phase_diagram(system, B_values, temperatures, sweeps=400,
                                    equilibration=300, progress=True)  # fmt: skip
    out["phase_diagram"] = diagram.to_dict() | {
        "seconds": time.perf_counter() - start,
        "skyrmion_lattice_window": {
            str(t): w for t, w in diagram.skyrmion_lattice_window().items()
        },
    }
    FIGURES_DOCS.mkdir(parents=True, exist_ok=True)
    plot_thermal_phase_diagram(diagram, FIGURES_DOCS / "skyrmion_thermal_phase_diagram.png")
    print("T-B windows", out["phase_diagram"]["skyrmion_lattice_window"], flush=True)
    return out


def material(quick: bool) -> dict:
    """The Fe(Co)GeTe2-class parameters in lattice units, and a field-cooled T-B diagram of the
    model with the material's D/J and K/J on a 2.5 a cell (D/J = 0.5, where boxes stay small),
    with the material at 0.1 T and 300 K marked for 3, 10 and 30 layers."""
    from sw.physics.skyrmion.materials import FCGT_CLASS, to_lattice
    from sw.physics.skyrmion.plotting import plot_thermal_phase_diagram
    from sw.physics.skyrmion.thermal import thermal_phase_diagram

    rows = []
    for layers in (1, 3, 10, 30):
        mapping = to_lattice(FCGT_CLASS, layers * FCGT_CLASS.layer_thickness)
        rows.append(mapping.to_dict() | {"layers": layers,
                                         "T_over_J_at_300K": mapping.temperature(300.0),
                                         "B_over_J_at_0.1T": mapping.field(0.1)})  # fmt: skip
    out = {"K_eff": FCGT_CLASS.K_eff, "critical_dmi": FCGT_CLASS.critical_dmi,
           "D_over_critical": FCGT_CLASS.D / FCGT_CLASS.critical_dmi,
           "helix_period_nm": FCGT_CLASS.helix_period * 1e9, "lattice": rows}  # fmt: skip
    cell = 2.5 * FCGT_CLASS.lattice_constant
    coarse = {layers: to_lattice(FCGT_CLASS, layers * FCGT_CLASS.layer_thickness, cell)
              for layers in (3, 10, 30)}  # fmt: skip
    mapping = coarse[10]  # D/J and K/J do not depend on the thickness; T/J does
    system = SpinSystem(commensurate_shape(mapping.D, cells=2), D=mapping.D, K=mapping.K)
    tesla = list(np.linspace(0.0, 1.2, 7 if quick else 13))
    temperatures = list(np.geomspace(1.2, 0.05, 8 if quick else 12))
    start = time.perf_counter()
    diagram = thermal_phase_diagram(system, [mapping.field(b) for b in tesla], temperatures,
                                    sweeps=400, equilibration=300, progress=True)  # fmt: skip
    markers = [(mapping.field(0.1), coarse[n].temperature(300.0), f"300 K, 0.1 T, {n} layers")
               for n in (3, 10, 30)]  # fmt: skip
    FIGURES_DOCS.mkdir(parents=True, exist_ok=True)
    plot_thermal_phase_diagram(diagram, FIGURES_DOCS / "skyrmion_material_thermal.png",
                               markers=markers)  # fmt: skip
    out["thermal"] = diagram.to_dict() | {
        "cell_nm": cell * 1e9,
        "tesla": tesla,
        "seconds": time.perf_counter() - start,
        "markers": markers,
        "skyrmion_lattice_window": {
            str(t): w for t, w in diagram.skyrmion_lattice_window().items()
        },
    }
    print("material T-B windows", out["thermal"]["skyrmion_lattice_window"], flush=True)
    return out


def figures(quick: bool) -> None:
    from sw.physics.skyrmion.plotting import plot_phase_diagram, plot_texture

    FIGURES.mkdir(parents=True, exist_ok=True)
    system = SpinSystem((50, 86), D=0.3, B=0.04)
    state = relax(system, initial_state(system, "skyrmion-lattice"))
    plot_texture(system, state.m, FIGURES / "skyrmion_lattice.png")
    D_values = np.linspace(0.2, 0.5, 4 if quick else 7)
    B_values = np.linspace(0.0, 0.2, 11 if quick else 21)
    diagram = phase_diagram(D_values, B_values, progress=True)
    plot_phase_diagram(diagram, FIGURES / "phase_diagram.png")
    plot_phase_diagram(diagram, FIGURES / "phase_diagram_reduced.png", reduced_field=True)
    (FIGURES / "phase_diagram.json").write_text(json.dumps(diagram.to_dict(), indent=1))
    print(f"figures in {FIGURES}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="coarser sweeps")
    parser.add_argument("--figures", action="store_true", help="also write README figures")
    sections = {
        "kernels": lambda quick: time_kernels((32, 64, 128, 256)),
        "charges": lambda quick: charges(),
        "helix_period": lambda quick: helix_periods(),
        "edelstein": lambda quick: edelstein(),
        "skx_window": lambda quick: windows((0.3,) if quick else (0.2, 0.3, 0.4, 0.5), quick),
        "collapse": lambda quick: collapse_field(0.3),
        "thermal": thermal,
        "material": material,
    }
    parser.add_argument("--only", nargs="+", choices=list(sections), help="run these sections")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = json.loads(RESULTS.read_text()) if args.only and RESULTS.exists() else {}
    result |= {
        "benchmark": "skyrmion",
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": platform.machine(),
        },
    }
    for name in args.only or list(sections):
        section_start = time.perf_counter()
        result[name] = sections[name](args.quick)
        result[f"{name}_seconds"] = time.perf_counter() - section_start
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if args.figures:
        figures(args.quick)
    result["total_seconds"] = time.perf_counter() - start
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS} ({result['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
