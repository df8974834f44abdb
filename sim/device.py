"""The ``sim`` target: a named device's RTL in Verilator behind a pseudo-terminal.

`sim/pty_harness.cpp` clocks the Verilated `hdl.top.Top` and moves bytes between its
streams and a pseudo-terminal; the driver opens that terminal with pyserial, as it
would a board's UART. The model is built once per device configuration (cached
under build/sim/), elaborated for the configuration's FPGA family (the ULX3S designs
with their MULT18X18D instances and the behavioural model of that primitive), and
each `SimulatedDevice` runs its own process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sw.device.configs import DEFAULT_BAUD, device
from sw.driver.errors import DeviceTimeout
from sw.driver.link import SerialLink

HARNESS = Path(__file__).resolve().parent / "pty_harness.cpp"
# The pseudo-terminal has no baud rate; this only sizes timeouts for big transfers.
SIM_BYTES_PER_SECOND = 200_000
# The harness clocks the device only while it has work, so the device's timeout for a
# frame that stops part way passes in well under this much wall time.
SIM_QUIET_S = 0.1


def build_simulator(device_name: str) -> Path:
    """The harness binary for a named device configuration (built on first use)."""
    from hdl.top import Top

    from .runner import build_executable

    params = device(device_name)
    return build_executable(
        f"device-{device_name}", lambda: Top(params), HARNESS, family=params.family, key=params
    )


class SimulatedDevice:
    """One simulator process. ``stall`` holds the device's output back on that fraction of
    cycles (random, from ``seed``): back-pressure as a slow link would apply it."""

    def __init__(self, device_name: str = "sim", *, stall: float = 0.0, seed: int = 1):
        device(device_name)  # an unknown name fails here, before any build
        self.device_name = device_name
        self.stall, self.seed = stall, seed
        self.process: subprocess.Popen | None = None
        self.log_lines: list[str] = []

    def start(self, timeout: float = 30.0) -> str:
        """Start the simulator; return its terminal's path."""
        command = self.command()
        binary = command[0]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        path: list[str] = []
        reader = threading.Thread(target=lambda: path.append(self.process.stdout.readline()))
        reader.start()
        reader.join(timeout)
        if not path or not path[0].strip():
            self.stop()
            raise DeviceTimeout(f"the simulator {binary} did not report its terminal")
        threading.Thread(target=self._collect_stderr, daemon=True).start()
        return path[0].strip()

    def command(self) -> list[str]:
        """The simulator's command line (a subclass may run another build of the device)."""
        binary = build_simulator(self.device_name)
        return [str(binary), f"--stall={self.stall}", f"--seed={self.seed}"]

    def _collect_stderr(self) -> None:
        for line in self.process.stderr:
            self.log_lines.append(line.rstrip())

    def gone(self) -> str | None:
        """Why the simulator is not running, or None while it is."""
        if self.process is None:
            return "the simulator was never started"
        code = self.process.poll()
        if code is None:
            return None
        detail = "; ".join(self.log_lines[-3:])
        return f"the simulator exited with code {code}" + (f": {detail}" if detail else "")

    def connect(self, *, timeout: float) -> SerialLink:
        import serial

        path = self.start()
        port = serial.Serial(path, DEFAULT_BAUD, timeout=0.05)
        link = SerialLink(
            port,
            timeout=timeout,
            liveness=self.gone,
            bytes_per_second=SIM_BYTES_PER_SECOND * (1.0 - self.stall),
            quiet_s=SIM_QUIET_S,
        )
        close_port = link.close

        def close():
            close_port()
            self.stop()

        link.close = close
        link.simulator = self
        return link

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - builds ahead of time
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m sim.device [DEVICE ...]  (builds the simulators)")
        return 0
    for name in argv or ["sim"]:
        print(build_simulator(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
