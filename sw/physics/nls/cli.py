"""``qmatmul physics nls``: solve the coupled system once, scan, map branches, existence.

    qmatmul physics nls --N 3 --p 4 --q 4 --mu1 1 --mu2 1 --beta 0.5 --a 10 --b 12
    qmatmul physics nls scan --N 3 --p 6 --q 6 --a 3 --b 5 --vary beta --values 0.5,1,2
    qmatmul physics nls branches --beta 2 --vary beta --values 0.25:4:9
    qmatmul physics nls existence [--quick]

The first form runs both methods (unless ``--method`` picks one), prints λ1, λ2, the
energy and the residuals, says for each method whether its state is the least-energy
state found and how that was checked, and writes ``solution.npz``, ``solution.json`` and
``profiles.png`` to ``--out`` (default ``build/nls``). ``scan`` writes ``scan.json`` and
``scan.png``; ``branches`` every state both methods find along a path (``branches.json``,
``branches.png``); ``existence`` the ground state along the mass in N = 2, 3, 4 and the
Sobolev-critical cases (``existence.json``, ``existence.png``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from sw.workloads.common import write_json

from ..common import run_cli, values_argument
from .certify import certify_ground_state
from .errors import ConvergenceError
from .scan import PARAMETERS, branch_map, scan
from .solvers import CHECKS, METHODS, NLSSolution, check_parameters, solve

SUBCOMMANDS = ("scan", "branches", "existence")


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
    _add_out(parser)


def _add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("build/nls"), help="output folder (default build/nls)"
    )


def _solve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul physics nls",
        description="Normalized solutions of -Δu+λ1u=μ1|u|^(p-2)u+βv, -Δv+λ2v=μ2|v|^(q-2)v+βu, "
        "∫u²=a, ∫v²=b (radial). Subcommands: scan, branches, existence "
        "('qmatmul physics nls scan --help').",
    )
    _add_problem_arguments(parser)
    parser.add_argument(
        "--method",
        choices=[*METHODS, "both"],
        default="both",
        help="solver; 'both' runs the two and compares them (default)",
    )
    parser.add_argument(
        "--check",
        choices=CHECKS,
        default="continuation",
        help="ground-state check: other method's starts and Morse index ('branches'), plus "
        "continuation in β from β/4 and 4β ('continuation', default), or 'none'",
    )
    return parser


def _path_parser(name: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"qmatmul physics nls {name}", description=description)
    _add_problem_arguments(parser)
    parser.add_argument("--vary", choices=PARAMETERS, default="beta", help="scanned parameter")
    parser.add_argument(
        "--values",
        required=True,
        type=values_argument("--values"),
        help="comma-separated values, or START:STOP:COUNT for an even grid",
    )
    return parser


def _scan_parser() -> argparse.ArgumentParser:
    parser = _path_parser(
        "scan", "λ1, λ2 and the energy along a path in β or the masses, with a plot."
    )
    parser.add_argument("--method", choices=METHODS, default="pohozaev")
    return parser


def _branches_parser() -> argparse.ArgumentParser:
    return _path_parser(
        "branches",
        "Every state both methods' starts find along a path, their energies and Morse "
        "indices, and where a method misses the least-energy state.",
    )


def _existence_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul physics nls existence",
        description="The paper's existence theorem tested: the ground state along the mass "
        "of u in N = 2, 3, 4 (decay rate, energy, Morse index) and the Sobolev-critical cases.",
    )
    parser.add_argument("--quick", action="store_true", help="two masses per dimension")
    _add_out(parser)
    return parser


def _problem(args) -> tuple:
    return (args.N, args.p, args.q, args.mu1, args.mu2, args.beta, args.a, args.b)


def save_solution(solution: NLSSolution, out: Path) -> list[Path]:
    """Write the profiles (.npz), the numbers and the check (.json) and a plot (.png)."""
    import numpy as np

    from .plotting import plot_profiles

    out.mkdir(parents=True, exist_ok=True)
    keys = (
        *("N", "p", "q", "mu1", "mu2", "beta", "a", "b", "lambda1", "lambda2", "energy"),
        *("kinetic", "residual", "mass_error", "pohozaev_residual", "method", "start"),
        *("iterations", "decay_rate", "morse_index", "note"),
    )
    numbers = {key: getattr(solution, key) for key in keys}
    np.savez(
        out / "solution.npz",
        r=solution.r,
        u=solution.u,
        v=solution.v,
        weights=solution.weights,
        **{k: v for k, v in numbers.items() if v is not None},
    )
    numbers["grid"] = solution.grid.describe()
    numbers["ground_state_check"] = None if solution.check is None else solution.check.to_dict()
    write_json(out / "solution.json", numbers)
    plot_profiles(solution, out / "profiles.png")
    return [out / "solution.npz", out / "solution.json", out / "profiles.png"]


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
            solution = solve(
                *_problem(args), method=method, refinement=args.refinement, check="none"
            )
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
    for solution in solutions:
        if solution.note:
            print(f"{solution.method}: long tail: {solution.note}")
    checked = []
    if args.check != "none":
        for solution in solutions:
            others = [other for other in solutions if other is not solution]
            verdict = certify_ground_state(
                solution, level=args.check, others=others, refinement=args.refinement
            )
            checked.append(replace(solution, check=verdict))
            print(f"\nground-state check of the {solution.method} state ({args.check}):")
            print(verdict.summary())
        solutions = checked
    lowest = min(item.energy for item in solutions)
    best = next(item for item in solutions if item.energy <= lowest + 1e-9 * max(1, abs(lowest)))
    paths = save_solution(best, args.out)
    print(f"\nsaved: {best.method} state; grid: {best.grid.describe()}")
    print("wrote " + ", ".join(str(path) for path in paths))
    return 0


def _run_scan(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    result = scan(
        *_problem(args),
        vary=args.vary,
        values=args.values,
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


def _run_branches(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    result = branch_map(
        *_problem(args),
        vary=args.vary,
        values=args.values,
        refinement=args.refinement,
        progress=sys.stderr.isatty(),
    )
    result.to_json(args.out / "branches.json")
    figure = result.plot(args.out / "branches.png")
    print(result.table())
    print(f"wrote {args.out / 'branches.json'}, {figure}")
    return 0


def _run_existence(args) -> int:
    from .existence import MASSES, QUICK_MASSES, existence_study, summary_table
    from .plotting import plot_existence

    study = existence_study(QUICK_MASSES if args.quick else MASSES, progress=sys.stderr.isatty())
    path = write_json(args.out / "existence.json", study)
    figure = plot_existence(study, args.out / "existence.png")
    print(summary_table(study))
    print(f"wrote {path}, {figure}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    parsers = {
        None: (_solve_parser, _run_solve),
        "scan": (_scan_parser, _run_scan),
        "branches": (_branches_parser, _run_branches),
        "existence": (_existence_parser, _run_existence),
    }
    make_parser, run = parsers[command]
    return run_cli(make_parser(), run, argv[1:] if command else argv)
