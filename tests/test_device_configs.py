"""Every named device configuration, simulated whole, against `ref:<config>`.

Each board's designs (and the generic one) are built as whole-device Verilator models
(the ULX3S ones with their MULT18X18D instances): random layers of every kind the
design runs, and some it must refuse, go to ``sim:<config>`` and ``ref:<config>``;
both accept and refuse the same ones (one shared check), and agree bit for bit and on
the cycle counters.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import simulated_devices

from sw.device.configs import DEVICES
from sw.driver import Accelerator
from sw.kernel import matmul
from sw.kernel.random_layer import random_product

BOARD_CONFIGS = sorted(name for name in DEVICES if name != "sim")
KINDS = [
    ("uniform", {}),
    ("spx", {"spx_terms": 1}),
    ("spx", {"spx_terms": 2}),
    ("codebook", {}),
    ("uniform", {"weight_bits": 3, "act_bits": 6}),
]


def outcome(acc, product):
    """The result of loading and running ``product``, or the reason it was refused."""
    try:
        acc.load_layer(product.spec, product.codes)
    except ValueError as error:
        return f"refused: {error}"
    return acc.matmul(product.x, measure_cycles=True), acc.last_run_cycles


@pytest.mark.parametrize("name", simulated_devices(BOARD_CONFIGS))
def test_board_designs_agree_with_ref(name):
    rng = np.random.default_rng(sorted(DEVICES).index(name))
    with Accelerator.open(f"sim:{name}") as sim, Accelerator.open(f"ref:{name}") as ref:
        info = sim.identify()
        assert info == ref.identify()
        ran = 0
        for mode, extra in KINDS:
            for requant in (True, False):
                m = int(rng.integers(1, 2 * info.m_max))
                k = int(rng.integers(1, info.k_max + 1))
                n = int(rng.integers(1, info.channels + 1))
                product = None
                while product is None:
                    try:
                        product = random_product(
                            rng, m, k, n, mode=mode, requant=requant, acc_bits=info.acc_bits,
                            **extra,
                        )  # fmt: skip
                    except ValueError:  # too deep for this accumulator: halve K
                        assert k > 1, "no depth fits"
                        k //= 2
                got, expected = outcome(sim, product), outcome(ref, product)
                if isinstance(expected, str):
                    assert got == expected
                    continue
                ran += 1
                np.testing.assert_array_equal(got[0], expected[0])
                np.testing.assert_array_equal(
                    got[0], matmul(product.x, product.codes, product.spec)
                )
                if requant and product.spec.requant.out_bits <= 8:
                    # One 1-byte result a cycle leaves as fast as the device makes them;
                    # more drain lanes make them faster than the one-byte link takes.
                    if info.drain_lanes == 1:
                        assert got[1] == expected[1], "run cycles differ from the model"
                    else:
                        assert got[1] > expected[1], "the byte link should hold the drain"
                    # REPEAT drops its results in the core: the model's cycles on any device.
                    assert sim.repeat_product(2) == ref.repeat_product(2), "REPEAT cycles"
        assert ran >= 2, f"{name} ran only {ran} kinds of layer"


@pytest.mark.parametrize("name", simulated_devices(sorted(DEVICES)))
def test_the_matmul_command_works_on_every_device(name, capsys):
    from sw.cli import main

    # K=6 is deep enough for every device's accumulator (the 18-bit codebook one's limit)
    assert main(["matmul", "--backend", f"sim:{name}", "--m", "5", "--k", "6", "--n", "6"]) == 0
    assert "matches ref  yes" in capsys.readouterr().out
