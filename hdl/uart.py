"""UART PHY (8 data bits, no parity, 1 stop bit) between the board's pins and byte streams.

``divisor`` is clock cycles per bit (at least 4). The receiver finds the middle of
the start bit and samples every ``divisor`` cycles from there; a start bit that is
gone at its middle is a glitch and ignored, a missing stop bit drops the byte.
A UART cannot hold the host back, so received bytes go through a FIFO in the
board top; the protocol's CRC catches anything lost to an overflow.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


class UARTReceiver(wiring.Component):
    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError(f"divisor={divisor} is too small; a bit needs at least 4 cycles")
        self.divisor = divisor
        super().__init__({"pin": In(1, init=1), "bytes": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.pin, line, init=1)
        timer = Signal(range(self.divisor))
        bit = Signal(range(9))
        shift = Signal(8)
        with m.If(self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], line)), timer.eq(self.divisor - 1),
                                 bit.eq(bit + 1)]  # fmt: skip
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += [self.bytes.payload.eq(shift), self.bytes.valid.eq(1)]
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError(f"divisor={divisor} is too small; a bit needs at least 4 cycles")
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
