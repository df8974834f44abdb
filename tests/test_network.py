"""Whole networks on the device: RUN_NETWORK on the simulated RTL against the reference.

The device chains its two resident layers; only the input rows cross the link in and
the last layer's results out. Results must match the kernel applied layer by layer
bit for bit, cycle counters the model, and every refusal must name its reason.
"""

import numpy as np
import pytest

from sw.device.payloads import (
    decode_results,
    encode_layer,
    encode_network_run,
    layer_result_bytes,
)
from sw.device.protocol import Op, Status, encode_request
from sw.driver import DeviceError
from sw.kernel import matmul
from sw.kernel.random_layer import random_network


def chained(x, layers):
    for spec, codes in layers:
        x = matmul(x, codes, spec)
    return x


@pytest.mark.parametrize(
    "m, sizes, last_requant",
    [
        (5, (20, 9, 7), True),  # one tile each way, ragged
        (70, (64, 64, 10), True),  # the digits MLP's shape, two RUN_NETWORK chunks
        (3, (3, 33, 5), False),  # raw accumulators out (4 bytes a result)
        (9, (40, 1, 6), True),  # a one-wide middle
    ],
)
def test_networks_match_the_kernel_layer_by_layer(sim, ref, m, sizes, last_requant):
    rng = np.random.default_rng(sum(sizes) + m)
    x, layers = random_network(rng, m, sizes, last_requant=last_requant)
    want = chained(x, layers)
    cycles = {}
    for acc in (sim, ref):
        acc.load_network(layers)
        assert acc.network_problem is None, acc.network_problem
        np.testing.assert_array_equal(acc.run_network(x, measure_cycles=True), want)
        report = acc.last_network_report
        assert report.runs == -(-m // acc.rows_per_network_run())
        cycles[acc.target] = report.cycles
    if last_requant:  # 8-bit results keep up with the link: the model's count exactly
        assert cycles["sim"] == cycles["ref"]
    else:  # 4-byte results hold the second layer's drain back
        assert cycles["sim"] > cycles["ref"]


def test_the_model_counts_two_runs(ref):
    info = ref.identify()
    rng = np.random.default_rng(3)
    x, layers = random_network(rng, 12, (30, 17, 4))
    ref.load_network(layers)
    ref.run_network(x, measure_cycles=True)
    expected = info.run_cycles(12, 30, 17) + info.run_cycles(12, 17, 4)
    assert ref.last_network_report.cycles == expected


def test_a_network_survives_a_plain_load_in_between(sim):
    rng = np.random.default_rng(4)
    x, layers = random_network(rng, 6, (10, 12, 3))
    sim.load_network(layers)
    other_x, other = random_network(rng, 4, (5, 6))
    sim.load_layer(*other[0])  # the device now holds the network's second layer and this
    np.testing.assert_array_equal(sim.matmul(other_x), chained(other_x, other))
    np.testing.assert_array_equal(sim.run_network(x), chained(x, layers))  # reloaded


def test_chains_the_device_cannot_hold_run_layer_by_layer(sim, ref):
    rng = np.random.default_rng(5)
    x, layers = random_network(rng, 7, (16, 12, 9, 5))  # three layers
    _, raw_first = random_network(rng, 7, (16, 12, 5))  # ... and raw results in the middle
    raw_first[0] = (raw_first[0][0].with_requant(None), raw_first[0][1])
    for acc in (sim, ref):
        acc.load_network(layers)
        assert "3 layers" in acc.network_problem
        np.testing.assert_array_equal(acc.run_network(x), chained(x, layers))
        assert acc.last_network_report.loads == 3
        acc.load_network(raw_first)
        assert "raw-bit results" in acc.network_problem


def test_mismatched_chains_are_refused_before_anything_is_sent(sim):
    rng = np.random.default_rng(6)
    _, first = random_network(rng, 2, (8, 5))
    _, second = random_network(rng, 2, (6, 3))
    with pytest.raises(ValueError, match="layer 0 gives 5 outputs but layer 1 takes K=6"):
        sim.load_network(first + second)
    with pytest.raises(ValueError, match="at least one layer"):
        sim.load_network([])


def send(sim, frame: bytes):
    sim.raw.write(frame)
    return sim.raw.read_response()


def load_frame(sim, layer, tag) -> bytes:
    spec, codes = layer
    return encode_request(Op.LOAD_LAYER, encode_layer(spec, codes, sim.info), tag=tag)


def network_frame(x, first, last, tag=90) -> bytes:
    return encode_request(Op.RUN_NETWORK, encode_network_run(x, first, last), tag=tag)


def test_the_device_refuses_run_network_frames_it_cannot_run(sim):
    rng = np.random.default_rng(7)
    x, layers = random_network(rng, 4, (10, 6, 3))
    sim.reset()
    assert send(sim, load_frame(sim, layers[0], 41)).status == Status.OK
    # One layer loaded: there is no pair to run.
    assert send(sim, network_frame(x, 40, 41)).status == Status.NO_LAYER
    assert send(sim, load_frame(sim, layers[1], 42)).status == Status.OK
    for first, last in ((40, 42), (41, 43), (42, 41)):  # tags of layers not held
        assert send(sim, network_frame(x, first, last)).status == Status.WRONG_LAYER
    assert send(sim, network_frame(x[:0], 41, 42)).status == Status.BAD_PARAM  # M = 0
    big = np.zeros((sim.info.m_max + 1, 10), dtype=np.int64)
    assert send(sim, network_frame(big, 41, 42)).status == Status.TOO_LARGE
    response = send(sim, network_frame(x, 41, 42))
    assert response.status == Status.OK
    y = decode_results(response.payload, 4, 3, layer_result_bytes(layers[1][0], sim.info), sim.info)
    np.testing.assert_array_equal(y, chained(x, layers))
    # A load that fails part way gives up the older layer: its bank was being written.
    frame = bytearray(load_frame(sim, layers[0], 44))
    frame[-1] ^= 0xFF
    assert send(sim, bytes(frame)).status == Status.BAD_CRC
    assert send(sim, network_frame(x, 41, 42)).status == Status.NO_LAYER
    # Layers that do not chain: the first one's N is not the second one's K.
    _, other = random_network(rng, 4, (7, 3))
    assert send(sim, load_frame(sim, other[0], 45)).status == Status.OK
    assert send(sim, network_frame(x, 42, 45)).status == Status.BAD_PARAM
    sim.reset()


def test_ref_refuses_like_the_device(ref):
    rng = np.random.default_rng(8)
    x, layers = random_network(rng, 4, (10, 6, 3))
    ref.reset()
    ref.load_layer(*layers[1])
    with pytest.raises(DeviceError, match="NO_LAYER"):
        ref.backend.run_network(x, layers[1][0], 3)


def test_the_compiler_runs_layer_pairs_as_networks(sim, ref):
    import torch
    from torch import nn

    from sw.nn import compile_model, make_mlp

    model = make_mlp([16, 12, 10, 4], seed=1).eval()  # three layers: a pair and one alone
    x = torch.randn(40, 16, generator=torch.Generator().manual_seed(0))
    program = compile_model(model, x, "sp2")
    first, second, third = (layer.name for layer in program.core_layers)
    assert program.chains == {first: second}
    fake = program.fake_quant(x)
    outputs = {}
    for acc in (sim, ref):
        for whole in (True, False):
            y, cycles = program.run(acc, x, whole_network=whole)
            np.testing.assert_array_equal(y, fake)
            report = program.last_run
            assert report.whole == ({first: True} if whole else {})
            assert (cycles[second] == 0) == whole  # counted on the pair's first layer
            outputs[acc.target, whole] = cycles
    # The pair's 8-bit results keep up with the link: the model's count (the last layer's
    # raw 4-byte results do not).
    assert outputs["sim", True][first] == outputs["ref", True][first]
    assert outputs["sim", True][third] == outputs["sim", False][third]

    class TwoOutputs(nn.Module):  # the middle value is an output too: no pair
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(16, 12), nn.Linear(12, 4)

        def forward(self, x):
            hidden = torch.relu(self.a(x))
            return hidden, self.b(hidden)

    assert compile_model(TwoOutputs().eval(), x, "sp2").chains == {}
