"""The ``sim`` target: the device's RTL in Verilator behind a pseudo-terminal.

`sim/pty_harness.cpp` clocks the Verilated `hdl.top.Top` and moves bytes between its
streams and a pseudo-terminal; the driver opens that terminal with pyserial, as it
would a board's UART. The model is built once per device configuration (cached
under build/sim/) and each `SimulatedDevice` runs its own process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from .accelerator import SerialLink
from .errors import DeviceTimeout

HARNESS = Path(__file__).resolve().parents[2] / "sim" / "pty_harness.cpp"
# The pseudo-terminal has no baud rate; this only sizes timeouts for big transfers.
SIM_BYTES_PER_SECOND = 200_000


def build_simulator(device_name: str) -> Path:
    """The harness binary for a named device configuration (built on first use)."""
    from hdl.configs import device
    from hdl.top import Top
    from sim.runner import build_executable

    params = device(device_name)
    return build_executable(f"device-{device_name}", Top(params), HARNESS)


class SimulatedDevice:
    def __init__(self, device_name: str = "sim"):
        self.device_name = device_name
        self.process: subprocess.Popen | None = None
        self.log_lines: list[str] = []

    def start(self, timeout: float = 30.0) -> str:
        """Start the simulator; return its terminal's path."""
        binary = build_simulator(self.device_name)
        self.process = subprocess.Popen(
            [str(binary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
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
        port = serial.Serial(path, 3_000_000, timeout=0.05)
        link = SerialLink(
            port, timeout=timeout, liveness=self.gone, bytes_per_second=SIM_BYTES_PER_SECOND
        )
        close_port = link.close

        def close():
            close_port()
            self.stop()

        link.close = close
        return link

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> int:  # pragma: no cover - a convenience for building ahead of time
    name = sys.argv[1] if len(sys.argv) > 1 else "sim"
    if name not in ("-h", "--help"):
        print(build_simulator(name))
        return 0
    print("usage: python -m sw.driver.simulator [DEVICE]  (builds the simulator)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
