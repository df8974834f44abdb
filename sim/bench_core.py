"""cocotb measurement run for `bench/core_utilization.py`: cycles of real products.

Every product is also checked against `sw.kernel.matmul`, so a fast wrong answer
cannot pass as a measurement. Shapes come in ``QMATMUL_SIM_CONFIG["shapes"]`` and the
measurements go to the JSON file named by ``QMATMUL_SIM_CONFIG["output"]``.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np

from sw.kernel import matmul
from sw.kernel.cycles import core_cycles, ideal_cycles
from sw.kernel.random_layer import random_product

from .core_bench import CoreBench, params_from_env


@cocotb.test()
async def measure_cycles(dut):
    config = json.loads(os.environ["QMATMUL_SIM_CONFIG"])
    bench = CoreBench(dut, params_from_env())
    await bench.start()
    p = bench.params
    rng = np.random.default_rng(config.get("seed", 0))
    rows = []
    for m, k, n in config["shapes"]:
        product = random_product(rng, m, k, n, mode=config.get("mode", "spx"), requant=True)
        y, cycles, _ = await bench.matmul(product.x, product.codes, product.spec)
        assert np.array_equal(y, matmul(product.x, product.codes, product.spec)), (m, k, n)
        ideal = ideal_cycles(m, k, n, p.rows, p.cols)
        rows.append(
            {
                "array": [p.rows, p.cols],
                "drain_lanes": p.drain_lanes,
                "m": m,
                "k": k,
                "n": n,
                "cycles": cycles,
                "model_cycles": core_cycles(m, k, n, p.rows, p.cols, drain_lanes=p.drain_lanes),
                "ideal_cycles": ideal,
                "utilization": ideal / cycles,
            }
        )
        dut._log.info("%s", rows[-1])
    with open(config["output"], "w") as handle:
        json.dump(rows, handle)
