"""Every pipeline latency the cycle model uses, measured on the block that creates it.

The constants live in `sw.device.latency` and each block exposes its own as a class
constant; if a block's real latency drifts from its constant, a test here fails.
The whole chain (core and device) is checked cycle for cycle by the cocotb suites
and the driver tests against `sw.kernel.cycles`.
"""

from __future__ import annotations

import numpy as np
from amaranth import Module, signed
from amaranth.lib import fifo
from amaranth.sim import Simulator

from hdl.buffer import BankedRAM
from hdl.core import OUTPUT_FIFO_DEPTH, MatmulCore, result_layout
from hdl.requant import Requantizer
from hdl.sequencer import Sequencer
from sw.device import latency
from sw.device.params import CoreParams
from sw.kernel.cycles import core_cycles
from sw.kernel.reference import requantize
from sw.kernel.spec import Requant

PARAMS = CoreParams(rows=2, cols=3, act_bits=8, weight_bits=4, acc_bits=24, channels=8)


def simulate(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_the_blocks_expose_the_contract_latencies():
    assert Requantizer.LATENCY == latency.REQUANT
    assert BankedRAM.READ_LATENCY == latency.BUFFER_READ
    assert MatmulCore.ARRAY_LATENCY == latency.ARRAY
    assert MatmulCore.HANDOVER_LATENCY == latency.HANDOVER
    assert MatmulCore.OUTPUT_FIFO_LATENCY == latency.OUTPUT_FIFO


def test_requantizer_latency():
    """A value in at cycle 0 comes out requantized exactly LATENCY cycles later, its valid
    bit beside it (a valid pipeline of the wrong length would pair it with garbage)."""
    dut = Requantizer(PARAMS)
    spec = Requant([20000], [12], [-7], relu=False, out_bits=12)
    value = 1234
    expected = int(requantize(np.array([[value]]), spec)[0, 0])
    seen = []

    async def bench(ctx):
        control = dut.control
        ctx.set(control.write_enable, 1)
        ctx.set(control.write_data.multiplier, spec.multiplier[0])
        ctx.set(control.write_data.shift, spec.shift[0])
        ctx.set(control.write_data.bias, spec.bias[0])
        await ctx.tick()
        ctx.set(control.write_enable, 0)
        ctx.set(control.enable, 1)
        ctx.set(control.out_bits, spec.out_bits)
        for _ in range(3):  # the table write and the saturation bounds are registered
            await ctx.tick()
        ctx.set(dut.in_valid, 1)
        ctx.set(dut.in_value, value)
        await ctx.tick()
        ctx.set(dut.in_valid, 0)
        ctx.set(dut.in_value, 0)
        for cycle in range(1, 20):
            if ctx.get(dut.out_valid):
                seen.append((cycle, ctx.get(dut.out_value)))
            await ctx.tick()

    simulate(dut, bench)
    assert expected != 0 and seen == [(Requantizer.LATENCY, expected)]


def test_buffer_read_latency():
    dut = BankedRAM(signed(8), 3000)  # several banks

    async def bench(ctx):
        for address, value in ((5, 17), (2500, -3)):
            ctx.set(dut.write_address, address)
            ctx.set(dut.write_data, value)
            ctx.set(dut.write_enable, 1)
            await ctx.tick()
        ctx.set(dut.write_enable, 0)
        ctx.set(dut.read_address, 2500)
        await ctx.tick()
        ctx.set(dut.read_address, 5)
        arrivals = {}
        for cycle in range(1, 8):
            arrivals.setdefault(ctx.get(dut.read_data), cycle)
            await ctx.tick()
        # 2500 asked at cycle 0, 5 at cycle 1 (held from then on)
        assert arrivals[-3] == BankedRAM.READ_LATENCY
        assert arrivals[17] == BankedRAM.READ_LATENCY + 1

    simulate(dut, bench)


def test_output_fifo_latency():
    """The core's output FIFO: a value written at cycle 0 is readable OUTPUT_FIFO_LATENCY later."""
    dut = fifo.SyncFIFOBuffered(width=result_layout(PARAMS).size, depth=OUTPUT_FIFO_DEPTH)

    async def bench(ctx):
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_data, 5)
        await ctx.tick()
        ctx.set(dut.w_en, 0)
        for cycle in range(1, 6):
            if ctx.get(dut.r_rdy):
                assert cycle == MatmulCore.OUTPUT_FIFO_LATENCY
                return
            await ctx.tick()
        raise AssertionError("nothing came out of the FIFO")

    simulate(dut, bench)


def test_core_latency_is_the_sum_of_its_parts():
    """One beat (K = 1), one result: from the cycle the beat is accepted to the cycle the
    result leaves is the model's count for a 1 x 1 x 1 product (both cycles included):
    array + hand-over + a one-entry drain + requantizer + output FIFO."""
    dut = MatmulCore(PARAMS)
    operands = dut.operands

    async def bench(ctx):
        ctx.set(dut.results.ready, 1)
        ctx.set(operands.payload.last, 1)
        ctx.set(operands.payload.rows, 1)
        ctx.set(operands.payload.cols, 1)
        ctx.set(operands.valid, 1)
        await ctx.tick().until(operands.ready)
        accepted_at = 0
        ctx.set(operands.valid, 0)
        for cycle in range(1, 40):
            if ctx.get(dut.results.valid):
                assert cycle - accepted_at + 1 == core_cycles(1, 1, 1, PARAMS.rows, PARAMS.cols)
                return
            await ctx.tick()
        raise AssertionError("no result")

    simulate(dut, bench)


def test_run_start_latency():
    """From a RUN's start (when the device's cycle counter starts) to the core accepting
    its first beat: the sequencer's address register, the buffer read and its FIFO."""
    dut = Sequencer(
        PARAMS,
        read_latency=BankedRAM.READ_LATENCY,
        k_max=8,
        m_max=8,
        n_max=PARAMS.channels,
        act_addr_width=6,
        weight_addr_width=6,
    )
    m = Module()
    m.submodules.sequencer = dut
    # The core takes a beat the cycle it is offered.

    async def bench(ctx):
        ctx.set(dut.operands.ready, 1)
        ctx.set(dut.run.m, 2)
        ctx.set(dut.run.k, 3)
        ctx.set(dut.run.n, 3)
        ctx.set(dut.run.start, 1)
        await ctx.tick()
        ctx.set(dut.run.start, 0)
        for cycle in range(1, 20):
            if ctx.get(dut.operands.valid):
                assert cycle == latency.RUN_START
                return
            await ctx.tick()
        raise AssertionError("no operand beat")

    simulate(m, bench)
