"""Measuring a real board: idle vs active current while the chip repeats a product.

The flow (`measure_board`): load a layer and run it once (the device keeps the inputs),
read the idle current, then have the device repeat the product N times on chip
(`Accelerator.repeat_product(n) -> cycles`, the device's REPEAT command) while the current is read
again; energy per product = (I_active - I_idle) x V x t_active / N, plus the idle share
if asked. The current comes from the user (`--current-ma idle,active`, or a prompt) or
from an INA219 / INA226 shunt monitor on Linux I2C (`/dev/i2c-N`), read with plain ioctl
(I2C_SLAVE) and no extra package. Without a board or a sensor the flow stops with an
error that names what is missing.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sw.device.payloads import REPEAT_COUNT_RANGE

I2C_SLAVE = 0x0703  # linux/i2c-dev.h


class MeasurementError(ValueError):
    """A measurement that cannot be made as asked (no sensor, no repeat command...)."""


@dataclass(frozen=True)
class ShuntSensor:
    """An INA219 or INA226 at ``address`` on ``/dev/i2c-<bus>`` with an ``shunt_ohms``
    resistor: current = shunt voltage / resistance (no calibration register needed)."""

    kind: str  # "ina219" or "ina226"
    bus: int
    address: int = 0x40
    shunt_ohms: float = 0.1

    # Shunt-voltage register and its LSB (V) per chip (data sheets: INA219 10 uV, INA226 2.5 uV).
    REGISTERS = {"ina219": (0x01, 10e-6), "ina226": (0x01, 2.5e-6)}

    def __post_init__(self):
        if self.kind not in self.REGISTERS:
            raise MeasurementError(
                f"sensor must be one of {sorted(self.REGISTERS)}, got {self.kind!r}"
            )
        if not 0x03 <= self.address <= 0x77:
            raise MeasurementError(f"I2C address must be in [0x03, 0x77], got {self.address:#x}")
        if self.shunt_ohms <= 0:
            raise MeasurementError(f"shunt_ohms must be positive, got {self.shunt_ohms}")

    @property
    def device_path(self) -> Path:
        return Path(f"/dev/i2c-{self.bus}")

    def read_ma(self) -> float:
        """One current reading (mA) from the shunt-voltage register (signed, big-endian)."""
        if not self.device_path.exists():
            raise MeasurementError(
                f"no I2C bus at {self.device_path}: is the {self.kind} wired and i2c-dev loaded?"
            )
        register, lsb = self.REGISTERS[self.kind]
        try:
            handle = os.open(self.device_path, os.O_RDWR)
        except OSError as error:
            raise MeasurementError(f"cannot open {self.device_path}: {error}") from error
        try:
            fcntl.ioctl(handle, I2C_SLAVE, self.address)
            os.write(handle, bytes([register]))
            raw = os.read(handle, 2)
        except OSError as error:
            raise MeasurementError(
                f"no answer from a {self.kind} at {self.address:#x} on {self.device_path}: {error}"
            ) from error
        finally:
            os.close(handle)
        if len(raw) != 2:
            raise MeasurementError(f"short read ({len(raw)} bytes) from the {self.kind}")
        shunt_volts = int.from_bytes(raw, "big", signed=True) * lsb
        return shunt_volts / self.shunt_ohms * 1e3

    def mean_ma(self, seconds: float, interval: float = 0.01) -> float:
        readings = []
        end = time.monotonic() + seconds
        while time.monotonic() < end or not readings:
            readings.append(self.read_ma())
            time.sleep(interval)
        return sum(readings) / len(readings)


def parse_currents(text: str) -> tuple[float, float]:
    """``"idle,active"`` in mA -> (idle, active); both positive, active above idle."""
    try:
        idle, active = (float(part) for part in text.split(","))
    except ValueError as error:
        raise MeasurementError(
            f"--current-ma must be 'IDLE,ACTIVE' in mA (e.g. 1.9,3.4), got {text!r}"
        ) from error
    if idle <= 0 or active <= 0:
        raise MeasurementError(f"currents must be positive mA, got idle={idle}, active={active}")
    if active < idle:
        raise MeasurementError(
            f"the active current ({active} mA) is below the idle one ({idle} mA)"
        )
    return idle, active


@dataclass(frozen=True)
class BoardResult:
    idle_ma: float
    active_ma: float
    volts: float
    repeats: int
    cycles: int
    clock_hz: float
    macs_per_product: int

    @property
    def active_seconds(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def energy_per_product_j(self) -> float:
        """Energy above idle per product: (I_active - I_idle) x V x t / N."""
        watts = (self.active_ma - self.idle_ma) * 1e-3 * self.volts
        return watts * self.active_seconds / self.repeats

    def as_dict(self) -> dict:
        gops_per_watt = 2 * self.macs_per_product / self.energy_per_product_j / 1e9
        return {
            "idle_ma": self.idle_ma,
            "active_ma": self.active_ma,
            "volts": self.volts,
            "repeats": self.repeats,
            "cycles": self.cycles,
            "active_seconds": self.active_seconds,
            "energy_per_product_j": self.energy_per_product_j,
            "gops_per_watt_above_idle": gops_per_watt,
        }


def measure_board(
    accelerator,
    spec,
    codes,
    x,
    *,
    repeats: int,
    volts: float,
    currents: tuple[float, float] | None = None,
    sensor: ShuntSensor | None = None,
    idle_seconds: float = 1.0,
) -> BoardResult:
    """Load ``(spec, codes)``, run ``x`` once, then measure idle and ``repeats`` on-chip
    repeats. ``currents`` (mA, entered) or ``sensor`` (read during each window)."""
    if volts <= 0:
        raise MeasurementError(f"volts must be positive, got {volts}")
    if currents is None and sensor is None:
        raise MeasurementError("give the currents (--current-ma IDLE,ACTIVE) or a sensor (--i2c)")
    if not 1 <= repeats <= REPEAT_COUNT_RANGE[1]:
        raise MeasurementError(
            f"--repeat must be in 1..{REPEAT_COUNT_RANGE[1]} (one REPEAT command), got {repeats}"
        )
    accelerator.load_layer(spec, codes)
    # The device repeats its last RUN: the product measured is one RUN's rows.
    x = x[: accelerator.rows_per_run()]
    accelerator.matmul(x)
    if sensor is not None:
        idle = sensor.mean_ma(idle_seconds)
        cycles, samples = _sampled(sensor, lambda: accelerator.repeat_product(repeats))
        if not samples:
            raise MeasurementError(
                f"{repeats} repeats ended before the sensor read once: raise --repeat"
            )
        active = sum(samples) / len(samples)
    else:
        cycles = accelerator.repeat_product(repeats)
        idle, active = currents
    return BoardResult(
        idle_ma=idle,
        active_ma=active,
        volts=volts,
        repeats=repeats,
        cycles=cycles,
        clock_hz=accelerator.info.clock_hz,
        macs_per_product=x.shape[0] * codes.shape[0] * codes.shape[1],
    )


def _sampled(sensor: ShuntSensor, action) -> tuple[int, list[float]]:
    """Run ``action`` (the repeats) while a thread reads the sensor; (cycles, readings)."""
    samples: list[float] = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append(sensor.read_ma())
            time.sleep(0.005)

    reader = threading.Thread(target=sample, daemon=True)
    reader.start()
    try:
        cycles = int(action())
    finally:
        done.set()
        reader.join()
    return cycles, samples
