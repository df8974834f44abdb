"""`hdl.requant.Requantizer` with its multiply cut into pieces, as on ECP5.

The Verilator suites run the whole-multiply form (no ECP5 platform there); this runs
the piecewise form in Amaranth's simulator against `sw.kernel.reference.requantize`.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hdl.requant import ECP5_PIECE_BITS, Requantizer
from sw.device.params import CoreParams
from sw.kernel.reference import requantize
from sw.kernel.spec import REQUANT_MULTIPLIER_BITS, Requant


@pytest.mark.parametrize("acc_bits, piece_bits", [(32, ECP5_PIECE_BITS), (18, 5)])
def test_piecewise_multiply_matches_the_reference(acc_bits, piece_bits):
    params = CoreParams(rows=1, cols=1, act_bits=8, weight_bits=4, acc_bits=acc_bits, channels=4)
    dut = Requantizer(params, piece_bits=piece_bits)
    rng = np.random.default_rng(acc_bits)
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    channels = 4
    requant = Requant(
        multiplier=[int(v) for v in rng.integers(0, 1 << REQUANT_MULTIPLIER_BITS, channels)],
        # Shifts that bring most products into `out_bits`, so few results saturate.
        shift=[int(v) for v in rng.integers(acc_bits - 2, acc_bits + 6, channels)],
        bias=[int(v) for v in rng.integers(lo // 2, hi // 2, channels)],
        relu=False,
        out_bits=16,
    )
    values = [lo, hi, -1, 0, 1] + [int(v) for v in rng.integers(lo // 2, hi // 2, 60)]
    channel_of = [i % channels for i in range(len(values))]
    acc = np.zeros((len(values), channels), dtype=np.int64)
    acc[np.arange(len(values)), channel_of] = values
    expected = requantize(acc, requant)[np.arange(len(values)), channel_of].tolist()
    assert len(set(expected)) > len(values) // 2  # mostly distinct, not clamped
    got = []

    async def testbench(ctx):
        control = dut.control
        for channel in range(channels):
            ctx.set(control.write_enable, 1)
            ctx.set(control.write_channel, channel)
            ctx.set(control.write_data.multiplier, requant.multiplier[channel])
            ctx.set(control.write_data.shift, requant.shift[channel])
            ctx.set(control.write_data.bias, requant.bias[channel])
            await ctx.tick()
        ctx.set(control.write_enable, 0)
        ctx.set(control.enable, 1)
        ctx.set(control.out_bits, requant.out_bits)
        await ctx.tick()
        await ctx.tick()  # the saturation bounds are registered
        for cycle in range(len(values) + Requantizer.LATENCY + 1):
            if cycle < len(values):
                ctx.set(dut.in_valid, 1)
                ctx.set(dut.in_value, values[cycle])
                ctx.set(dut.in_channel, channel_of[cycle])
            else:
                ctx.set(dut.in_valid, 0)
            await ctx.tick()
            if ctx.get(dut.out_valid):
                got.append(ctx.get(dut.out_value))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert got == expected
