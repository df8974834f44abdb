"""Faults on the line to the real RTL: every call returns the right result or raises.

A stray byte, a truncated frame, a late reply and garbage used to leave the driver one
answer behind for good, returning the previous call's result from then on. Here each
is injected (`sim.faults`) among many calls checked against the reference: with no
retries every faulted call may raise but none may be wrong, and the next calls work
without reopening; with the default retries the calls are recovered.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.faults import RECOVERABLE_FAULTS, inject, run_trials
from sw.driver import Accelerator, DeviceGone
from sw.kernel import matmul
from sw.kernel.random_layer import random_product


@pytest.fixture(scope="module")
def fragile():
    with Accelerator.open("sim", retries=0) as acc:
        yield acc


@pytest.mark.parametrize("fault", RECOVERABLE_FAULTS)
def test_each_fault_costs_at_most_one_call_and_never_a_wrong_result(fragile, fault):
    rng = np.random.default_rng(sum(map(ord, fault)))
    product = random_product(rng, 12, 30, 10, mode="uniform", requant=True)
    fragile.load_layer(product.spec, product.codes)
    expected = matmul(product.x, product.codes, product.spec)
    fragile.raw.timeout = 0.4
    outcomes = []
    for _ in range(3):  # the fault, then calls that must all be right
        timer = inject(fragile, fault, rng)
        try:
            outcomes.append("right" if np.array_equal(fragile.matmul(product.x), expected)
                            else "WRONG")  # fmt: skip
        except Exception as error:  # a raised call is allowed; a wrong one is not
            outcomes.append(type(error).__name__)
        if timer is not None:
            timer.join()
        for _ in range(5):
            y = fragile.matmul(product.x)
            outcomes.append("right" if np.array_equal(y, expected) else "WRONG")
    assert "WRONG" not in outcomes, outcomes
    assert outcomes.count("right") >= len(outcomes) - 3, outcomes


def test_random_faults_over_many_calls_are_recovered():
    with Accelerator.open("sim") as acc:  # retries on (the default)
        report = run_trials(acc, np.random.default_rng(7), calls=60, fault_rate=0.3)
    print(report.as_dict())
    assert report.wrong == 0
    assert sum(report.faults.values()) >= 10  # the faults did happen
    assert report.correct + report.raised == report.calls
    assert report.correct >= report.calls - 2 and report.recovered >= 1


def test_a_killed_simulator_raises_on_every_later_call():
    acc = Accelerator.open("sim")
    product = random_product(np.random.default_rng(3), 4, 8, 4, mode="spx")
    acc.load_layer(product.spec, product.codes)
    inject(acc, "killed", np.random.default_rng(0))
    for _ in range(3):
        with pytest.raises(DeviceGone, match="simulator exited"):
            acc.matmul(product.x)
    acc.close()
