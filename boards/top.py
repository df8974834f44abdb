"""The design that goes on a board: PLL, UART PHY, a receive FIFO, and `hdl.top.Top`."""

from __future__ import annotations

from amaranth import Elaboratable, Module
from amaranth.lib import fifo, io

from hdl.top import Top, TopParams
from hdl.uart import UARTReceiver, UARTTransmitter

from .clocks import pll_domain

# Bytes the board can take while the device is busy answering (the host normally
# waits for each answer, so this only matters for stray bytes).
RECEIVE_FIFO_DEPTH = 512


class BoardTop(Elaboratable):
    def __init__(self, board, params: TopParams):
        self.board = board
        self.params = params
        self.clock_hz: float | None = None  # known once elaborated (the PLL's exact output)

    def elaborate(self, platform):
        m = Module()
        board = self.board
        clock_pin = platform.request(platform.default_clk, dir="-")
        if board.family == "ice40":
            clock_in = clock_pin  # the PLL takes the pad itself
        else:
            m.submodules.clock_buffer = clock_buffer = io.Buffer("i", clock_pin)
            clock_in = clock_buffer.i
        input_hz = platform.default_clk_frequency
        sync, self.clock_hz = pll_domain(m, board.family, clock_in, input_hz, board.target_hz)
        platform.add_clock_constraint(sync.clk, self.clock_hz)

        divisor = round(self.clock_hz / board.baud)
        error = abs(self.clock_hz / divisor - board.baud) / board.baud
        if error > 0.02:
            raise ValueError(
                f"{self.clock_hz / 1e6:g} MHz cannot make {board.baud} baud within 2% "
                f"(off by {error:.1%})"
            )
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        m.submodules.receiver = receiver = UARTReceiver(divisor)
        m.submodules.transmitter = transmitter = UARTTransmitter(divisor)
        m.submodules.inbox = inbox = fifo.SyncFIFOBuffered(width=8, depth=RECEIVE_FIFO_DEPTH)
        m.submodules.device = device = Top(self.params)
        m.d.comb += [
            receiver.pin.eq(rx_pin.i),
            tx_pin.o.eq(transmitter.pin),
            inbox.w_data.eq(receiver.bytes.payload),
            inbox.w_en.eq(receiver.bytes.valid),
            receiver.bytes.ready.eq(1),  # a byte that finds the FIFO full is lost
            device.rx.payload.eq(inbox.r_data),
            device.rx.valid.eq(inbox.r_rdy),
            inbox.r_en.eq(device.rx.ready),
            transmitter.bytes.payload.eq(device.tx.payload),
            transmitter.bytes.valid.eq(device.tx.valid),
            device.tx.ready.eq(transmitter.bytes.ready),
        ]
        if board.busy_led is not None:
            led = platform.request("led", board.busy_led, dir="-")
            m.submodules.led = led_buffer = io.Buffer("o", led)
            m.d.comb += led_buffer.o.eq(~device.idle)
        return m
