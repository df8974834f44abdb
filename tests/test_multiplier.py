"""`hdl.multiplier.times_constant`: a multiply by a constant as shifts and adds."""

import pytest
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator

from hdl.multiplier import times_constant


@pytest.mark.parametrize("constant", [0, 1, 2, 3, 4, 12, 37, 255])
def test_times_constant_matches_the_product(constant):
    m = Module()
    value = Signal(signed(9))
    product = Signal(signed(20))
    m.d.comb += product.eq(times_constant(value, constant))
    got = {}

    async def testbench(ctx):
        for v in range(-256, 256, 7):
            ctx.set(value, v)
            got[v] = ctx.get(product)

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert got == {v: v * constant for v in range(-256, 256, 7)}


def test_times_constant_refuses_a_negative_constant():
    with pytest.raises(ValueError, match="constant -3 must be non-negative"):
        times_constant(Signal(8), -3)
