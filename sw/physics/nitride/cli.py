"""``qmatmul physics nitride``: solve one stack, or sweep the donor tail with and without IBL."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from .materials import available_parameter_sets
from .mobility import estimate_hall_mobility
from .solver import electrostatic_estimate_cm2, solve
from .structure import (
    DEFAULT_IBL_HEIGHT_NM,
    PRESETS,
    BlockingLayer,
    DonorTail,
    Layer,
    UniformDonors,
    preset,
)
from .sweep import DEFAULT_DECAY_LENGTH_NM, DEFAULT_IBL_THICKNESS_NM, sweep

_LENGTH = re.compile(r"^\s*([0-9.eE+-]+)\s*(nm|um|µm)?\s*$")


def parse_length_nm(text: str, option: str) -> float:
    """'50nm', '50 nm', '0.05um' or a bare number of nm -> float nm."""
    match = _LENGTH.match(text)
    if match:
        try:
            value = float(match.group(1))
        except ValueError:
            value = None
        if value is not None:
            return value * (1000.0 if match.group(2) in ("um", "µm") else 1.0)
    raise ValueError(f"{option}: expected a length such as 20nm or 0.02um, got {text!r}")


def parse_donor_tail(text: str) -> tuple[float, float]:
    """'5e17,50nm' -> (5e17 cm^-3, 50 nm), validated by DonorTail."""
    usage = (
        "--donor-tail: expected DENSITY,LENGTH such as 5e17,50nm (density at the nucleation "
        "interface in cm^-3, in [0, 1e22]; decay length in (0, 100000] nm)"
    )
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"{usage}, got {text!r}")
    try:
        density = float(parts[0])
        length = parse_length_nm(parts[1], "--donor-tail")
        tail = DonorTail(density, length)
    except ValueError as error:
        raise ValueError(f"{usage}, got {text!r} ({error})") from None
    return tail.density_cm3, tail.decay_length_nm


def parse_ibl(text: str, transmission: float | None) -> BlockingLayer:
    """'20nm' or '20nm@100nm' (thickness, optional height above the nucleation interface)."""
    thickness_text, _, height_text = text.partition("@")
    try:
        thickness = parse_length_nm(thickness_text, "--ibl")
        height = parse_length_nm(height_text, "--ibl") if height_text else DEFAULT_IBL_HEIGHT_NM
    except ValueError:
        raise ValueError(
            "--ibl: expected THICKNESS[@HEIGHT] such as 20nm or 20nm@100nm (thickness and "
            f"height above the nucleation interface in nm), got {text!r}"
        ) from None
    extra = {} if transmission is None else {"transmission": transmission}
    return BlockingLayer(thickness, height, **extra)  # checks the ranges, naming them


def parse_density_range(text: str) -> np.ndarray:
    """'1e17:3e20:15' -> 15 log-spaced densities."""
    usage = "--sweep-densities: expected LOW:HIGH:COUNT such as 1e17:3e20:15"
    try:
        low, high, count = text.split(":")
        low, high, count = float(low), float(high), int(count)
    except ValueError:
        raise ValueError(f"{usage}, got {text!r}") from None
    if not (0.0 < low < high <= 1e22 and 2 <= count <= 200):
        raise ValueError(
            f"{usage} with 0 < LOW < HIGH <= 1e22 cm^-3 and COUNT in [2, 200], got {text!r}"
        )
    return np.logspace(np.log10(low), np.log10(high), count)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul physics nitride",
        description=(
            "Self-consistent Schrodinger-Poisson solver for polarization-induced 2D hole gases "
            "in GaN/AlN with floating donor tails and impurity blocking layers (IBLs). "
            "Prints p_s and writes a band diagram; --sweep writes the p_s-vs-impurity comparison."
        ),
    )
    parser.add_argument(
        "--preset", default="gan-on-aln", metavar="NAME", help=f"stack: {', '.join(PRESETS)}"
    )
    parser.add_argument("--cap", metavar="LENGTH", help="override the GaN cap thickness, e.g. 20nm")
    parser.add_argument(
        "--buffer", metavar="LENGTH", help="override the AlN buffer thickness, e.g. 500nm"
    )
    parser.add_argument(
        "--donor-tail",
        metavar="DENSITY,LENGTH",
        help="floating donor tail DENSITY,LENGTH: N0 (cm^-3) at the nucleation interface "
        "and decay length, e.g. 5e17,50nm",
    )
    parser.add_argument(
        "--uniform-donors", type=float, metavar="CM3", help="background donors (cm^-3)"
    )
    parser.add_argument(
        "--ibl",
        metavar="THICKNESS[@HEIGHT]",
        action="append",
        default=[],
        help="impurity blocking layer THICKNESS[@HEIGHT above the nucleation interface], "
        f"e.g. 20nm or 20nm@100nm (height default {DEFAULT_IBL_HEIGHT_NM:g} nm); repeatable",
    )
    parser.add_argument(
        "--ibl-transmission",
        type=float,
        metavar="F",
        help="fraction of the tail passing an IBL (0..1)",
    )
    parser.add_argument(
        "--surface-barrier", type=float, metavar="EV", help="E_C - E_F at the surface (eV)"
    )
    parser.add_argument(
        "--temperature", type=float, default=300.0, metavar="K", help="kelvin (default 300)"
    )
    parser.add_argument(
        "--params",
        metavar="SET",
        help=f"material parameter set: {', '.join(available_parameter_sets())}",
    )
    parser.add_argument(
        "--bands", default="hh", metavar="LIST", help="valence bands, e.g. hh or hh,lh,ch"
    )
    parser.add_argument(
        "--mesh-scale", type=float, default=1.0, metavar="S", help="<1 refines the mesh"
    )
    parser.add_argument(
        "--intrinsic-mobility",
        type=float,
        metavar="CM2_PER_VS",
        help="intrinsic term of the mobility model (cm^2/Vs)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="sweep the tail density with and without IBL and plot the spread of p_s",
    )
    parser.add_argument(
        "--sweep-densities",
        default="1e17:3e20:15",
        metavar="LOW:HIGH:COUNT",
        help="LOW:HIGH:COUNT, log-spaced (cm^-3)",
    )
    parser.add_argument(
        "--out",
        default="build/nitride",
        metavar="DIR",
        help="output folder (default build/nitride)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args)
    except ValueError as error:
        parser.error(str(error))
    return 2  # not reached: parser.error exits


def _run(args) -> int:
    stack = preset(args.preset)
    layers = list(stack.layers)
    if args.cap:
        layers[0] = Layer(layers[0].material, parse_length_nm(args.cap, "--cap"))
    if args.buffer:
        layers[-1] = Layer(layers[-1].material, parse_length_nm(args.buffer, "--buffer"))
    donors = []
    if args.uniform_donors is not None:
        donors.append(UniformDonors(args.uniform_donors))
    tail = parse_donor_tail(args.donor_tail) if args.donor_tail else None
    if tail and not args.sweep:
        donors.append(DonorTail(*tail))
    ibls = [parse_ibl(text, args.ibl_transmission) for text in args.ibl]
    if args.ibl_transmission is not None and not (ibls or args.sweep):
        raise ValueError("--ibl-transmission applies to an IBL: give --ibl (or --sweep) too")
    stack = replace(
        stack,
        layers=tuple(layers),
        donors=tuple(donors),
        blocking_layers=() if args.sweep else tuple(ibls),
        surface_barrier_eV=args.surface_barrier,
    )
    options = {
        "bands": tuple(b.strip() for b in args.bands.split(",")),
        "mesh_scale": args.mesh_scale,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.sweep:
        return _run_sweep(args, stack, tail, ibls, options, out)

    result = solve(stack, T=args.temperature, parameter_set=args.params, **options)
    mobility = estimate_hall_mobility(result, args.intrinsic_mobility)
    estimate = electrostatic_estimate_cm2(stack, args.temperature, args.params)
    print(result.summary_table())
    print()
    print(stack.describe())
    print(f"first-order electrostatic estimate (undoped): {estimate:.4g} cm^-2")
    print(mobility.summary())
    from .plotting import plot_band_diagram

    figure = plot_band_diagram(result, out / "band_diagram.png")
    summary = result.to_dict()
    summary["mobility_model"] = {
        "intrinsic_cm2_per_Vs": mobility.intrinsic_cm2_per_Vs,
        "ionized_impurity_cm2_per_Vs": mobility.ionized_impurity_cm2_per_Vs,
        "total_cm2_per_Vs": mobility.total_cm2_per_Vs,
    }
    (out / "result.json").write_text(json.dumps(summary, indent=1, default=_jsonable) + "\n")
    print(f"wrote {figure} and {out / 'result.json'}")
    return 0 if result.convergence.converged else 1


def _run_sweep(args, stack, tail, ibls, options, out: Path) -> int:
    if len(ibls) > 1:
        raise ValueError("--sweep compares one IBL against none: give at most one --ibl")
    ibl = ibls[0] if ibls else BlockingLayer(DEFAULT_IBL_THICKNESS_NM)
    if args.ibl_transmission is not None and not ibls:
        ibl = BlockingLayer(DEFAULT_IBL_THICKNESS_NM, transmission=args.ibl_transmission)
    result = sweep(
        stack,
        tail_densities_cm3=parse_density_range(args.sweep_densities),
        decay_length_nm=tail[1] if tail else DEFAULT_DECAY_LENGTH_NM,
        blocking_layer=ibl,
        T=args.temperature,
        parameter_set=args.params,
        intrinsic_mobility_cm2_per_Vs=args.intrinsic_mobility,
        progress=sys.stderr.isatty(),
        **options,
    )
    print(result.summary())
    figure = result.plot(out / "sweep_ps_vs_donors.png")
    (out / "sweep.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    print(f"wrote {figure} and {out / 'sweep.json'}")
    return 0 if result.all_converged else 1


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__}")
