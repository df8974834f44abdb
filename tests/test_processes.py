"""Accelerators in other processes: the target string is what crosses the process boundary.

An open `Accelerator` holds a serial link (a simulator's pseudo-terminal or a board's
UART) and cannot be pickled; a target string such as ``"sim"`` can, and every
process opens its own device from it. Two spawned processes each start their own
simulated device and must return results bit-identical to ``ref``.
"""

from __future__ import annotations

import multiprocessing
import os

import numpy as np

from sw.driver import Accelerator
from sw.kernel import exact_matmul, run_product
from sw.kernel.random_layer import random_product

MODULUS = 65537


def operands(seed: int):
    rng = np.random.default_rng(seed)
    product = random_product(rng, 6, 300, 40, mode="spx", requant=True)
    a = rng.integers(0, MODULUS, size=(4, 50))
    b = rng.integers(0, MODULUS, size=(50, 3))
    return product, a, b


def compute(target: str, seed: int) -> dict:
    """What one process computes on its own device, opened from ``target``."""
    product, a, b = operands(seed)
    with Accelerator.open(target) as acc:
        y, report = run_product(acc, product.spec, product.codes, product.x)
        c = exact_matmul(a, b, acc, MODULUS)
    return {"pid": os.getpid(), "y": y, "c": c, "loads": report.loads}


def test_two_processes_each_open_their_own_sim():
    seeds = (11, 12)
    context = multiprocessing.get_context("spawn")  # what Ray and Flower workers do too
    with context.Pool(2) as pool:
        results = pool.starmap(compute, [("sim", seed) for seed in seeds])
    assert len({r["pid"] for r in results} | {os.getpid()}) == 3
    for seed, result in zip(seeds, results, strict=True):
        expected = compute("ref", seed)
        np.testing.assert_array_equal(result["y"], expected["y"])
        np.testing.assert_array_equal(result["c"], expected["c"])
        assert result["loads"] == expected["loads"] > 1  # the product really was split
