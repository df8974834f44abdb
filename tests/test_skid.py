"""`hdl.skid.SkidBuffer`: every beat through once, in order, whatever both sides do."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from hdl.skid import SkidBuffer
from sim.streams import get, put


@pytest.mark.parametrize("gaps, stalls", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.4, 0.6)])
def test_beats_are_neither_dropped_nor_repeated(gaps, stalls):
    rng = random.Random(int(10 * gaps + 100 * stalls))
    beats = [rng.randrange(256) for _ in range(200)]
    dut = SkidBuffer(8)
    got = []

    async def source(ctx):
        await put(ctx, dut.i, beats, rng=rng, gaps=gaps)

    async def sink(ctx):
        got.extend(await get(ctx, dut.o, len(beats), rng=random.Random(7), stalls=stalls))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert got == beats


def test_one_beat_per_cycle_and_a_registered_ready():
    dut = SkidBuffer(8)

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        taken = 0
        for cycle in range(20):
            ctx.set(dut.i.payload, cycle)
            _, _, ready = await ctx.tick().sample(dut.i.ready)
            taken += ready
        assert taken == 20  # full throughput
        # The input's ready does not follow the output's in the same cycle.
        ctx.set(dut.o.ready, 0)
        assert ctx.get(dut.i.ready) == 1
        await ctx.tick()
        await ctx.tick()
        assert ctx.get(dut.i.ready) == 0  # the skid register holds the one beat in flight

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
