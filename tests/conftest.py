"""Fixtures shared by the test modules: one driver per backend per module."""

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
