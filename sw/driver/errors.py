"""What can go wrong talking to a device, each with its own exception."""

from __future__ import annotations

from sw.device.protocol import Op, ProtocolError, Status

__all__ = [
    "DeviceError",
    "DeviceGone",
    "DeviceTimeout",
    "DriverError",
    "LinkProtocolError",
    "ProtocolError",
]


class DriverError(Exception):
    """Base of the driver's own errors."""


class DeviceError(DriverError):
    """The device answered a command with an error status."""

    def __init__(self, op: int, status: int):
        self.op, self.status = op, status
        op_name = Op(op).name if op in Op._value2member_map_ else f"0x{op:02X}"
        status_name = Status(status).name if status in Status._value2member_map_ else str(status)
        super().__init__(f"device answered {status_name} to {op_name}")


class DeviceTimeout(DriverError):
    """No (complete) answer within the timeout."""


class DeviceGone(DriverError):
    """The simulator exited, or the serial port disappeared."""


class LinkProtocolError(DriverError, ProtocolError):
    """The device sent bytes that are not a well-formed frame (line noise, a desync)."""
