"""The core alone on a board: `MatmulCore` with nothing of the device around it.

Published FPGA matmul arrays usually report their array by itself; ours reports the
whole device (protocol engine, buffers, link). `qmatmul bitstream <board>
--core-only` builds the board's `MatmulCore` on its own, so the two can be compared
like for like: every input of the core comes from a stimulus register that a
linear-feedback shift register fills one bit a cycle (the tools cannot predict
them, so nothing is optimized away), and every output is folded into one flip-flop
that drives the board's LED. The core runs on the board's own clock and PLL.

What the harness adds to the core, and is counted in the report with it: the
stimulus register (one flip-flop per core input bit), the 32-bit LFSR and an XOR tree
over the core's outputs (`CoreHarness.flip_flops` counts the flip-flops).
"""

from __future__ import annotations

from amaranth import Cat, Elaboratable, Module, Signal, Value
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from hdl.core import MatmulCore
from sw.device.params import CoreParams

from .top import board_clock, core_pll

# A maximal-length 32-bit LFSR: x^32 + x^22 + x^2 + x + 1.
LFSR_TAPS = (31, 21, 1, 0)


def core_ports(core: MatmulCore) -> tuple[list[Value], list[Value]]:
    """The core's input and output ports, each flattened to plain values."""
    inputs, outputs = [], []
    for _path, member, value in core.signature.flatten(core):
        (inputs if member.flow == In else outputs).append(Value.cast(value))
    return inputs, outputs


class CoreHarness(wiring.Component):
    """`MatmulCore(params)` driven by pseudo-random inputs; ``out`` is the XOR of its outputs."""

    def __init__(self, params: CoreParams):
        self.core = MatmulCore(params)
        inputs, _ = core_ports(self.core)
        self.stimulus_bits = sum(len(value) for value in inputs)
        # The harness's own flip-flops: stimulus, LFSR and the output's.
        self.flip_flops = self.stimulus_bits + 32 + 1
        super().__init__({"out": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        inputs, outputs = core_ports(core)
        lfsr = Signal(32, init=1)
        stimulus = Signal(self.stimulus_bits)
        feedback = Cat(lfsr[tap] for tap in LFSR_TAPS).xor()
        m.d.sync += [
            lfsr.eq(Cat(feedback, lfsr[:-1])),
            stimulus.eq(Cat(lfsr[-1], stimulus[:-1])),
        ]
        m.d.comb += Cat(*inputs).eq(stimulus)
        m.d.sync += self.out.eq(Cat(*outputs).xor())
        return m


class CoreOnlyTop(Elaboratable):
    """A board's PLL, its core in a `CoreHarness`, and the LED."""

    def __init__(self, board, mode: str | None = None):
        if board.busy_led is None:
            raise ValueError(
                f"{board.name} has no plain LED for the core-only build's output; build it on "
                "a board with the same FPGA (its core is the same design)"
            )
        self.board = board
        self.params = board.params(mode)
        self.harness = CoreHarness(self.params.core)
        self.pll = core_pll(board)

    @property
    def clock_hz(self) -> float:
        return self.pll.output_hz

    def elaborate(self, platform):
        m = Module()
        board_clock(m, platform, self.board, self.pll)
        m.submodules.harness = self.harness
        led = platform.request("led", self.board.busy_led, dir="-")
        m.submodules.led = led_buffer = io.Buffer("o", led)
        m.d.comb += led_buffer.o.eq(self.harness.out)
        return m
