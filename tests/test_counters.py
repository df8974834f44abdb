"""`hdl.counters.CounterFile`: increments, saturation, clearing and reads against a dict."""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from hdl.counters import CounterFile


def test_counts_match_a_model_including_back_to_back_and_saturation():
    count, width = 5, 4  # 4-bit counters saturate at 15
    dut = CounterFile(count, width)
    rng = random.Random(3)
    model = [0] * count
    reads = []

    async def bench(ctx):
        for step in range(300):
            if step == 150:  # clear, and let it finish (one counter per cycle)
                ctx.set(dut.clear, 1)
                await ctx.tick()
                ctx.set(dut.clear, 0)
                model[:] = [0] * count
                for _ in range(count + 2):
                    await ctx.tick()
            if rng.random() < 0.7:
                # Bursts on one counter exercise the read-during-write path.
                index = rng.choice([0, 0, 0, rng.randrange(count)])
                ctx.set(dut.increment, 1)
                ctx.set(dut.index, index)
                model[index] = min(model[index] + 1, (1 << width) - 1)
            else:
                ctx.set(dut.increment, 0)
            await ctx.tick()
        ctx.set(dut.increment, 0)
        for _ in range(3):
            await ctx.tick()
        for index in range(count):  # a read: the value a cycle later
            ctx.set(dut.read_index, index)
            await ctx.tick()
            reads.append(ctx.get(dut.read_data))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert reads == model
    assert max(model) == 15 and min(model) < 15  # both saturated and counting ones seen
