"""The device contract: what the gateware (`hdl`) and the host driver (`sw.driver`) share.

Neither side owns it; both import it, and `hdl` and `sw.driver` never import each
other. Like a Glasgow applet's shared enums, one definition serves the gateware's
state machines and the host's packing:

- `protocol`: opcodes, statuses and weight modes (`amaranth.lib.enum`), frame headers
  (`amaranth.lib.data` layouts), the frame codec and CRCs;
- `payloads`: each command's payload layout, `DeviceInfo` (IDENTIFY), `Counters`,
  and the host's encoding of layers, runs and results;
- `params`: `CoreParams` and `TopParams`; `configs`: the named devices, per board;
- `tables`: the decode-table entries a layer loads; `latency`: pipeline latencies.
"""

from .configs import BOARD_DEVICES, DEFAULT_BAUD, DEVICES, device
from .latency import Latencies
from .params import CoreParams, TopParams
from .payloads import Counters, DeviceInfo
from .protocol import Op, ProtocolError, Status, WeightMode

__all__ = [
    "BOARD_DEVICES",
    "DEFAULT_BAUD",
    "DEVICES",
    "CoreParams",
    "Counters",
    "DeviceInfo",
    "Latencies",
    "Op",
    "ProtocolError",
    "Status",
    "TopParams",
    "WeightMode",
    "device",
]
