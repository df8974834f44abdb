"""Toggle counts of small clocked circuits: the counter check and the calibration circuit.

`count_toggles` builds an Amaranth component (inputs: its clock and reset only) with
Verilator's toggle coverage, clocks it for a number of cycles after one reset cycle and
returns its physical nets' toggles (`sw.energy.toggles.keep_physical`).
`MathCircuit` is the circuit of the iCE40 measurement's "math" rows (two 8-bit counters
stepping by 3 and 5, multiplied every cycle), whose RTL toggles per cycle set the
``net_toggle`` coefficient (`sw.energy.coefficients.calibrate_net_toggle`).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from .coefficients import MATH_COUNTER_STEPS
from .toggles import NetToggles, keep_physical, read_coverage

CLOCKED_HARNESS = Path(__file__).resolve().parent / "clocked_harness.cpp"


class Counter(wiring.Component):
    """An n-bit up-counter: bit i toggles floor(steps / 2**i) times in ``steps`` cycles."""

    def __init__(self, width: int):
        if not 1 <= width <= 64:
            raise ValueError(f"counter width must be in [1, 64], got {width}")
        super().__init__({"count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.count.eq(self.count + 1)
        return m


class MathCircuit(wiring.Component):
    """Two 8-bit counters (+3, +5 per cycle) and their 16-bit product, as measured."""

    def __init__(self):
        super().__init__({"product": Out(16)})

    def elaborate(self, platform):
        m = Module()
        first, second = Signal(8), Signal(8)
        m.d.sync += [
            first.eq(first + MATH_COUNTER_STEPS[0]),
            second.eq(second + MATH_COUNTER_STEPS[1]),
        ]
        m.d.comb += self.product.eq(first * second)
        return m


def count_toggles(name: str, component, cycles: int) -> list[NetToggles]:
    """Toggles of ``component``'s physical nets over ``cycles`` clock cycles after reset."""
    from sim.runner import build_executable

    from .activity import COVERAGE_ARGS

    if cycles < 1:
        raise ValueError(f"cycles must be at least 1, got {cycles}")
    binary = build_executable(
        f"toggles-{name}", component, CLOCKED_HARNESS, extra_args=COVERAGE_ARGS
    )
    points = run_clocked(binary, cycles, read_coverage)
    return keep_physical(points, (binary.parent / "top.v").read_text())


def run_clocked(binary: Path, cycles: int, read):
    """Run a `CLOCKED_HARNESS` model for ``cycles`` clock cycles; ``read(path)`` of the
    coverage file it writes."""
    with tempfile.TemporaryDirectory(prefix="qmatmul-toggles-") as folder:
        coverage = Path(folder) / "coverage.dat"
        subprocess.run(
            [str(binary), f"+cycles={cycles}", f"+coverage_file={coverage}"],
            check=True,
            capture_output=True,
        )
        return read(coverage)


def math_toggles_per_cycle(cycles: int = 4096) -> float:
    """RTL net toggles per cycle of `MathCircuit`, the reset cycle left out."""
    points = count_toggles("math", MathCircuit(), cycles)
    return sum(p.toggles for p in points if not p.path.endswith(".rst")) / cycles
