"""`qmatmul run pde`: learn an unknown PDE from nodal trajectories; run its step on the core.

    qmatmul run pde --equation burgers [--grid uniform|random] [--boundary periodic]
                    [--param nu=0.05 ...] [--backend ref|sim|serial:PORT] [--quick]
                    [--bits 8,12,16] [--out DIR]

Trains the nodal flow map (disassembly, shared local operator, assembly, residual step)
and the baselines on trajectory pairs of the chosen equation, rolls every model out 100
training steps from held-out initial conditions, runs the learned step on the core at
each state input width, and writes ``results.json``, ``errors.png`` and
``solutions.png`` under ``--out``. Heavy imports (torch) wait until the arguments parse.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..common import int_list
from .equations import BOUNDARIES, EQUATIONS, get_equation
from .grids import GRIDS

DEFAULT_OUT = Path("build/pde")
BASELINE_NAMES = ("lstsq-stencil", "pde-find", "mlp")
DEFAULT_WIDTH = {1: 2, 2: 12}  # 1D stencil half-width (5 points); 2D nearest neighbours


def _parameter_help() -> str:
    lines = []
    for equation in EQUATIONS.values():
        entries = ", ".join(
            f"{p.name}={p.default:g} [{p.low:g}, {p.high:g}]" for p in equation.parameters
        )
        lines.append(f"{equation.name}: {entries}")
    return "; ".join(lines)


def _bits(text: str) -> tuple[int, ...]:
    if text.strip().lower() in ("", "none"):
        return ()
    values = int_list(text)
    for value in values:
        if not 2 <= value <= 16:
            raise argparse.ArgumentTypeError(
                f"--bits {value} is out of range; allowed range is [2, 16]"
            )
    return values


def _baselines(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    for name in names:
        if name not in BASELINE_NAMES:
            raise argparse.ArgumentTypeError(
                f"--baselines {name!r} is not one of {', '.join(BASELINE_NAMES)}"
            )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul run pde",
        description="Learn an unknown PDE from nodal data (Chen, Churchill, Wu & Xiu 2022); "
        "the learned step runs on the core.",
    )
    parser.add_argument("--equation", required=True, choices=list(EQUATIONS))
    parser.add_argument("--grid", choices=GRIDS, help="uniform or random nodes "
                        "(default: uniform in 1D, random in 2D)")  # fmt: skip
    parser.add_argument("--boundary", choices=BOUNDARIES, help="default: the equation's first")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="an equation parameter (repeatable); " + _parameter_help(),
    )  # fmt: skip
    parser.add_argument("--stencil", type=int, help="1D stencil half-width (default 2) or "
                        "2D neighbour count (default 12)")  # fmt: skip
    parser.add_argument("--backend", default="ref", help="ref, sim or serial:PORT (default ref)")
    parser.add_argument(
        "--bits",
        type=_bits,
        default=(8, 12, 16),
        help="state input widths on the core, e.g. 8,12,16 ('none': skip)",
    )
    parser.add_argument(
        "--scheme",
        default="uniform",
        help="4-bit weight scheme of the core MLP (uniform, sp1, sp2, codebook)",
    )
    parser.add_argument(
        "--baselines",
        type=_baselines,
        default=BASELINE_NAMES,
        help="comma-separated: " + ", ".join(BASELINE_NAMES),
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="less data, shorter training")
    parser.add_argument("--out", type=Path, help="output directory (default build/pde/EQUATION)")
    parser.add_argument(
        "--cache", type=Path, default=Path("build/cache"), help="cache of data, models and results"
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write it")
    parser.add_argument("--retrain", action="store_true", help="ignore cached models and results")
    return parser


def settings_from_args(args):
    """Validate the arguments into `experiment.Settings` (ValueError on a bad value)."""
    from sw.quant import SCHEME_KINDS

    from .experiment import Settings

    equation = get_equation(args.equation)
    params = equation.parse_params(args.param)
    boundary = equation.check_boundary(args.boundary)
    grid = args.grid or equation.default_grid
    width = args.stencil if args.stencil is not None else DEFAULT_WIDTH[equation.dim]
    low, high = (1, 4) if equation.dim == 1 else (4, 24)
    if not low <= width <= high:
        raise ValueError(f"--stencil {width} is out of range; allowed range is [{low}, {high}]")
    if equation.dim == 1 and 2 * width + 1 > params["nodes"]:
        raise ValueError(f"--stencil {width} needs at least {2 * width + 1} nodes")
    nodes = int(params["nodes"])
    if equation.dim == 2 and grid == "uniform" and round(nodes**0.5) ** 2 != nodes:
        raise ValueError(f"--param nodes={nodes}: a uniform 2D grid needs a square number")
    if equation.dim == 2 and width >= nodes:
        raise ValueError(f"--stencil {width} needs more than {width} nodes")
    if args.scheme not in SCHEME_KINDS:
        raise ValueError(f"--scheme {args.scheme!r} is not one of {', '.join(SCHEME_KINDS)}")
    return Settings(
        equation=equation,
        params=params,
        boundary=boundary,
        grid=grid,
        width=width,
        seed=args.seed,
        quick=args.quick,
        bits=args.bits,
        baselines=args.baselines,
        backend=args.backend,
        scheme=args.scheme,
        cache=None if args.no_cache else args.cache,
        retrain=args.retrain,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    out = args.out or DEFAULT_OUT / settings.equation.name

    from . import report
    from .experiment import run

    print(
        f"{settings.equation.name}: {settings.equation.formula}; {settings.grid} grid of "
        f"{int(settings.params['nodes'])} nodes, {settings.boundary}, dt = "
        f"{settings.params['dt']:g}; backend {settings.backend}"
        + (" (quick)" if settings.quick else "")
    )
    results = run(settings, out)
    training = results["training"]
    start = "least-squares stencil" if training["linear_prior"] else "zero, high-pass noise"
    print(
        f"nodal model: started from {start}"
        f" (stencil explains {training['stencil_explained']:.6f} of the increments, "
        f"its step's spectral radius {training['stencil_radius']:.4f})"
    )
    if not training["correction_kept"]:
        print("  its MLP did not cut the held-out one-step error by 10%: dropped (stencil only)")
    if results["pde_find_equation"]:
        print("PDE-FIND identified: " + "; ".join(results["pde_find_equation"]))
    print()
    print("mean relative L2 error over held-out initial conditions:")
    print(report.table(results["models"]))
    for bits, run_info in results["core"]["runs"].items():
        agree = "bit-identical to ref" if run_info["ref_agreement"] else "DIFFERS from ref"
        print(
            f"core-{bits}: {run_info['cycles_per_sample_step']:.0f} device cycles per sample "
            f"and step; {agree}"
        )
    for name, target in results["targets"].items():
        verdict = "met" if target["met"] else "MISSED"
        print(f"target {name}: {target['value']:.4g} vs {target['threshold']:g} -> {verdict}")
    print(f"wrote {out / 'results.json'}, {results['figures']['errors']}, "
          f"{results['figures']['solutions']}")  # fmt: skip
    disagreeing = [b for b, r in results["core"]["runs"].items() if not r["ref_agreement"]]
    if disagreeing:
        print(f"ERROR: {settings.backend} and ref disagree for core-{', core-'.join(disagreeing)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
