"""Named device configurations: the `TopParams` each target is built from.

``sim`` is the default simulated device (every weight mode, so any layer runs on
it); each board has its own, sized for its FPGA (see boards/). The driver's
``ref`` and ``sim`` targets take a name from here (``sim:icebreaker``).
"""

from __future__ import annotations

from .params import CoreParams
from .top import TopParams

DEVICES: dict[str, TopParams] = {
    "sim": TopParams(
        CoreParams(rows=4, cols=4, act_bits=8, weight_bits=4, acc_bits=32, channels=256),
        k_max=256,
        m_max=64,
        clock_hz=50_000_000,
        # In simulation the clock only runs while a frame is part way in, so this is
        # about a tenth of a second of a host that stopped sending.
        timeout_cycles=1 << 17,
    ),
}


def device(name: str) -> TopParams:
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; known devices: {', '.join(sorted(DEVICES))}")
    return DEVICES[name]
