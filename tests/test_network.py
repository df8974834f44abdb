"""Whole networks on the device: RUN_NETWORK on the simulated RTL against the reference.

The device chains its resident layers (the `sim` device holds four); only the input
rows cross the link in and the last layer's results out. Results must match the kernel
applied layer by layer bit for bit, cycle counters the model, and every refusal must
name its reason.
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
        (13, (20, 30, 7, 11), True),  # three layers
        (66, (4, 64, 64, 2), True),  # the CartPole Q-network's shape
        (6, (9, 17, 5, 8, 3), True),  # four: every bank
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


def test_the_model_counts_one_run_per_layer(ref):
    info = ref.identify()
    rng = np.random.default_rng(3)
    x, layers = random_network(rng, 12, (30, 17, 4, 9))
    ref.load_network(layers)
    ref.run_network(x, measure_cycles=True)
    expected = sum(info.run_cycles(12, k, n) for k, n in ((30, 17), (17, 4), (4, 9)))
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
    x, layers = random_network(rng, 7, (16, 12, 9, 5, 6, 4))  # five layers: one too many
    _, raw_first = random_network(rng, 7, (16, 12, 5))  # ... and raw results in the middle
    raw_first[0] = (raw_first[0][0].with_requant(None), raw_first[0][1])
    for acc in (sim, ref):
        acc.load_network(layers)
        assert "5 layers (the device holds 4)" in acc.network_problem
        np.testing.assert_array_equal(acc.run_network(x), chained(x, layers))
        assert acc.last_network_report.loads == 5
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


def network_frame(x, first, last, layers=2, tag=90) -> bytes:
    return encode_request(Op.RUN_NETWORK, encode_network_run(x, first, last, layers), tag=tag)


def test_the_device_refuses_run_network_frames_it_cannot_run(sim):
    rng = np.random.default_rng(7)
    x, layers = random_network(rng, 4, (10, 6, 3, 5))
    sim.reset()
    assert send(sim, load_frame(sim, layers[0], 41)).status == Status.OK
    # One layer loaded: there is no chain to run.
    assert send(sim, network_frame(x, 41, 41)).status == Status.NO_LAYER
    assert send(sim, load_frame(sim, layers[1], 42)).status == Status.OK
    assert send(sim, load_frame(sim, layers[2], 43)).status == Status.OK
    for first, last, count in ((40, 43, 3), (41, 44, 3), (42, 43, 3), (41, 43, 2)):
        status = send(sim, network_frame(x, first, last, count)).status
        assert status == Status.WRONG_LAYER, (first, last, count)  # not the layers held
    assert send(sim, network_frame(x, 40, 43, 4)).status == Status.NO_LAYER  # 3 are held
    for count in (0, 1, 5):  # a chain is 2 to layer_banks layers
        assert send(sim, network_frame(x, 41, 43, count)).status == Status.BAD_PARAM
    assert send(sim, network_frame(x[:0], 41, 43, 3)).status == Status.BAD_PARAM  # M = 0
    big = np.zeros((sim.info.m_max + 1, 10), dtype=np.int64)
    assert send(sim, network_frame(big, 41, 43, 3)).status == Status.TOO_LARGE
    width = layer_result_bytes(layers[2][0], sim.info)
    response = send(sim, network_frame(x, 41, 43, 3))
    assert response.status == Status.OK
    y = decode_results(response.payload, 4, 5, width, sim.info)
    np.testing.assert_array_equal(y, chained(x, layers))
    # The last two alone: the second layer's input is 6 wide.
    hidden = chained(x, layers[:1])
    response = send(sim, network_frame(hidden, 42, 43, 2))
    y = decode_results(response.payload, 4, 5, width, sim.info)
    np.testing.assert_array_equal(y, chained(x, layers))
    # A fourth layer fills the banks; a fifth load overwrites the oldest, even failing.
    _, more = random_network(rng, 4, (5, 4))
    assert send(sim, load_frame(sim, more[0], 44)).status == Status.OK
    assert send(sim, network_frame(x, 41, 44, 4)).status == Status.OK
    frame = bytearray(load_frame(sim, more[0], 45))
    frame[-1] ^= 0xFF
    assert send(sim, bytes(frame)).status == Status.BAD_CRC
    assert send(sim, network_frame(x, 41, 44, 4)).status == Status.NO_LAYER
    assert send(sim, network_frame(hidden, 42, 44, 3)).status == Status.OK
    # Layers that do not chain: the new layer's K is not the last one's N.
    _, other = random_network(rng, 4, (7, 3))
    assert send(sim, load_frame(sim, other[0], 46)).status == Status.OK
    assert send(sim, network_frame(x, 44, 46, 2)).status == Status.BAD_PARAM
    sim.reset()


def test_ref_refuses_like_the_device(ref):
    rng = np.random.default_rng(8)
    x, layers = random_network(rng, 4, (10, 6, 3))
    ref.reset()
    ref.load_layer(*layers[1])
    with pytest.raises(DeviceError, match="NO_LAYER"):
        ref.backend.run_network(x, 2, layers[1][0], 3)
    with pytest.raises(DeviceError, match="BAD_PARAM"):
        ref.backend.run_network(x, 5, layers[1][0], 3)


def test_the_compiler_runs_layer_pairs_as_networks(sim, ref):
    import torch
    from torch import nn

    from sw.nn import compile_model, make_mlp

    # Six layers: a chain of six, cut into four on chip (the sim device's banks) and two.
    model = make_mlp([16, 12, 10, 9, 8, 7, 4], seed=1).eval()
    x = torch.randn(40, 16, generator=torch.Generator().manual_seed(0))
    program = compile_model(model, x, "sp2")
    names = [layer.name for layer in program.core_layers]
    assert program.chains == {names[0]: names}
    fake = program.fake_quant(x)
    for acc in (sim, ref):
        cycles = {}
        for whole in (True, False):
            y, cycles[whole] = program.run(acc, x, whole_network=whole)
            np.testing.assert_array_equal(y, fake)
            report = program.last_run
            if whole:
                assert report.chains == {names[0]: names[:4], names[4]: names[4:]}
                assert report.whole == {names[0]: True, names[4]: True}
                assert report.layers[names[0]].runs == 1 and report.layers[names[1]].runs == 0
            else:
                assert report.whole == {} and all(cycles[whole].values())
        # One drain lane: a chain costs what its layers cost one by one (no run waits on
        # the link between them), and every layer has its share.
        assert all(cycles[True].values())
        for chain in (names[:4], names[4:]):
            assert sum(cycles[True][n] for n in chain) == sum(cycles[False][n] for n in chain)

    class TwoOutputs(nn.Module):  # the middle value is an output too: no pair
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(16, 12), nn.Linear(12, 4)

        def forward(self, x):
            hidden = torch.relu(self.a(x))
            return hidden, self.b(hidden)

    assert compile_model(TwoOutputs().eval(), x, "sp2").chains == {}
