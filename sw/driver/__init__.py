"""Host driver: one `Accelerator` API over the reference, the simulator and a board."""

from .accelerator import Accelerator, SerialLink
from .errors import DeviceError, DeviceGone, DeviceTimeout, DriverError, ProtocolError

__all__ = [
    "Accelerator",
    "DeviceError",
    "DeviceGone",
    "DeviceTimeout",
    "DriverError",
    "ProtocolError",
    "SerialLink",
]
