"""Stream helpers for Amaranth-simulator tests of single blocks (`amaranth.lib.stream`).

`put` offers beats with random gaps, `get` takes them with random back-pressure, so a
block's handshakes are exercised the way the rest of the device drives them. Both
are testbench coroutines for ``Simulator.add_testbench`` (``ctx`` as given there).
"""

from __future__ import annotations

import random


async def put(ctx, stream, beats, *, rng: random.Random | None = None, gaps: float = 0.0):
    """Offer each of ``beats`` on ``stream`` until taken; with ``gaps``, idle cycles between."""
    rng = rng or random.Random(0)
    for beat in beats:
        while gaps and rng.random() < gaps:
            ctx.set(stream.valid, 0)
            await ctx.tick()
        ctx.set(stream.payload, beat)
        ctx.set(stream.valid, 1)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def get(ctx, stream, count: int, *, rng: random.Random | None = None, stalls: float = 0.0):
    """Take ``count`` beats from ``stream``, holding ``ready`` low on a ``stalls`` fraction."""
    rng = rng or random.Random(1)
    beats = []
    while len(beats) < count:
        ready = not (stalls and rng.random() < stalls)
        ctx.set(stream.ready, ready)
        _, _, payload, valid = await ctx.tick().sample(stream.payload, stream.valid)
        if ready and valid:
            beats.append(payload)
    ctx.set(stream.ready, 0)
    return beats
