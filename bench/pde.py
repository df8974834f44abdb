"""Benchmark: learning unknown PDEs from nodal data, every equation, float and on the core.

Runs `qmatmul run pde` (full size, not ``--quick``) for each configuration below,
checks the two spectral reference solvers against py-pde (an independent finite-
difference solver), measures the compiler-only alternative to the wide first layer on
Burgers, and writes ``bench/results/pde.json`` (per configuration: the targets, every
model's error at steps 1, 10, 50 and 100, the training recipe and the timings).

    .venv/bin/python bench/pde.py [--backend ref|sim] [--only burgers,heat] [--quick]
                                  [--no-checks]

Each configuration is written to the JSON as soon as it finishes (a rerun with
``--only`` replaces those configurations and keeps the others).

Trained models and rollouts are cached in ``build/cache`` (a rerun only re-plots);
figures and per-run ``results.json`` go to ``build/bench/pde/<configuration>/``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sw.workloads.common import write_json  # noqa: E402

CONFIGURATIONS = {
    "advection": ["--equation", "advection"],
    "heat": ["--equation", "heat"],
    "burgers": ["--equation", "burgers"],
    "system": ["--equation", "system"],
    "advdiff2d": ["--equation", "advdiff2d"],
    "advdiff2d-lattice": ["--equation", "advdiff2d", "--grid", "uniform"],
    "advection-random": ["--equation", "advection", "--grid", "random"],
}
STEPS = (1, 10, 50, 100)


def summarize(results: dict) -> dict:
    from sw.workloads.pde.evaluate import at_step

    return {
        "equation": results["formula"],
        "grid": results["grid"],
        "boundary": results["boundary"],
        "nodes": results["nodes"],
        "stencil": results["stencil"],
        "dt": results["dt"],
        "targets": results["targets"],
        "errors": {
            name: {str(s): at_step(entry, s) for s in STEPS}
            for name, entry in results["models"].items()
        },
        "training": {
            k: results["training"][k]
            for k in ("linear_prior", "stencil_explained", "stencil_radius", "noise", "seconds")
        },
        "core": {
            bits: {k: run[k] for k in ("ref_agreement", "cycles_per_sample_step")}
            for bits, run in results["core"]["runs"].items()
        },
        "pde_find_equation": results["pde_find_equation"],
        "comparisons": [c for c in results["comparisons"] if c["step"] == 100],
        "seconds": results["timing_seconds"]["total"],
    }


def _py_pde():
    """The py-pde package (``import pde`` from this script would find this file)."""
    here = Path(__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        return importlib.import_module("pde")
    finally:
        sys.path[:] = saved


def solver_check() -> dict:
    """Our ETDRK4 pseudo-spectral reference against py-pde's finite differences (RK)."""
    import numpy as np

    pde = _py_pde()

    from sw.workloads.pde.equations import get_equation
    from sw.workloads.pde.solvers import random_initial_conditions, reference_trajectories

    checks = {}
    grid = pde.CartesianGrid([[0, 2 * np.pi]], 512, periodic=True)
    x = grid.axes_coords[0]
    for name, expressions, time_span in (
        ("burgers", {"u": "-u * d_dx(u) + {nu} * laplace(u)"}, 0.4),
        ("system", {"u": "{du} * laplace(u) + u - u**3 - v",
                    "v": "{dv} * laplace(v) + {eps} * (u - {gamma} * v)"}, 1.0),
    ):  # fmt: skip
        equation = get_equation(name)
        params = equation.defaults()
        series = random_initial_conditions(equation, "periodic", 6, 1, np.random.default_rng(1))
        initial = series.evaluate(x)[0]  # (N, F)
        fields = [pde.ScalarField(grid, initial[:, f]) for f in range(initial.shape[1])]
        state = fields[0] if len(fields) == 1 else pde.FieldCollection(fields)
        system = pde.PDE({k: v.format(**params) for k, v in expressions.items()})
        start = time.perf_counter()
        theirs = system.solve(state, t_range=time_span, dt=1e-4, solver="explicit",
                              scheme="rk", tracker=None)  # fmt: skip
        seconds = time.perf_counter() - start
        steps = round(time_span / params["dt"])
        ours = reference_trajectories(equation, params, series, x, steps)[0, -1]  # (N, F)
        data = np.asarray(theirs.data).reshape(len(fields), -1).T
        checks[name] = {
            "time": time_span,
            "grid_points": 512,
            "relative_l2_difference": float(np.linalg.norm(data - ours) / np.linalg.norm(ours)),
            "py_pde_seconds": seconds,
        }
    return checks


def compiler_only_ablation(backend: str, quick: bool) -> dict:
    """Burgers at 16-bit inputs with the whole MLP through `compile_model(input_bits=16)`
    (4-bit first layer) instead of the wide first layer: why that layer is wide."""
    from dataclasses import replace

    from sw.workloads.backends import open_backend
    from sw.workloads.pde.cli import build_parser, settings_from_args
    from sw.workloads.pde.core import compile_step, core_rollout
    from sw.workloads.pde.data import HORIZON
    from sw.workloads.pde.evaluate import relative_l2
    from sw.workloads.pde.experiment import Cache, prepared

    arguments = ["--equation", "burgers"] + (["--quick"] if quick else [])
    settings = settings_from_args(build_parser().parse_args(arguments))
    dataset, _, model, _, _, _ = prepared(settings, Cache(settings.cache, retrain=False))
    result = {}
    with open_backend(backend) as accelerator:
        for wide in (True, False):
            config = replace(settings.core_config(), wide_first_layer=wide)
            step = compile_step(model, dataset, 16, config, settings.seed)
            prediction = core_rollout(step, accelerator, dataset.test[:, 0], HORIZON)
            errors = relative_l2(prediction, dataset.test).mean(axis=0)
            name = "wide_first_layer" if wide else "compile_model_input_bits_16"
            result[name] = {str(s): float(errors[s]) for s in STEPS}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="ref")
    parser.add_argument("--only", help="comma-separated configurations ('none': checks only)")
    parser.add_argument("--quick", action="store_true", help="the --quick sizes (smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/pde.json")
    parser.add_argument(
        "--no-checks",
        dest="checks",
        action="store_false",
        help="skip the py-pde solver check and the Burgers first-layer ablation",
    )
    args = parser.parse_args()
    from sw.workloads.pde.cli import main as run_pde

    if args.only == "none":  # only the solver check and the ablation
        chosen = []
    else:
        chosen = args.only.split(",") if args.only else list(CONFIGURATIONS)
    unknown = [name for name in chosen if name not in CONFIGURATIONS]
    if unknown:
        parser.error(f"unknown configurations {unknown}; known: {list(CONFIGURATIONS)}")
    begin = time.perf_counter()
    report = {"backend": args.backend, "quick": args.quick, "configurations": {}}
    if args.out.exists():  # keep the other configurations of an earlier run of this kind
        earlier = json.loads(args.out.read_text())
        if (earlier.get("backend"), earlier.get("quick")) == (args.backend, args.quick):
            report = earlier | {"configurations": earlier.get("configurations", {})}

    def save() -> None:  # after every configuration: a killed run keeps what it finished
        report["seconds"] = time.perf_counter() - begin
        write_json(args.out, report)

    for name in chosen:
        out = ROOT / "build/bench/pde" / name
        arguments = [*CONFIGURATIONS[name], "--backend", args.backend, "--out", str(out)]
        if args.quick:
            arguments.append("--quick")
        print(f"== {name}: qmatmul run pde {' '.join(arguments)}", flush=True)
        code = run_pde(arguments)
        results = json.loads((out / "results.json").read_text())
        report["configurations"][name] = summarize(results) | {"exit_code": code}
        save()
    if args.checks:
        print("== py-pde check of the reference solvers", flush=True)
        report["solver_check_vs_py_pde"] = solver_check()
        save()
        print("== Burgers: wide first layer vs compile_model(input_bits=16)", flush=True)
        report["burgers_core16_first_layer_ablation"] = compiler_only_ablation(
            args.backend, args.quick
        )
    save()
    print(f"wrote {args.out} in {report['seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
