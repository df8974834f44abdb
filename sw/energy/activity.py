"""Switching activity of the simulated device, per block, for a workload run through it.

`ToggleCountingDevice` is the ``sim`` device (`sim.device.SimulatedDevice`, the board's
RTL in Verilator behind a pseudo-terminal) built with ``--coverage-toggle`` into its own
build directory (the normal ``sim`` models are untouched); when it stops it writes every
net's toggle count. `measure` runs a function against it and returns the toggles per
block (`sw.energy.toggles`). Counts cover everything the device did, from reset: to get
one inference, run two batch sizes and take the difference (`per_inference`).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sim.device import HARNESS, SimulatedDevice

from .toggles import BLOCK_PATTERNS, classify, keep_physical, read_coverage

TOGGLE_HARNESS = Path(__file__).resolve().parent / "toggle_harness.cpp"
# Wide signals (a 12x12 array's operand beat is ~150 bits) are counted too.
COVERAGE_ARGS = ("--coverage-toggle", "--coverage-max-width", "4096")


def build_toggle_simulator(device_name: str) -> Path:
    """The toggle-counting harness binary for a named device (built on first use)."""
    from hdl.top import Top
    from sim.runner import build_executable
    from sw.device.configs import device

    params = device(device_name)
    # The wrapper includes the ordinary harness: a change to either rebuilds.
    harness_digest = hashlib.sha256(HARNESS.read_bytes()).hexdigest()[:16]
    return build_executable(
        f"device-{device_name}-toggles",
        lambda: Top(params),
        TOGGLE_HARNESS,
        family=params.family,
        key=(params, harness_digest),
        extra_args=COVERAGE_ARGS,
    )


def design_verilog(binary: Path) -> str:
    """The Verilog the toggle model was built from (beside its binary)."""
    path = Path(binary).parent / "top.v"
    if not path.is_file():
        raise FileNotFoundError(f"the Verilog of the toggle model ({path}) is missing")
    return path.read_text()


class ToggleCountingDevice(SimulatedDevice):
    """A ``sim`` device that writes its toggle counts to ``coverage_file`` when stopped;
    ``binary`` is another toggle-counting build to run (the netlist's) instead."""

    def __init__(self, device_name: str, coverage_file: Path, binary: Path | None = None):
        super().__init__(device_name)
        self.coverage_file = Path(coverage_file)
        self.binary = binary

    def command(self) -> list[str]:
        binary = self.binary or build_toggle_simulator(self.device_name)
        return [str(binary), f"+coverage_file={self.coverage_file}"]


def rtl_blocks(device_name: str, patterns=None):
    """Counting for the RTL model: toggles per block of `BLOCK_PATTERNS`."""

    def count(coverage: Path) -> tuple[dict, dict]:
        verilog = design_verilog(build_toggle_simulator(device_name))
        points = keep_physical(read_coverage(coverage), verilog)
        totals = classify(points, patterns or BLOCK_PATTERNS)
        return (
            {block: value["toggles"] for block, value in totals.items()},
            {block: value["bits"] for block, value in totals.items()},
        )

    return count


@dataclass
class Activity:
    """What a run did: toggles per block (net transitions), the device's run cycles (its
    counters), the cycles the simulator clocked (every cycle with work, the link's too),
    and the bytes that crossed the link both ways."""

    blocks: dict[str, float]
    bits: dict[str, int]
    run_cycles: float
    clocked_cycles: float
    link_bytes: float

    def minus(self, other: Activity) -> Activity:
        return Activity(
            {b: self.blocks[b] - other.blocks[b] for b in self.blocks},
            self.bits,
            self.run_cycles - other.run_cycles,
            self.clocked_cycles - other.clocked_cycles,
            self.link_bytes - other.link_bytes,
        )

    def per(self, count: float) -> Activity:
        return Activity(
            {b: t / count for b, t in self.blocks.items()},
            self.bits,
            self.run_cycles / count,
            self.clocked_cycles / count,
            self.link_bytes / count,
        )


class CountingPort:
    """A serial port that counts the bytes written to it and read from it."""

    def __init__(self, port):
        self._port = port
        self.bytes = 0

    def write(self, data):
        self.bytes += len(data)
        return self._port.write(data)

    def read(self, size=1):
        data = self._port.read(size)
        self.bytes += len(data)
        return data

    def __getattr__(self, name):
        return getattr(self._port, name)


def measure(
    device_name: str, work, *, binary: Path | None = None, count=None, timeout: float = 60.0
) -> Activity:
    """Open a toggle-counting ``sim:<device_name>`` (or ``binary``), call
    ``work(accelerator)`` (which returns the device cycles it counted), close it and
    read the counts: ``count(coverage_path) -> (toggles, bits)`` per block or cell class
    (default: the RTL blocks, `rtl_blocks`)."""
    from sw.driver.accelerator import Accelerator, SerialBackend

    count = count or rtl_blocks(device_name)
    with tempfile.TemporaryDirectory(prefix="qmatmul-toggles-") as folder:
        coverage = Path(folder) / "coverage.dat"
        simulated = ToggleCountingDevice(device_name, coverage, binary)
        link = simulated.connect(timeout=timeout)
        port = link.port = CountingPort(link.port)
        accelerator = Accelerator(SerialBackend(link), f"sim:{device_name} (toggle counting)")
        try:
            cycles = int(work(accelerator))
        finally:
            accelerator.close()  # stops the simulator, which writes the counts
        if simulated.process is not None and simulated.process.returncode not in (0, None):
            raise RuntimeError(
                f"the toggle-counting simulator exited with {simulated.process.returncode}"
            )
        clock = [p for p in read_coverage(coverage) if p.path == "top.clk"]
        if not clock:
            raise ValueError("the toggle counts have no top.clk: cannot tell the cycles clocked")
        blocks, bits = count(coverage)
    return Activity(blocks, bits, cycles, clock[0].rises, port.bytes)
