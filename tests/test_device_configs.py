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
from sw.device.payloads import encode_network_run
from sw.device.protocol import Op, Status, encode_request
from sw.driver import Accelerator
from sw.kernel import matmul
from sw.kernel.random_layer import random_network, random_product

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
        check_a_whole_network(rng, sim, ref, info)


def check_a_whole_network(rng, sim, ref, info):
    """As many layers as the device holds, chained on chip (RUN_NETWORK), over more rows
    than one run takes."""
    mode = info.weight_modes[0]
    k, middle = min(info.k_max, 40), min(info.channels, info.k_max, 2 * info.cols + 1)
    # 8-bit activations: every first layer's results (4 to 8 bits) feed the second.
    options = {key: v for key, v in dict(KINDS)[mode].items() if key != "act_bits"}
    while True:
        try:  # 8-bit results at the end: the link keeps up, so the count is the model's
            x, layers = random_network(
                rng, info.m_max + 3,
                (k, *[middle] * (info.layer_banks - 1), info.cols + 2), last_requant=True,
                acc_bits=info.acc_bits, mode=mode, **options,
            )  # fmt: skip
            break
        except ValueError:  # too deep for this accumulator: halve the deeper layer
            assert max(k, middle) > 1, "no depth fits"
            if k >= middle:
                k //= 2
            else:
                middle //= 2
    got = {}
    for acc in (sim, ref):
        acc.load_network(layers)
        if not info.networks:  # built without RUN_NETWORK: layer by layer, still exact
            assert "without RUN_NETWORK" in acc.network_problem
            continue
        assert acc.network_problem is None, acc.network_problem
        got[acc.target] = acc.run_network(x, measure_cycles=True), acc.last_network_report.cycles
    if not info.networks:
        np.testing.assert_array_equal(sim.run_network(x), ref.run_network(x))
        sim.raw.write(encode_request(Op.RUN_NETWORK, encode_network_run(x[:1], 1, 2, 2)))
        assert sim.raw.read_response().status == Status.UNKNOWN_OPCODE
        return
    (y, cycles), (expected_y, model_cycles) = got.values()
    np.testing.assert_array_equal(y, expected_y)
    for spec, codes in layers:
        x = matmul(x, codes, spec)
    np.testing.assert_array_equal(y, x)
    if info.drain_lanes == 1:
        assert cycles == model_cycles, "network cycles differ from the model"
    else:  # the write-back takes a value a cycle: it holds a many-lane drain
        assert cycles > model_cycles


@pytest.mark.parametrize("name", simulated_devices(sorted(DEVICES)))
def test_the_matmul_command_works_on_every_device(name, capsys):
    from sw.cli import main

    # K=6 is deep enough for every device's accumulator (the 18-bit codebook one's limit)
    assert main(["matmul", "--backend", f"sim:{name}", "--m", "5", "--k", "6", "--n", "6"]) == 0
    assert "matches ref  yes" in capsys.readouterr().out
