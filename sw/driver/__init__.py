"""Host driver: one `Accelerator` API over the reference, the simulator and a board.

It speaks the protocol of `sw.device` and never imports the gateware: the ``sim``
target starts the simulator that `sim.device` builds from it.
"""

from .accelerator import Accelerator
from .errors import (
    DeviceError,
    DeviceGone,
    DeviceTimeout,
    DriverError,
    LinkProtocolError,
    ProtocolError,
)
from .link import SerialLink

__all__ = [
    "Accelerator",
    "DeviceError",
    "DeviceGone",
    "DeviceTimeout",
    "DriverError",
    "LinkProtocolError",
    "ProtocolError",
    "SerialLink",
]
