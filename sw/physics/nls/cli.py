"""``qmatmul physics nls``: solve the coupled system once, or scan a parameter.

    qmatmul physics nls --N 3 --p 4 --q 4 --mu1 1 --mu2 1 --beta 0.5 --a 10 --b 12
    qmatmul physics nls scan --N 3 --p 6 --q 6 --a 3 --b 5 --vary beta --values 0.5,1,2

The first form runs both methods (unless ``--method`` picks one), prints λ1, λ2, the
energy and the residuals, and writes ``solution.npz``, ``solution.json`` and
``profiles.png`` to ``--out`` (default ``build/nls``). The scan writes ``scan.json`` and
``scan.png`` and prints one line per point.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .errors import ConvergenceError
from .scan import PARAMETERS, scan
from .solvers import METHODS, NLSSolution, check_parameters, solve


def _add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("problem")
    group.add_argument("--N", type=int, default=3, help="dimension 1..4 (default 3)")
    group.add_argument("--p", type=float, default=4.0, help="exponent of u (default 4)")
    group.add_argument("--q", type=float, default=4.0, help="exponent of v (default 4)")
    group.add_argument("--mu1", type=float, default=1.0, help="self-coupling of u (default 1)")
    group.add_argument("--mu2", type=float, default=1.0, help="self-coupling of v (default 1)")
    group.add_argument("--beta", type=float, default=0.5, help="linear coupling (default 0.5)")
    group.add_argument("--a", type=float, default=10.0, help="mass of u (default 10)")
    group.add_argument("--b", type=float, default=12.0, help="mass of v (default 12)")
    parser.add_argument(
        "--refinement", type=float, default=1.0, help="grid refinement factor (default 1)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("build/nls"), help="output folder (default build/nls)"
    )


def _solve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul physics nls",
        description="Normalized solutions of -Δu+λ1u=μ1|u|^(p-2)u+βv, -Δv+λ2v=μ2|v|^(q-2)v+βu, "
        "∫u²=a, ∫v²=b (radial). 'qmatmul physics nls scan --help' for scans.",
    )
    _add_problem_arguments(parser)
    parser.add_argument(
        "--method",
        choices=[*METHODS, "both"],
        default="both",
        help="solver; 'both' runs the two and compares them (default)",
    )
    return parser


def _scan_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul physics nls scan",
        description="λ1, λ2 and the energy along a path in β or the masses, with a plot.",
    )
    _add_problem_arguments(parser)
    parser.add_argument("--vary", choices=PARAMETERS, default="beta", help="scanned parameter")
    parser.add_argument(
        "--values",
        required=True,
        help="comma-separated values, or START:STOP:COUNT for an even grid",
    )
    parser.add_argument("--method", choices=METHODS, default="pohozaev")
    return parser


def _parse_values(text: str) -> list[float]:
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            return list(np.linspace(float(start), float(stop), int(count)))
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise ValueError(
            f"--values must be 'x1,x2,...' or 'START:STOP:COUNT' (got {text!r})"
        ) from None


def _problem(args) -> tuple:
    return (args.N, args.p, args.q, args.mu1, args.mu2, args.beta, args.a, args.b)


def save_solution(solution: NLSSolution, out: Path) -> list[Path]:
    """Write the profiles (.npz), the numbers (.json) and a plot (.png) to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    numbers = {
        key: getattr(solution, key)
        for key in (
            "N",
            "p",
            "q",
            "mu1",
            "mu2",
            "beta",
            "a",
            "b",
            "lambda1",
            "lambda2",
            "energy",
            "kinetic",
            "residual",
            "mass_error",
            "pohozaev_residual",
            "method",
            "start",
            "iterations",
        )
    }
    numbers["grid"] = solution.grid.describe()
    numbers["decay_rate"] = solution.decay_rate
    np.savez(
        out / "solution.npz",
        r=solution.r,
        u=solution.u,
        v=solution.v,
        weights=solution.weights,
        **{k: v for k, v in numbers.items() if k != "grid"},
    )
    (out / "solution.json").write_text(json.dumps(numbers, indent=2) + "\n")
    plot_profiles(solution, out / "profiles.png")
    return [out / "solution.npz", out / "solution.json", out / "profiles.png"]


def plot_profiles(solution: NLSSolution, path: Path) -> None:
    """u and v against r: the core (linear axes) and the whole tail (log axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_core, ax_tail) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    r = solution.r
    core = r <= 8.0 / np.sqrt(max(solution.lambda1, solution.lambda2))
    for profile, name in ((solution.u, "u"), (solution.v, "v")):
        ax_core.plot(r[core], profile[core], label=name)
        ax_tail.loglog(r, np.abs(profile), label=name)
    ax_core.set_xlabel("r")
    ax_core.set_title("profiles near the origin")
    ax_tail.set_xlabel("r")
    ax_tail.set_ylim(1e-14 * max(solution.u.max(), solution.v.max()), None)
    ax_tail.set_title(f"tails: decay rate κ = {solution.decay_rate:.3g}")
    for axis in (ax_core, ax_tail):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(
        f"N={solution.N}, p={solution.p:g}, q={solution.q:g}, μ=({solution.mu1:g}, "
        f"{solution.mu2:g}), β={solution.beta:g}, a={solution.a:g}, b={solution.b:g}: "
        f"λ1={solution.lambda1:.6g}, λ2={solution.lambda2:.6g}",
        fontsize=10,
    )
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _run_solve(args) -> int:
    methods = list(METHODS) if args.method == "both" else [args.method]
    for method in methods:  # refuse bad input before printing anything
        check_parameters(*_problem(args), method=method)
    print(
        f"N={args.N} p={args.p:g} q={args.q:g} mu1={args.mu1:g} mu2={args.mu2:g} "
        f"beta={args.beta:g} a={args.a:g} b={args.b:g}"
    )
    header = (
        f"{'method':>13} {'start':>9} {'lambda1':>17} {'lambda2':>17} {'energy':>15} "
        f"{'residual':>9} {'mass err':>9} {'Pohozaev':>9} {'time':>6}"
    )
    print(header)
    solutions = []
    for method in methods:
        started = time.perf_counter()
        try:
            solution = solve(*_problem(args), method=method, refinement=args.refinement)
        except ConvergenceError as error:
            print(f"{method:>13}  no solution: {type(error).__name__}: {error}")
            for note in getattr(error, "__notes__", []):
                print(f"{'':>15}{note}")
            continue
        elapsed = time.perf_counter() - started
        solutions.append(solution)
        print(
            f"{method:>13} {solution.start:>9} {solution.lambda1:17.12g} "
            f"{solution.lambda2:17.12g} {solution.energy:15.10g} {solution.residual:9.1e} "
            f"{solution.mass_error:9.1e} {solution.pohozaev_residual:9.1e} {elapsed:5.2f}s"
        )
    if not solutions:
        return 1
    if len(solutions) == 2:
        first, second = solutions
        difference = max(
            abs(first.lambda1 - second.lambda1) / abs(first.lambda1),
            abs(first.lambda2 - second.lambda2) / abs(first.lambda2),
        )
        print(f"methods agree on (λ1, λ2) to {difference:.1e} (relative)")
    paths = save_solution(solutions[0], args.out)
    print(f"grid: {solutions[0].grid.describe()}")
    print("wrote " + ", ".join(str(path) for path in paths))
    return 0


def _run_scan(args) -> int:
    values = _parse_values(args.values)
    args.out.mkdir(parents=True, exist_ok=True)
    result = scan(
        *_problem(args),
        vary=args.vary,
        values=values,
        method=args.method,
        refinement=args.refinement,
        plot=args.out / "scan.png",
        progress=sys.stderr.isatty(),
    )
    result.to_json(args.out / "scan.json")
    print(result.table())
    report = result.nonexistence_report()
    if report:
        print(report)
    print(f"wrote {args.out / 'scan.json'}, {args.out / 'scan.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    scanning = bool(argv) and argv[0] == "scan"
    parser = _scan_parser() if scanning else _solve_parser()
    args = parser.parse_args(argv[1:] if scanning else argv)
    try:
        return _run_scan(args) if scanning else _run_solve(args)
    except ValueError as error:  # invalid parameters: a usage error
        parser.error(str(error))
    return 2
