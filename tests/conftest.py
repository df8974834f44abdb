"""Fixtures shared by the test modules: one driver per backend per module; which devices
the whole-device tests simulate."""

import os

import pytest

from sw.driver import Accelerator


@pytest.fixture(scope="module")
def sim():
    with Accelerator.open("sim") as acc:
        yield acc


@pytest.fixture(scope="module")
def ref():
    with Accelerator.open("ref") as acc:
        yield acc


# Devices whose design repeats a smaller simulated one's at a larger size (more PEs, deeper
# buffers): their whole-device Verilator models are built and checked only with
# QMATMUL_ALL_DEVICES=1 (`make test-all`), which keeps `make test` within its time.
LARGER_COPIES = {
    "ulx3s-25f": "ulx3s-12f",
    "ulx3s-45f": "ulx3s-12f",
    "tangnano20k": "tangnano9k",
    # The OrangeCrabs' devices are the ULX3S's at another clock (their USB link is
    # simulated with the other boards' links, `LARGER_LINK_COPIES`).
    "orangecrab-25f": "ulx3s-25f",
    "orangecrab-85f": "ulx3s-85f",
    "orangecrab-85f-spx": "ulx3s-85f-spx",
}
ALL_DEVICES = os.environ.get("QMATMUL_ALL_DEVICES") == "1"


# Boards whose link (UART or USB) is simulated at a smaller board's size too (the
# OrangeCrab 25F is the USB link's own: its device is the ULX3S 25F's, its link is not).
LARGER_LINK_COPIES = {
    "ulx3s-25f": "ulx3s-12f",
    "ulx3s-45f": "ulx3s-12f",
    "tangnano20k": "tangnano9k",
    "orangecrab-85f": "orangecrab-25f",
}


def larger_copy_marks(name: str, copies: dict[str, str] = LARGER_COPIES) -> list:
    """Skip ``name`` unless ALL_DEVICES when ``copies`` names it a larger copy."""
    if name not in copies:
        return []
    reason = f"a larger copy of {copies[name]}; QMATMUL_ALL_DEVICES=1 runs it"
    return [pytest.mark.skipif(not ALL_DEVICES, reason=reason)]


def simulated_devices(names):
    """``names`` as pytest parameters, the larger copies skipped unless ALL_DEVICES."""
    return [pytest.param(name, marks=larger_copy_marks(name)) for name in sorted(names)]
