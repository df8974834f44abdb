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
LARGER_COPIES = {"ulx3s-25f": "ulx3s-12f", "ulx3s-45f": "ulx3s-12f", "tangnano20k": "tangnano9k"}
ALL_DEVICES = os.environ.get("QMATMUL_ALL_DEVICES") == "1"


def simulated_devices(names):
    """``names`` as pytest parameters, the larger copies skipped unless ALL_DEVICES."""
    return [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                not ALL_DEVICES,
                reason=f"a larger copy of {LARGER_COPIES[name]}; QMATMUL_ALL_DEVICES=1 runs it",
            ),
        )
        if name in LARGER_COPIES
        else name
        for name in sorted(names)
    ]
