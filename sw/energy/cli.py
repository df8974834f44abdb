"""`qmatmul energy`: switching activity and energy per inference of the digits MLP.

Without ``--board``: for each weight mode, the trained 64-64-10 digits MLP (the demo's
training and cache, `sw.workloads.demo.trained_program`) runs through a toggle-counting
build of the simulated device (`sw.energy.activity`) at two batch sizes; the difference
is one inference's toggles per block, device cycles and link bytes. The estimate
(`sw.energy.model`) turns them into energy per inference with its band (core alone, and
the system with the UART link at the board's baud), and GOPS/W. Writes a table,
``results.json`` and ``energy.png``.

With ``--board``: measures a real board (`sw.energy.board`): idle vs on-chip repeats of
one product, with entered currents or an INA219/INA226 over I2C.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

DEFAULT_OUT = Path("build/energy")
MODES = ("uniform", "sp1", "sp2", "codebook")
ICEBREAKER_CLOCK_MHZ = 24.0  # the iCEBreaker's core clock (sw.device.configs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qmatmul energy", description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=("digits",), default="digits")
    parser.add_argument("--mode", default=",".join(MODES), help="weight modes, comma-separated")
    parser.add_argument("--bits", type=int, default=4, help="weight bits (2..4 for sp1)")
    parser.add_argument("--device", default="sim", help="simulated device (default sim)")
    parser.add_argument("--images", type=int, default=48, help="images of the larger batch")
    parser.add_argument("--base-images", type=int, default=16, help="images of the smaller batch")
    parser.add_argument("--clock-mhz", type=float, default=ICEBREAKER_CLOCK_MHZ)
    parser.add_argument("--baud", type=float, default=3_000_000, help="the link's baud rate")
    parser.add_argument("--family", choices=("ice40", "ecp5"), default="ice40")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--json", type=Path, help="results JSON (default OUT/results.json)")
    parser.add_argument("--figure", type=Path, help="PNG (default OUT/energy.png)")
    parser.add_argument("--cache", type=Path, default=Path("build/cache"), help="model cache")
    parser.add_argument("--quick", action="store_true", help="batches of 4 and 12 images")
    board = parser.add_argument_group("a real board")
    parser.add_argument(
        "--netlist", action="store_true",
        help="also count toggles on the synth_ice40 netlist of single-mode 4x4 designs",
    )  # fmt: skip
    board.add_argument("--board", help="measure a board on this serial port (serial:PORT)")
    board.add_argument("--repeat", type=int, default=50_000, help="on-chip repeats (1..65535)")
    board.add_argument("--current-ma", help="measured currents 'IDLE,ACTIVE' in mA")
    board.add_argument("--i2c", help="shunt monitor 'ina219|ina226:BUS[:ADDR[:OHMS]]'")
    board.add_argument("--volts", type=float, default=1.2, help="voltage of the measured rail")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.base_images, args.images = 4, 12
    if not 1 <= args.base_images < args.images:
        parser.error(
            f"need 1 <= --base-images < --images, got {args.base_images} and {args.images}"
        )
    if args.clock_mhz <= 0 or args.baud <= 0:
        parser.error("--clock-mhz and --baud must be positive")
    if args.board:
        return run_board(args)
    return run_estimate(args)


# ---- the estimate ----------------------------------------------------------------------------


def coefficient_table(family: str) -> dict:
    """The family's coefficients, ``net_toggle`` calibrated on the measured math circuit."""
    from .circuits import math_toggles_per_cycle
    from .coefficients import ICE40_UP, calibrate_net_toggle, ecp5_uncalibrated

    table = calibrate_net_toggle(ICE40_UP, math_toggles_per_cycle())
    return table if family == "ice40" else ecp5_uncalibrated(table)


def mode_activity(program, dataset, device: str, sizes: tuple[int, int], ref, **options):
    """One inference's activity (the difference of two batch sizes), checked against ref;
    ``options`` go to `sw.energy.activity.measure` (another binary, another count)."""
    from .activity import measure

    runs = []
    for size in sizes:
        images = dataset.x_test[:size]
        expected, _ = program.run(ref, images, measure_cycles=False)

        def work(accelerator, images=images, expected=expected):
            outputs, cycles = program.run(accelerator, images, measure_cycles=True)
            if not np.array_equal(outputs, expected):
                raise RuntimeError("the toggle-counting device disagrees with ref")
            return sum(cycles.values())

        runs.append(measure(device, work, **options))
    small, large = runs
    return large.minus(small).per(sizes[1] - sizes[0])


# The PE block a mode does not use: a design that decodes every mode (``sim``) still
# switches it, a design built for the mode would not have it.
UNUSED_PE = {"uniform": "pe_shift_add", "codebook": "pe_shift_add", "spx": "pe_multiplier"}


def devices_for(device: str, schemes) -> dict:
    """Scheme -> simulated device: ``device`` itself, or for a board name its build for
    each weight mode (schemes the board has no build for are left out with a note)."""
    from sw.device.configs import BOARD_DEVICES
    from sw.device.configs import device as check_device
    from sw.workloads.digits import why_not_decoded

    if device not in BOARD_DEVICES:
        check_device(device)  # an unknown name fails here
        return {scheme: device for scheme in schemes}
    board = BOARD_DEVICES[device]
    chosen = {}
    for scheme in schemes:
        if scheme.weight_mode not in board.modes:
            print(f"note: {scheme.label} left out: {device} has no {scheme.weight_mode} build")
            continue
        # The check the digits workload makes (a fixed SP2 decoder has no SP1).
        problem = why_not_decoded(scheme, board.modes[scheme.weight_mode].core, act_bits=8)
        if problem is not None:
            print(f"note: {scheme.label} left out: {problem}")
            continue
        chosen[scheme] = board.config_name(scheme.weight_mode)
    if not chosen:
        raise ValueError(f"none of the modes asked for has a {device} build")
    return chosen


def mode_row(scheme, program, float_accuracy, dataset, device, args, table, ref) -> dict:
    """One mode's activity per inference and its energy estimates."""
    from .activity import build_toggle_simulator, design_verilog
    from .model import Workload, estimate
    from .toggles import CORE_BLOCKS, register_bits

    clock_hz = args.clock_mhz * 1e6
    flip_flops = register_bits(design_verilog(build_toggle_simulator(device)))
    outputs, _ = program.run(ref, dataset.x_test, measure_cycles=False)
    accuracy = float(np.mean(outputs.argmax(axis=1) == dataset.y_test))
    activity = mode_activity(program, dataset, device, (args.base_images, args.images), ref)
    macs = sum(layer["macs_per_sample"] for layer in program.summary())
    unused = activity.blocks[UNUSED_PE[scheme.weight_mode]]
    core_built = sum(activity.blocks[b] for b in CORE_BLOCKS)
    system_built = sum(activity.blocks.values())

    def both(core_toggles, system_toggles):
        core = Workload(core_toggles, activity.run_cycles, flip_flops, 0.0, macs)
        system = Workload(
            system_toggles, activity.run_cycles, flip_flops, activity.link_bytes, macs
        )
        return {
            "core": estimate(core, table, clock_hz=clock_hz, baud=args.baud),
            "system": estimate(system, table, clock_hz=clock_hz, baud=args.baud, board=True),
        }

    return {
        "mode": scheme.name,
        "device": device,
        "flip_flops": flip_flops,
        "accuracy": accuracy,
        "float_accuracy": float_accuracy,
        "macs_per_inference": macs,
        "toggles_per_inference": activity.blocks,
        "unused_pe_block": UNUSED_PE[scheme.weight_mode],
        "core_toggles_per_inference": core_built - unused,
        "core_toggles_as_built": core_built,
        "run_cycles_per_inference": activity.run_cycles,
        "clocked_cycles_per_inference": activity.clocked_cycles,
        "link_bytes_per_inference": activity.link_bytes,
        # Headline: the mode's own datapath (the unused PE kind left out).
        **both(core_built - unused, system_built - unused),
        "as_built": both(core_built, system_built),
    }


def run_estimate(args) -> int:
    import torch

    from sw.data import load_digits_dataset
    from sw.quant import WeightScheme
    from sw.workloads.backends import open_backend
    from sw.workloads.common import format_table, write_json
    from sw.workloads.demo import trained_program
    from sw.workloads.digits import TrainConfig

    torch.set_num_threads(1)
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(f"--mode must name some of {', '.join(MODES)}; got {args.mode!r}")
    schemes = devices_for(args.device, [WeightScheme(mode, args.bits) for mode in modes])
    table = coefficient_table(args.family)
    dataset = load_digits_dataset()
    if args.images > len(dataset.y_test):
        raise ValueError(f"--images must be at most the {len(dataset.y_test)} test images")
    config = TrainConfig()
    rows, left_out = [], {}
    start = time.perf_counter()
    for scheme, device in tqdm(schemes.items(), desc="modes", unit="mode"):
        program, float_accuracy = trained_program(config, dataset, scheme, args.cache, False)
        with open_backend(f"ref:{device}") as ref:
            try:
                row = mode_row(scheme, program, float_accuracy, dataset, device, args, table, ref)
            except ValueError as error:
                if device == args.device:
                    raise
                # A board's build may refuse the program (e.g. 18-bit accumulators).
                print(f"note: {scheme.label} left out on {device}: {error}")
                left_out[scheme.name] = str(error)
                continue
        rows.append(row)
    if not rows:
        raise ValueError(f"no mode ran on {args.device}: {left_out}")
    netlist = netlist_rows(args, list(schemes), dataset, config) if args.netlist else None
    results = {
        "network": "digits 64-64-10, 8-bit activations",
        "netlist": netlist,
        "device": args.device,
        "clock_hz": args.clock_mhz * 1e6,
        "baud": args.baud,
        "family": args.family,
        "batch_sizes": [args.base_images, args.images],
        "left_out": left_out,
        "coefficients": {name: vars(c) for name, c in table.items()},
        "multiply_view": multiply_view(rows, table),
        "modes": rows,
        "seconds": time.perf_counter() - start,
    }
    out_json = args.json or args.out / "results.json"
    figure = args.figure or args.out / "energy.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, figure, netlist["modes"] if netlist else None)
    results["figure"] = str(figure)
    results["findings"] = findings(rows, results["multiply_view"])
    write_json(out_json, results)
    print(
        f"energy per inference, digits MLP on {args.device}, {args.clock_mhz:g} MHz ({args.family})"
    )
    print(format_table(*summary_table(rows)))
    for line in results["findings"]:
        print(line)
    if netlist is not None:
        print("\non the synth_ice40 netlist (whole device, single-mode 4x4 designs):")
        print(format_table(*netlist_table(netlist["modes"])))
    print(f"wrote {out_json}\nwrote {figure}")
    return 0


def netlist_rows(args, schemes, dataset, config) -> dict:
    """Per mode, on a 4x4 device that decodes that mode only (`single_mode_params`),
    synthesized for iCE40: cell toggles per inference and the energy with the netlist
    coefficients (`calibrate_cells`)."""
    from functools import partial

    from sw.workloads.backends import open_backend
    from sw.workloads.demo import trained_program

    from .coefficients import calibrate_cells
    from .model import Workload, estimate
    from .netlist import (
        build_netlist_simulator,
        flip_flop_cells,
        math_cell_toggles,
        single_mode_params,
    )

    calibration = math_cell_toggles()
    table = calibrate_cells(coefficient_table(args.family), calibration["lut"], calibration["dsp"])
    rows = []
    for scheme in tqdm(schemes, desc="netlist modes", unit="mode"):
        binary, netlist = build_netlist_simulator(single_mode_params(scheme.weight_mode))
        program, _ = trained_program(config, dataset, scheme, args.cache, False)
        with open_backend("ref:sim") as ref:
            count = partial(count_cells, netlist=netlist)
            activity = mode_activity(
                program, dataset, "sim", (args.base_images, args.images), ref,
                binary=binary, count=count,
            )  # fmt: skip
        macs = sum(layer["macs_per_sample"] for layer in program.summary())
        work = Workload(
            sum(activity.blocks.values()), activity.run_cycles, flip_flop_cells(netlist),
            0.0, macs, cell_toggles=activity.blocks,
        )  # fmt: skip
        rows.append(
            {
                "mode": scheme.name,
                "design": f"4x4 {scheme.weight_mode} only, K<=64, 64 channels, synth_ice40 -dsp",
                "flip_flops": work.flip_flops,
                "cell_toggles_per_inference": activity.blocks,
                "run_cycles_per_inference": activity.run_cycles,
                "device": estimate(work, table, clock_hz=args.clock_mhz * 1e6, baud=args.baud),
            }
        )
    return {
        "calibration_cell_toggles_per_cycle": calibration,
        "coefficients": {
            name: vars(table[name])
            for name in ("cell_toggle", "dsp_output_toggle", "bram_read_toggle")
        },
        "modes": rows,
    }


def count_cells(coverage, netlist: str) -> tuple[dict, dict]:
    """`measure`'s count for a netlist model: toggles per cell class (no per-block bits)."""
    from .netlist import cell_toggles

    return cell_toggles(coverage, netlist), {}


def netlist_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    headers = ["mode", "LUT", "carry", "FF", "DSP", "BRAM", "FFs", "device nJ (band)"]
    lines = []
    for row in rows:
        toggles, energy = row["cell_toggles_per_inference"], row["device"]["energy_j"]
        lines.append(
            [row["mode"], *(f"{toggles[c]:.0f}" for c in ("lut", "carry", "ff", "dsp", "bram")),
             row["flip_flops"],
             f"{energy['value'] * 1e9:.1f} ({energy['low'] * 1e9:.1f}-{energy['high'] * 1e9:.1f})"]
        )  # fmt: skip
    return headers, lines


BLOCK_ORDER = (
    "decode", "pe_multiplier", "pe_shift_add", "pe_operands", "accumulators", "drain_requant",
    "buffers", "control", "protocol", "other",
)  # fmt: skip


def summary_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    headers = ["mode", "acc %", "core toggles", "PE toggles", "cycles", "core nJ (band)",
               "system uJ (band)", "clock share", "core GOPS/W"]  # fmt: skip
    lines = []
    for row in rows:
        core, system = row["core"], row["system"]
        ce, se = core["energy_j"], system["energy_j"]
        lines.append(
            [
                row["mode"],
                f"{100 * row['accuracy']:.2f}",
                f"{row['core_toggles_per_inference']:.0f}",
                f"{pe_toggles(row):.0f}",
                f"{row['run_cycles_per_inference']:.1f}",
                f"{ce['value'] * 1e9:.1f} ({ce['low'] * 1e9:.1f}-{ce['high'] * 1e9:.1f})",
                f"{se['value'] * 1e6:.2f} ({se['low'] * 1e6:.2f}-{se['high'] * 1e6:.2f})",
                f"{core['clock_share']:.2f}",
                f"{core['gops_per_watt']['value']:.1f}",
            ]
        )
    return headers, lines


def pe_toggles(row: dict) -> float:
    """PE-datapath toggles of the mode's own datapath (the unused PE kind left out)."""
    from .toggles import PE_BLOCKS

    blocks = row["toggles_per_inference"]
    return sum(blocks[b] for b in PE_BLOCKS if b != row["unused_pe_block"])


def multiply_view(rows: list[dict], table: dict) -> dict:
    """The measured LUT-vs-DSP 8x8 multiply difference over one inference's MACs, beside
    the clock-tree floor over its cycles: how much a cheaper multiply can save at most."""
    lut, dsp = table["mult8x8_lut"].value, table["mult8x8_dsp"].value
    clock = table["clock_per_cycle"].value
    return {
        row["mode"]: {
            "lut_minus_dsp_multiply_nj": row["macs_per_inference"] * (lut - dsp) * 1e-3,
            "clock_floor_nj": row["run_cycles_per_inference"] * clock * 1e-3,
        }
        for row in rows
    }


def findings(rows: list[dict], multiplies: dict) -> list[str]:
    """SP2 against uniform, and the clock floor, in words."""
    lines = []
    by_mode = {row["mode"].split("-")[0]: row for row in rows}
    if "sp2" in by_mode and "uniform" in by_mode:
        sp2, uniform = by_mode["sp2"], by_mode["uniform"]
        pe = pe_toggles(sp2) / pe_toggles(uniform)
        core = sp2["core_toggles_per_inference"] / uniform["core_toggles_per_inference"]
        energy = sp2["core"]["energy_j"]["value"] / uniform["core"]["energy_j"]["value"]
        lines.append(
            f"SP2 vs uniform (accuracy {100 * sp2['accuracy']:.2f}% vs "
            f"{100 * uniform['accuracy']:.2f}%): PE-datapath toggles x{pe:.3f}, core toggles "
            f"x{core:.3f}, core energy x{energy:.3f} (central coefficients)"
        )
    for row in rows:
        view = multiplies[row["mode"]]
        if view["clock_floor_nj"] > view["lut_minus_dsp_multiply_nj"]:
            lines.append(
                f"{row['mode']}: the clock-tree floor ({view['clock_floor_nj']:.1f} nJ) exceeds "
                f"what moving every multiply between LUTs and DSPs changes "
                f"({view['lut_minus_dsp_multiply_nj']:.1f} nJ)"
            )
    return lines


def plot(rows: list[dict], path: Path, netlist: list[dict] | None = None) -> None:
    from sw.workloads.common import pyplot

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    modes = [row["mode"] for row in rows]
    bottom = np.zeros(len(rows))
    for block in BLOCK_ORDER:
        values = np.array([row["toggles_per_inference"].get(block, 0.0) for row in rows])
        left.bar(modes, values, bottom=bottom, label=block)
        bottom += values
    left.set_ylabel("net toggles per inference")
    left.set_title("RTL toggles by block, as built (every PE kind switches)", fontsize=10)
    left.legend(fontsize=7, ncols=2)
    series = [("core (RTL)", [row["core"] for row in rows], "tab:blue")]
    if netlist is not None and [r["mode"] for r in netlist] == modes:
        series.append(("device (netlist)", [r["device"] for r in netlist], "tab:green"))
    series.append(("system with link (RTL)", [row["system"] for row in rows], "tab:orange"))
    width = 0.8 / len(series)
    for index, (label, estimates, color) in enumerate(series):
        value = np.array([e["energy_j"]["value"] for e in estimates]) * 1e9
        low = np.array([e["energy_j"]["low"] for e in estimates]) * 1e9
        high = np.array([e["energy_j"]["high"] for e in estimates]) * 1e9
        x = np.arange(len(rows)) + (index - (len(series) - 1) / 2) * width
        right.bar(x, value, width=width, color=color, label=label)
        right.errorbar(x, value, yerr=[value - low, high - value], fmt="none", color="black")
    right.set_yscale("log")
    right.set_xticks(np.arange(len(rows)), modes)
    right.set_ylabel("nJ per inference (log)")
    right.set_title("estimated energy per inference, band = coefficients' bands", fontsize=10)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- a real board ----------------------------------------------------------------------------


def parse_sensor(text: str):
    from .board import MeasurementError, ShuntSensor

    parts = text.split(":")
    try:
        kind, bus = parts[0], int(parts[1])
        address = int(parts[2], 0) if len(parts) > 2 else 0x40
        ohms = float(parts[3]) if len(parts) > 3 else 0.1
    except (IndexError, ValueError) as error:
        raise MeasurementError(
            "--i2c must be 'ina219|ina226:BUS[:ADDR[:OHMS]]' (e.g. ina219:1:0x40:0.1), "
            f"got {text!r}"
        ) from error
    return ShuntSensor(kind, bus, address, ohms)


def run_board(args) -> int:
    from sw.driver import Accelerator
    from sw.kernel.random_layer import random_product
    from sw.workloads.common import write_json

    from .board import MeasurementError, measure_board, parse_currents

    if not args.board.startswith("serial:"):
        raise MeasurementError(f"--board must be a serial target 'serial:PORT', got {args.board!r}")
    currents = parse_currents(args.current_ma) if args.current_ma else None
    sensor = parse_sensor(args.i2c) if args.i2c else None
    if currents is None and sensor is None:
        currents = parse_currents(input("measured currents 'IDLE,ACTIVE' in mA: "))
    with Accelerator.open(args.board) as accelerator:
        info = accelerator.info
        mode = info.weight_modes[0]
        product = random_product(
            np.random.default_rng(0), info.m_max, info.k_max, info.cols, mode=mode
        )
        result = measure_board(
            accelerator, product.spec, product.codes, product.x,
            repeats=args.repeat, volts=args.volts, currents=currents, sensor=sensor,
        )  # fmt: skip
    out = args.json or args.out / "board.json"
    write_json(out, {"board": args.board, "mode": mode, **result.as_dict()})
    print(f"energy per product above idle: {result.energy_per_product_j * 1e9:.2f} nJ; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
