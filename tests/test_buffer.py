"""`hdl.buffer.BankedRAM`: several banks behave as one RAM with a fixed read latency.

The simulated boards' buffers fit one bank, so the multi-bank path (the ULX3S's
weight buffer has three) is checked here in Amaranth's simulator.
"""

import numpy as np
import pytest
from amaranth import signed, unsigned
from amaranth.sim import Simulator

from hdl.buffer import BankedRAM


def as_shape(pattern: int, shape) -> int:
    """The value of a bit pattern read as `shape`."""
    negative = shape.signed and pattern >> (shape.width - 1)
    return pattern - (1 << shape.width) if negative else pattern


@pytest.mark.parametrize(
    "shape, depth, granularity, banks",
    [(signed(8), 5000, None, 3), (unsigned(12), 9000, 4, 3), (signed(8), 300, None, 1)],
)
def test_banked_ram_reads_back_what_was_written(shape, depth, granularity, banks):
    ram = BankedRAM(shape, depth, granularity=granularity)
    assert ram.banks == banks
    rng = np.random.default_rng(depth)
    width = shape.width
    lanes = width // (granularity or width)
    # Addresses on both sides of every bank boundary, plus random ones.
    boundaries = [b * ram.bank_depth + d for b in range(banks) for d in (-1, 0, 1)]
    randoms = {int(a) for a in rng.integers(0, depth, 40)}
    addresses = sorted({a for a in boundaries if 0 <= a < depth} | randoms)
    bits = (1 << width) - 1  # values are compared as raw bit patterns
    expected = {}

    async def testbench(ctx):
        for address in addresses:
            value = int(rng.integers(0, bits + 1))
            ctx.set(ram.write_address, address)
            ctx.set(ram.write_data, as_shape(value, shape))
            ctx.set(ram.write_enable, (1 << lanes) - 1)
            await ctx.tick()
            expected[address] = value
        ctx.set(ram.write_enable, 0)
        if lanes > 1:  # a write to one lane leaves the others alone
            address = addresses[0]
            ctx.set(ram.write_address, address)
            ctx.set(ram.write_data, as_shape(bits, shape))
            ctx.set(ram.write_enable, 1)
            await ctx.tick()
            ctx.set(ram.write_enable, 0)
            mask = (1 << granularity) - 1
            expected[address] = (expected[address] & ~mask & bits) | mask
        # One read issued per cycle; each answer arrives BankedRAM.READ_LATENCY cycles later.
        reads = list(expected) + list(reversed(list(expected)))
        answers = []
        for cycle in range(len(reads) + BankedRAM.READ_LATENCY):
            if cycle < len(reads):
                ctx.set(ram.read_address, reads[cycle])
            await ctx.tick()
            if cycle >= BankedRAM.READ_LATENCY - 1 and len(answers) < len(reads):
                answers.append(ctx.get(ram.read_data) & bits)
        assert answers == [expected[a] for a in reads]

    sim = Simulator(ram)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
