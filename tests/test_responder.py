"""`hdl.responder`: response frames and result bytes, against the host's own parser."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from hdl.responder import Responder, ResultSerializer
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
