"""`hdl.sequencer.Sequencer` with real buffers: the beats it issues, against the tiling model.

Activations and codes are written where the loaders put them; the beats that come
out (under random back-pressure from the core's side) must walk `sw.kernel.tiling`'s
schedule with the right operands and tile fields, and nothing else.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth import Module, signed, unsigned
from amaranth.sim import Simulator

from hdl.buffer import BankedRAM
from hdl.core import operand_layout
from hdl.sequencer import Sequencer
from sim.streams import get
from sw.device.params import CoreParams
from sw.kernel import tiles

PARAMS = CoreParams(rows=3, cols=2, act_bits=8, weight_bits=4, channels=8)
K_MAX, M_MAX = 6, 7


@pytest.mark.parametrize("m, k, n, stalls", [(7, 6, 8, 0.0), (5, 3, 3, 0.5), (1, 1, 1, 0.3)])
def test_beats_follow_the_tiling(m, k, n, stalls):
    p = PARAMS
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    x = rng.integers(-128, 128, (m, k))
    codes = rng.integers(0, 16, (k, n))
    half = K_MAX * -(-p.channels // p.cols)
    act_depth = -(-M_MAX // p.rows) * K_MAX
    top = Module()
    top.submodules.sequencer = seq = Sequencer(
        p, read_latency=BankedRAM.READ_LATENCY, k_max=K_MAX, m_max=M_MAX, n_max=p.channels,
        act_addr_width=6, weight_addr_width=7,
    )  # fmt: skip
    top.submodules.weights = weights = BankedRAM(
        unsigned(p.cols * p.weight_bits), 2 * half, granularity=p.weight_bits
    )
    banks = []
    for r in range(p.rows):
        bank = top.submodules[f"act_{r}"] = BankedRAM(signed(p.act_bits), act_depth)
        top.d.comb += [bank.read_address.eq(seq.act_addr), seq.act_data[r].eq(bank.read_data)]
        banks.append(bank)
    top.d.comb += [weights.read_address.eq(seq.weight_addr), seq.weight_data.eq(weights.read_data)]
    base = half  # the second weight bank
    layout = operand_layout(p)
    beats = []

    async def bench(ctx):
        for i in range(m):  # as the run loader writes them
            for j in range(k):
                bank = banks[i % p.rows]
                ctx.set(bank.write_address, (i // p.rows) * k + j)
                ctx.set(bank.write_data, int(x[i, j]))
                ctx.set(bank.write_enable, 1)
                await ctx.tick()
                ctx.set(bank.write_enable, 0)
        for i in range(k):  # as the layer loader writes them
            for j in range(n):
                ctx.set(weights.write_address, base + (j // p.cols) * k + i)
                ctx.set(weights.write_data, int(codes[i, j]) << (4 * (j % p.cols)))
                ctx.set(weights.write_enable, 1 << (j % p.cols))
                await ctx.tick()
        ctx.set(weights.write_enable, 0)
        for name, value in (("m", m), ("k", k), ("n", n), ("weight_base", base)):
            ctx.set(getattr(seq.run, name), value)
        ctx.set(seq.run.start, 1)
        await ctx.tick()
        ctx.set(seq.run.start, 0)
        expected = sum(1 for _ in tiles(m, n, p.rows, p.cols)) * k
        beats.extend(await get(ctx, seq.operands, expected, rng=random.Random(1), stalls=stalls))
        for _ in range(10):
            await ctx.tick()
        assert not ctx.get(seq.busy) and not ctx.get(seq.operands.valid)  # nothing more

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    index = 0
    for tile in tiles(m, n, p.rows, p.cols):
        for kk in range(k):
            beat = layout.from_bits(beats[index].as_value().value)
            index += 1
            assert (beat.last, beat.rows, beat.cols, beat.col_base) == (
                kk == k - 1,
                tile.rows,
                tile.cols,
                tile.col_base,
            )
            for r in range(tile.rows):
                assert beat.x[r] == x[tile.row_base + r, kk]
            for c in range(tile.cols):
                assert beat.codes[c] == codes[kk, tile.col_base + c]
    assert index == len(beats)
