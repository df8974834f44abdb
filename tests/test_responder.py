"""`hdl.responder`: response frames and result bytes, against the host's own parser."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from hdl.responder import LaneSerializer, Responder, ResultSerializer
from sim.streams import get, put
from sw.device.payloads import pack_signed, unpack_signed
from sw.device.protocol import (
    RESPONSE_OVERHEAD,
    Op,
    Response,
    ResponseParser,
    Status,
)


@pytest.mark.parametrize("seed", range(3))
def test_frames_parse_back_on_the_host(seed):
    rng = random.Random(seed)
    frames = [
        Response(Op.RUN, rng.randrange(256), Status.OK, bytes(rng.randrange(256) for _ in range(n)))
        for n in (0, 1, 37)
    ] + [Response(Op.NONE, 0, Status.BAD_SYNC, b"")]
    dut = Responder()
    sent = bytearray()

    async def bench(ctx):
        for frame in frames:
            ctx.set(dut.header.op, frame.op)
            ctx.set(dut.header.tag, frame.tag)
            ctx.set(dut.header.status, frame.status)
            ctx.set(dut.header.length, len(frame.payload))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await put(ctx, dut.payload, frame.payload, rng=rng, gaps=0.5)
            await ctx.tick().until(~dut.busy)

    async def line(ctx):
        total = sum(RESPONSE_OVERHEAD + len(f.payload) for f in frames)
        sent.extend(await get(ctx, dut.tx, total, rng=rng, stalls=0.5))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_testbench(line, background=True)
    sim.run()
    assert ResponseParser().feed(bytes(sent)) == frames


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_results_become_little_endian_bytes(width):
    bits = 8 * width
    rng = random.Random(width)
    values = [rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1)) for _ in range(20)]
    dut = ResultSerializer(32, 4)
    got = []

    async def source(ctx):
        ctx.set(dut.width, width)
        await put(ctx, dut.values, values, rng=rng, gaps=0.3)

    async def sink(ctx):
        got.extend(await get(ctx, dut.bytes, width * len(values), rng=rng, stalls=0.3))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert bytes(got) == pack_signed(values, width)
    assert unpack_signed(bytes(got), width).tolist() == values


@pytest.mark.parametrize("lanes", [2, 4])
@pytest.mark.parametrize("pressure", [0.0, 0.3])
def test_lane_beats_become_values_in_order(lanes, pressure):
    """Beats of 1..L real values, with gaps and back-pressure: the values come out in
    order and nothing else does; with neither, one value leaves every cycle."""
    rng = random.Random(lanes)
    beats = []
    for _ in range(40):
        count = rng.randrange(1, lanes + 1)
        values = [rng.randrange(-(1 << 31), 1 << 31) for _ in range(lanes)]
        beats.append({"values": values, "count": count})
    expected = [v for beat in beats for v in beat["values"][: beat["count"]]]
    dut = LaneSerializer(32, lanes)
    got, cycles = [], []

    async def source(ctx):
        await put(ctx, dut.beats, beats, rng=rng, gaps=pressure)

    async def sink(ctx):
        taken = []
        while len(taken) < len(expected):
            ready = not (pressure and rng.random() < pressure)
            ctx.set(dut.values.ready, ready)
            _, _, payload, valid = await ctx.tick().sample(dut.values.payload, dut.values.valid)
            cycles.append(ready and valid)
            if ready and valid:
                taken.append(payload)
        got.extend(taken)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert got == expected
    if not pressure:  # after the first beat's cycle in, a value every cycle
        first = cycles.index(True)
        assert all(cycles[first:]), "the serializer left a cycle idle"
