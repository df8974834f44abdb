"""UART PHY (8 data bits, no parity, 1 stop bit) between the board's pins and byte streams.

``divisor`` is clock cycles per bit. The receiver sees ``samples`` samples of the line
each clock cycle (1, or 2 from a DDR input buffer, which samples the pin on both clock
edges), at least 4 a bit: it finds the middle of the start bit to within a sample and
takes the sample there and every ``divisor`` cycles on; a start bit that is gone at
its middle is a glitch and ignored, a missing stop bit drops the byte. With 2 samples
a cycle a UART runs at half the clock rate (12 Mbaud on a 24 MHz clock) without a
faster clock domain.
A UART cannot hold the host back, so received bytes go through a FIFO in the
board top; the protocol's CRC catches anything lost to an overflow.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

MIN_SAMPLES_PER_BIT = 4


class UARTReceiver(wiring.Component):
    """``pin``: ``samples`` samples of the line per cycle, the earliest in bit 0."""

    def __init__(self, divisor: int, samples: int = 1):
        if samples not in (1, 2):
            raise ValueError(f"samples={samples} must be 1 or 2 (a DDR input) per cycle")
        if divisor * samples < MIN_SAMPLES_PER_BIT:
            raise ValueError(
                f"divisor={divisor} with {samples} sample(s) a cycle is too small; a bit "
                f"needs at least {MIN_SAMPLES_PER_BIT} samples"
            )
        self.divisor, self.samples = divisor, samples
        idle = (1 << samples) - 1
        super().__init__({"pin": In(samples, init=idle), "bytes": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        n, idle = self.samples, (1 << self.samples) - 1
        line = Signal(n, init=idle)
        m.submodules.sync = FFSynchronizer(self.pin, line, init=idle)
        # Which sample of a cycle is a bit's middle (1 bit even for one sample a cycle: a
        # 0-bit signal becomes an invalid Verilog range).
        phase = Signal(range(max(n, 2)))
        sample = line.bit_select(phase, 1)
        timer = Signal(range(self.divisor))
        bit = Signal(range(9))
        shift = Signal(8)
        with m.If(self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        # The start bit's middle is half a bit after its first low sample j.
        half_bit = self.divisor * n // 2

        def start_bit_at(j):
            # The start bit's first low sample is sample j of this cycle: take its middle,
            # and every bit's after it, in sample (j + half a bit) % n of later cycles.
            m.d.sync += [timer.eq((j + half_bit) // n - 1), phase.eq((j + half_bit) % n)]
            m.next = "START"

        with m.FSM():
            with m.State("IDLE"):
                for j in reversed(range(n)):  # the earliest low sample is assigned last
                    with m.If(~line[j]):
                        start_bit_at(j)
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(sample):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], sample)), timer.eq(self.divisor - 1),
                                 bit.eq(bit + 1)]  # fmt: skip
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(sample):
                        m.d.sync += [self.bytes.payload.eq(shift), self.bytes.valid.eq(1)]
                    m.next = "IDLE"
                    # The next start bit may begin in a later sample of this same cycle (a
                    # host sending back to back, its clock a little fast): found now, not
                    # a cycle late, which would put every bit's sample off its middle.
                    for j in reversed(range(1, n)):
                        with m.If((phase < j) & ~line[j]):
                            start_bit_at(j)
        return m


class UARTTransmitter(wiring.Component):
    def __init__(self, divisor: int):
        if divisor < 2:
            raise ValueError(f"divisor={divisor} is too small; a bit needs at least 2 cycles")
        self.divisor = divisor
        super().__init__({"bytes": In(stream.Signature(8)), "pin": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        frame = Signal(10, init=1)  # start bit, 8 data bits, stop bit; shifted out LSB first
        left = Signal(range(11))
        # `ready` is a register of its own: were it `left == 0`, Yosys would fold the
        # load of `left` into a set/reset input that depends on `left` itself, which
        # its abc9 mapper sees as a combinational loop and has to break.
        idle = Signal(init=1)
        next_left = Signal.like(left)
        m.d.comb += [self.pin.eq(frame[0]), self.bytes.ready.eq(idle), next_left.eq(left)]
        with m.If(self.bytes.valid & idle):
            m.d.sync += [frame.eq(Cat(0, self.bytes.payload, 1)), timer.eq(self.divisor - 1)]
            m.d.comb += next_left.eq(10)
        with m.Elif(left != 0):
            with m.If(timer == 0):
                m.d.sync += [frame.eq(Cat(frame[1:], 1)), timer.eq(self.divisor - 1)]
                m.d.comb += next_left.eq(left - 1)
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        m.d.sync += [left.eq(next_left), idle.eq(next_left == 0)]
        return m
