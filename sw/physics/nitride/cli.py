"""``qmatmul physics nitride``: solve one stack (p_s, band diagram, Hall mobility), sweep the
donor tail with and without an IBL, map the IBL's placement and efficiency, or follow the
mobility in temperature.

    qmatmul physics nitride --preset gan-on-aln --donor-tail 5e17,50nm [--ibl 20nm]
    qmatmul physics nitride --sweep [--cap-decay 2nm]
    qmatmul physics nitride --ibl-map
    qmatmul physics nitride --temperatures 20:300:8
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from sw.workloads.common import write_json

from ..common import PhysicsInputError, check_range, run_cli, values_argument
from .model import available_parameter_sets
from .observables import electrostatic_estimate_cm2, hall_mobility, transport_parameters
from .solver import solve
from .structure import (
    DEFAULT_IBL_HEIGHT_NM,
    PRESETS,
    BlockingLayer,
    DonorTail,
    Layer,
    UniformDonors,
    preset,
)
from .sweep import DEFAULT_DECAY_LENGTH_NM, DEFAULT_IBL_THICKNESS_NM, ibl_map, sweep

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
    raise PhysicsInputError(f"{option}: expected a length such as 20nm or 0.02um, got {text!r}")


def parse_donor_tail(text: str) -> tuple[float, float]:
    """'5e17,50nm' -> (5e17 cm^-3, 50 nm), validated by DonorTail."""
    usage = (
        "--donor-tail: expected DENSITY,LENGTH such as 5e17,50nm (density at the nucleation "
        "interface in cm^-3, in [0, 1e22]; decay length in (0, 100000] nm)"
    )
    parts = text.split(",")
    if len(parts) != 2:
        raise PhysicsInputError(f"{usage}, got {text!r}")
    try:
        density = float(parts[0])
        length = parse_length_nm(parts[1], "--donor-tail")
        tail = DonorTail(density, length)
    except ValueError as error:
        raise PhysicsInputError(f"{usage}, got {text!r} ({error})") from None
    return tail.density_cm3, tail.decay_length_nm


def parse_ibl(text: str, transmission: float | None, trapped_active: bool | None) -> BlockingLayer:
    """'20nm' or '20nm@100nm' (thickness, optional height above the nucleation interface)."""
    thickness_text, _, height_text = text.partition("@")
    try:
        thickness = parse_length_nm(thickness_text, "--ibl")
        height = parse_length_nm(height_text, "--ibl") if height_text else DEFAULT_IBL_HEIGHT_NM
    except ValueError:
        raise PhysicsInputError(
            "--ibl: expected THICKNESS[@HEIGHT] such as 20nm or 20nm@100nm (thickness and "
            f"height above the nucleation interface in nm), got {text!r}"
        ) from None
    extra = {} if transmission is None else {"transmission": transmission}
    if trapped_active is not None:
        extra["trapped_active"] = trapped_active
    return BlockingLayer(thickness, height, **extra)  # checks the ranges, naming them


def parse_density_range(text: str) -> np.ndarray:
    """'1e17:3e20:15' -> 15 log-spaced densities."""
    usage = "--sweep-densities: expected LOW:HIGH:COUNT such as 1e17:3e20:15"
    try:
        low, high, count = text.split(":")
        low, high, count = float(low), float(high), int(count)
    except ValueError:
        raise PhysicsInputError(f"{usage}, got {text!r}") from None
    if not (0.0 < low < high <= 1e22 and 2 <= count <= 200):
        raise PhysicsInputError(
            f"{usage} with 0 < LOW < HIGH <= 1e22 cm^-3 and COUNT in [2, 200], got {text!r}"
        )
    return np.logspace(np.log10(low), np.log10(high), count)


def parse_roughness(text: str) -> tuple[float, float]:
    """'0.26,1.5' or '0.26nm,1.5nm' -> (Δ, Λ) in nm."""
    parts = text.split(",")
    if len(parts) != 2:
        raise PhysicsInputError(
            f"--roughness: expected DELTA,LAMBDA such as 0.26nm,1.5nm (step height and "
            f"correlation length), got {text!r}"
        )
    height = check_range("--roughness DELTA (nm)", parse_length_nm(parts[0], "--roughness"), 0.0)
    length = check_range(
        "--roughness LAMBDA (nm)", parse_length_nm(parts[1], "--roughness"), 0.0, low_open=True
    )
    return height, length


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul physics nitride",
        description=(
            "Self-consistent Schrodinger-Poisson solver for polarization-induced 2D hole gases "
            "in GaN/AlN with floating donor tails and impurity blocking layers (IBLs), and "
            "their Hall mobility from the scattering mechanisms. Prints p_s and the mobility "
            "and writes a band diagram; --sweep, --ibl-map and --temperatures write studies."
        ),
    )
    stack = parser.add_argument_group("structure")
    stack.add_argument(
        "--preset", default="gan-on-aln", metavar="NAME", help=f"stack: {', '.join(PRESETS)}"
    )
    stack.add_argument("--cap", metavar="LENGTH", help="override the GaN cap thickness, e.g. 20nm")
    stack.add_argument(
        "--buffer", metavar="LENGTH", help="override the AlN buffer thickness, e.g. 500nm"
    )
    stack.add_argument(
        "--donor-tail",
        metavar="DENSITY,LENGTH",
        help="floating donor tail DENSITY,LENGTH: N0 (cm^-3) at the nucleation interface "
        "and segregation (decay) length, e.g. 5e17,50nm",
    )
    stack.add_argument(
        "--cap-decay",
        metavar="LENGTH",
        help="segregation length of the tail in the cap (default: the buffer's); a short one "
        "piles the floating donors up at the channel",
    )
    stack.add_argument(
        "--uniform-donors", type=float, metavar="CM3", help="background donors (cm^-3)"
    )
    stack.add_argument(
        "--ibl",
        metavar="THICKNESS[@HEIGHT]",
        action="append",
        default=[],
        help="impurity blocking layer THICKNESS[@HEIGHT above the nucleation interface], "
        f"e.g. 20nm or 20nm@100nm (height default {DEFAULT_IBL_HEIGHT_NM:g} nm); repeatable",
    )
    stack.add_argument(
        "--ibl-transmission",
        type=float,
        metavar="T",
        help="fraction of the floating donors that passes an IBL (0..1; efficiency 1 - T)",
    )
    stack.add_argument(
        "--ibl-trapped",
        choices=("active", "inactive"),
        help="donors captured in an IBL stay active donors (default) or become inactive",
    )
    stack.add_argument(
        "--surface-barrier", type=float, metavar="EV", help="E_C - E_F at the surface (eV)"
    )
    solver = parser.add_argument_group("solver and transport")
    solver.add_argument(
        "--temperature", type=float, default=300.0, metavar="K", help="kelvin (default 300)"
    )
    solver.add_argument(
        "--params",
        metavar="SET",
        help=f"material parameter set: {', '.join(available_parameter_sets())}",
    )
    solver.add_argument(
        "--bands", default="hh", metavar="LIST", help="valence bands, e.g. hh or hh,lh,ch"
    )
    solver.add_argument(
        "--mesh-scale", type=float, default=1.0, metavar="S", help="<1 refines the mesh"
    )
    solver.add_argument(
        "--dislocations", type=float, metavar="CM2", help="threading dislocation density"
    )
    solver.add_argument(
        "--roughness", metavar="DELTA,LAMBDA", help="interface roughness height and length"
    )
    studies = parser.add_argument_group("studies")
    studies.add_argument(
        "--sweep",
        action="store_true",
        help="sweep the tail density with and without IBL: p_s, Hall mobility, conductance",
    )
    studies.add_argument(
        "--sweep-densities",
        default="1e17:3e20:15",
        metavar="LOW:HIGH:COUNT",
        help="LOW:HIGH:COUNT, log-spaced (cm^-3)",
    )
    studies.add_argument(
        "--ibl-map",
        action="store_true",
        help="recovery of p_s against the IBL's height and transmission (tail default 1e20,100nm)",
    )
    studies.add_argument(
        "--map-heights",
        type=values_argument("--map-heights"),
        metavar="LIST",
        help="IBL heights (nm) for --ibl-map (default 0:260:14)",
    )
    studies.add_argument(
        "--map-transmissions",
        type=values_argument("--map-transmissions"),
        metavar="LIST",
        help="IBL transmissions for --ibl-map (default 0.5,0.2,0.1,0.03,0.01,1e-3,1e-4)",
    )
    studies.add_argument(
        "--temperatures",
        type=values_argument("--temperatures"),
        metavar="LIST",
        help="Hall mobility and its mechanisms at these temperatures (K), e.g. 20:300:8",
    )
    parser.add_argument(
        "--out",
        default="build/nitride",
        metavar="DIR",
        help="output folder (default build/nitride)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), _run, argv)


def _stack_and_options(args):
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
    cap_decay = parse_length_nm(args.cap_decay, "--cap-decay") if args.cap_decay else None
    if cap_decay is not None and tail is None and not (args.sweep or args.ibl_map):
        raise PhysicsInputError("--cap-decay applies to a donor tail: give --donor-tail too")
    if tail and not (args.sweep or args.ibl_map):
        donors.append(DonorTail(*tail, cap_decay))
    trapped = None if args.ibl_trapped is None else args.ibl_trapped == "active"
    ibls = [parse_ibl(text, args.ibl_transmission, trapped) for text in args.ibl]
    if args.ibl_transmission is not None and not (ibls or args.sweep or args.ibl_map):
        raise PhysicsInputError("--ibl-transmission applies to an IBL: give --ibl (or --sweep) too")
    stack = replace(
        stack,
        layers=tuple(layers),
        donors=tuple(donors),
        blocking_layers=() if (args.sweep or args.ibl_map) else tuple(ibls),
        surface_barrier_eV=args.surface_barrier,
    )
    options = {
        "bands": tuple(b.strip() for b in args.bands.split(",")),
        "mesh_scale": args.mesh_scale,
    }
    transport = {}
    if args.dislocations is not None:
        transport["dislocation_density_cm2"] = check_range(
            "--dislocations", args.dislocations, 0.0, 1e13
        )
    if args.roughness:
        height, length = parse_roughness(args.roughness)
        transport.update(roughness_height_nm=height, roughness_correlation_nm=length)
    return stack, tail, cap_decay, trapped, ibls, options, transport


def _run(args) -> int:
    studies = sum(bool(x) for x in (args.sweep, args.ibl_map, args.temperatures))
    if studies > 1:
        raise PhysicsInputError("give at most one of --sweep, --ibl-map, --temperatures")
    stack, tail, cap_decay, trapped, ibls, options, transport = _stack_and_options(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.sweep:
        return _run_sweep(args, stack, tail, cap_decay, trapped, ibls, options, transport, out)
    if args.ibl_map:
        return _run_ibl_map(args, stack, tail, cap_decay, trapped, ibls, options, out)
    if args.temperatures:
        return _run_temperatures(args, stack, options, transport, out)

    result = solve(stack, T=args.temperature, parameter_set=args.params, **options)
    estimate = electrostatic_estimate_cm2(stack, args.temperature, args.params)
    print(result.summary_table())
    print()
    print(stack.describe())
    print(f"first-order electrostatic estimate (undoped): {estimate:.4g} cm^-2")
    summary = result.to_dict()
    try:
        mobility = hall_mobility(result, transport_parameters(result, **transport))
    except ValueError as error:  # a fully compensated structure has no gas to transport
        print(f"no mobility: {error}")
        summary["mobility"] = None
    else:
        print(mobility.summary())
        summary["mobility"] = mobility.to_dict()
    from .plotting import plot_band_diagram

    figure = plot_band_diagram(result, out / "band_diagram.png")
    write_json(out / "result.json", summary)
    print(f"wrote {figure} and {out / 'result.json'}")
    return 0 if result.convergence.converged else 1


def _one_ibl(ibls, args, trapped) -> BlockingLayer:
    if len(ibls) > 1:
        raise PhysicsInputError("--sweep compares one IBL against none: give at most one --ibl")
    if ibls:
        return ibls[0]
    extra = {} if args.ibl_transmission is None else {"transmission": args.ibl_transmission}
    if trapped is not None:
        extra["trapped_active"] = trapped
    return BlockingLayer(DEFAULT_IBL_THICKNESS_NM, **extra)


def _run_sweep(args, stack, tail, cap_decay, trapped, ibls, options, transport, out) -> int:
    result = sweep(
        stack,
        tail_densities_cm3=parse_density_range(args.sweep_densities),
        decay_length_nm=tail[1] if tail else DEFAULT_DECAY_LENGTH_NM,
        blocking_layer=_one_ibl(ibls, args, trapped),
        T=args.temperature,
        parameter_set=args.params,
        cap_decay_length_nm=cap_decay,
        transport_overrides=transport,
        progress=sys.stderr.isatty(),
        **options,
    )
    print(result.summary())
    figure = result.plot(out / "sweep_ps_vs_donors.png")
    write_json(out / "sweep.json", result.to_dict())
    print(f"wrote {figure} and {out / 'sweep.json'}")
    return 0 if result.all_converged else 1


def _run_ibl_map(args, stack, tail, cap_decay, trapped, ibls, options, out) -> int:
    if ibls:
        raise PhysicsInputError("--ibl-map places the IBL itself: do not give --ibl")
    density, length = tail if tail else (1e20, DEFAULT_DECAY_LENGTH_NM)
    result = ibl_map(
        stack,
        DonorTail(density, length, cap_decay),
        heights_nm=args.map_heights,
        transmissions=args.map_transmissions,
        trapped_active=True if trapped is None else trapped,
        T=args.temperature,
        parameter_set=args.params,
        progress=sys.stderr.isatty(),
        **options,
    )
    print(result.summary())
    figure = result.plot(out / "ibl_map.png")
    write_json(out / "ibl_map.json", result.to_dict())
    print(f"wrote {figure} and {out / 'ibl_map.json'}")
    return 0 if result.converged else 1


def _run_temperatures(args, stack, options, transport, out) -> int:
    from .plotting import plot_mobility_temperature

    rows = []
    print(f"{'T (K)':>7} {'p_s (cm^-2)':>12} {'muH':>8} {'r_H':>6}  limited by")
    for temperature in args.temperatures:
        check_range("--temperatures", temperature, 4.0, 1000.0)
        result = solve(stack, T=temperature, parameter_set=args.params, **options)
        mobility = hall_mobility(result, transport_parameters(result, **transport))
        rows.append(mobility.to_dict())
        print(
            f"{temperature:7.1f} {result.p_s_cm2:12.4g} {mobility.hall_cm2_per_Vs:8.3g} "
            f"{mobility.hall_factor:6.3f}  {mobility.limiting.replace('_', ' ')}"
        )
    figure = plot_mobility_temperature(rows, out / "mobility_vs_temperature.png", stack.name)
    write_json(out / "mobility_vs_temperature.json", {"stack": stack.describe(), "rows": rows})
    print(f"wrote {figure} and {out / 'mobility_vs_temperature.json'}")
    return 0
