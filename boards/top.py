"""The design that goes on a board: PLL and pins around `BoardLink` (UART, FIFO, device).

`BoardLink` is everything clocked by the core clock: the UART PHY, a receive FIFO
and `hdl.top.Top`, with the UART's two pins as plain signals, so that it can be
simulated whole (tests/test_board_link.py drives its rx pin bit by bit). `BoardTop`
adds the PLL, the pin buffers and the busy LED for a real board.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module
from amaranth.lib import fifo, io, wiring
from amaranth.lib.wiring import In, Out

from hdl.top import Top
from hdl.uart import UARTReceiver, UARTTransmitter
from sw.device.params import TopParams

from .clocks import pll_domain, pll_for

# Bytes the board can take while the device is busy answering (the host normally
# waits for each answer, so this only matters for stray bytes).
RECEIVE_FIFO_DEPTH = 512


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit; refuses a clock that cannot make ``baud`` within 2%."""
    divisor = round(clock_hz / baud)
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(
            f"{clock_hz / 1e6:g} MHz cannot make {baud} baud within 2% (off by {error:.1%})"
        )
    return divisor


class BoardLink(wiring.Component):
    """UART receiver -> receive FIFO -> device -> UART transmitter, all in ``sync``."""

    def __init__(self, params: TopParams, divisor: int, *, fifo_depth: int = RECEIVE_FIFO_DEPTH):
        self.params, self.divisor, self.fifo_depth = params, divisor, fifo_depth
        super().__init__({"rx_pin": In(1, init=1), "tx_pin": Out(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.receiver = receiver = UARTReceiver(self.divisor)
        m.submodules.transmitter = transmitter = UARTTransmitter(self.divisor)
        m.submodules.inbox = inbox = fifo.SyncFIFOBuffered(width=8, depth=self.fifo_depth)
        m.submodules.device = device = Top(self.params)
        # A UART cannot hold the host back: a byte that finds the FIFO full is lost (the
        # receiver keeps only the newest), and the frame's CRC catches it.
        wiring.connect(m, receiver.bytes, inbox.w_stream)
        wiring.connect(m, inbox.r_stream, device.rx)
        wiring.connect(m, device.tx, transmitter.bytes)
        m.d.comb += [
            receiver.pin.eq(self.rx_pin),
            self.tx_pin.eq(transmitter.pin),
            self.busy.eq(~device.idle),
        ]
        return m


class BoardTop(Elaboratable):
    def __init__(self, board, mode: str | None = None):
        self.board = board
        self.params = board.params(mode)
        devices = board.devices
        # Both checked before anything is synthesized: the clock the PLL must make
        # exactly, and the UART divisor that clock gives.
        input_hz = board.platform().default_clk_frequency
        self.pll = pll_for(devices.family, input_hz, devices.clock_hz)
        self.divisor = uart_divisor(devices.clock_hz, devices.baud)

    @property
    def clock_hz(self) -> float:
        return self.pll.output_hz

    def elaborate(self, platform):
        m = Module()
        clock_pin = platform.request(platform.default_clk, dir="-")
        if self.board.family == "ice40":
            clock_in = clock_pin  # the PLL takes the pad itself
        else:
            m.submodules.clock_buffer = clock_buffer = io.Buffer("i", clock_pin)
            clock_in = clock_buffer.i
        sync = pll_domain(m, self.board.family, clock_in, self.pll)
        platform.add_clock_constraint(sync.clk, self.clock_hz)

        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        m.submodules.link = link = BoardLink(self.params, self.divisor)
        m.d.comb += [link.rx_pin.eq(rx_pin.i), tx_pin.o.eq(link.tx_pin)]
        if self.board.busy_led is not None:
            led = platform.request("led", self.board.busy_led, dir="-")
            m.submodules.led = led_buffer = io.Buffer("o", led)
            m.d.comb += led_buffer.o.eq(link.busy)
        return m
