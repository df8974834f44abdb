"""The FPGA family a design is elaborated for, where the gateware picks primitives by it."""

from __future__ import annotations


def fpga_family(platform) -> str | None:
    """``"ice40"``, ``"ecp5"`` or ``"gowin"`` (`sw.device.params.FAMILIES`) for an Amaranth
    vendor platform or a `sim.runner.SimulationPlatform`; None without a platform.

    Amaranth's Lattice platforms name their family almost so (``"iCE40"``); its Gowin
    platform's ``family`` is the die's instead (``GW1NR-9C``, ``GW2AR-18C``)."""
    family = getattr(platform, "family", None)
    if not isinstance(family, str):
        return None
    if family.startswith("GW"):
        return "gowin"
    return family.lower()
