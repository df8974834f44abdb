"""The design that goes on a board: PLL and pins around `BoardLink` (UART, FIFO, device).

`BoardLink` is the UART PHY, a receive FIFO and `hdl.top.Top`, with the UART's two
pins as plain signals, so that it can be simulated whole (sim/test_board_link.py
drives its rx pin bit by bit). Normally all of it runs on the core clock; a UART
faster than a quarter of the core clock runs in a ``uart`` domain of its own at twice
the core clock (the iCEBreaker's 12 Mbaud: 48 MHz beside a 24 MHz core), with
asynchronous FIFOs both ways. `BoardTop` adds the PLL, the pin buffers and the busy
LED for a real board.
"""

from __future__ import annotations

from amaranth import DomainRenamer, Elaboratable, Module
from amaranth.lib import fifo, io, wiring
from amaranth.lib.wiring import In, Out

from hdl.top import Top
from hdl.uart import UARTReceiver, UARTTransmitter
from sw.device.params import TopParams

from .clocks import pll_domain, pll_domains_with_fast_uart, pll_for

# Bytes the board can take while the device is busy answering (the host normally
# waits for each answer, so this only matters for stray bytes).
RECEIVE_FIFO_DEPTH = 512
# With the UART in its own clock domain, bytes cross between it and the core through
# asynchronous FIFOs this deep: shallow, so that their pointer logic is short for the
# UART's faster clock (a byte takes 40 of its cycles, and the core's side empties them
# at once), and still in block RAM; the receive FIFO proper stays on the core's side.
# On the iCEBreaker the UART's side reached 35 MHz (of 48) with the 512-byte receive
# FIFO itself asynchronous and 45.7 MHz with these; 4 deep (flip-flops) did not place.
CROSSING_FIFO_DEPTH = 16
# Families whose board top can run the UART at twice the core clock (a second PLL output).
FAST_UART_FAMILIES = ("ice40",)


# The receiver samples each bit once, in its middle as found from the start bit's
# falling edge, so it tolerates half a bit of drift over the ten bits of a frame,
# less the up-to-one-cycle uncertainty of that edge: 2% (both ends' error together)
# keeps well inside that, for any divisor the UART accepts.
BAUD_TOLERANCE = 0.02
MIN_DIVISOR = 4  # hdl.uart: a bit needs at least 4 clock cycles


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit; refuses a rate the clock cannot make within 2%, or one
    that leaves a bit fewer than 4 cycles (the UART's minimum)."""
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"baud={baud!r} must be a positive whole number of bits per second")
    fastest = int(clock_hz // MIN_DIVISOR)
    if baud > fastest:
        raise ValueError(
            f"baud={baud} is too fast for a {clock_hz / 1e6:g} MHz UART clock; allowed range "
            f"is up to {fastest} ({MIN_DIVISOR} clock cycles per bit)"
        )
    divisor = round(clock_hz / baud)
    error = abs(clock_hz / divisor - baud) / baud
    if error > BAUD_TOLERANCE:
        raise ValueError(
            f"{clock_hz / 1e6:g} MHz cannot make {baud} baud within 2% (off by {error:.1%}): "
            f"the nearest rates are {clock_hz / divisor:.0f} and "
            f"{clock_hz / (divisor + 1):.0f} baud"
        )
    return divisor


def uart_clocking(board, baud: int) -> tuple[int, int]:
    """The UART's clock (Hz) and divisor for ``board`` at ``baud``: the core clock, or
    twice it where a bit would be shorter than `MIN_DIVISOR` core cycles and the family
    can make it (`FAST_UART_FAMILIES`). Refuses a rate beyond the board's USB bridge."""
    if isinstance(baud, int) and not isinstance(baud, bool) and baud > board.max_baud:
        raise ValueError(
            f"baud={baud} is beyond the {board.name}'s USB-serial bridge; allowed range is "
            f"up to {board.max_baud}"
        )
    clock_hz = board.devices.clock_hz
    if isinstance(baud, int) and baud * MIN_DIVISOR > clock_hz:
        if board.family in FAST_UART_FAMILIES:
            clock_hz *= 2  # the PLL makes the UART's clock; the core's is its half
    return clock_hz, uart_divisor(clock_hz, baud)


class BoardLink(wiring.Component):
    """UART receiver -> receive FIFO -> device -> UART transmitter.

    ``divisor`` is clock cycles per bit of the UART's own clock: ``sync`` (the core's)
    when ``uart_domain`` is ``"sync"``, else that domain's, with an asynchronous FIFO
    each way between it and the device."""

    def __init__(
        self,
        params: TopParams,
        divisor: int,
        *,
        fifo_depth: int = RECEIVE_FIFO_DEPTH,
        uart_domain: str = "sync",
    ):
        self.params, self.divisor, self.fifo_depth = params, divisor, fifo_depth
        self.uart_domain = uart_domain
        super().__init__({"rx_pin": In(1, init=1), "tx_pin": Out(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        in_uart_domain = DomainRenamer(self.uart_domain)
        m.submodules.receiver = receiver = in_uart_domain(UARTReceiver(self.divisor))
        m.submodules.transmitter = transmitter = in_uart_domain(UARTTransmitter(self.divisor))
        m.submodules.device = device = Top(self.params)
        m.submodules.inbox = inbox = fifo.SyncFIFOBuffered(width=8, depth=self.fifo_depth)
        received, to_transmit = receiver.bytes, transmitter.bytes
        if self.uart_domain != "sync":
            m.submodules.crossing_in = crossing_in = fifo.AsyncFIFO(
                width=8, depth=CROSSING_FIFO_DEPTH, w_domain=self.uart_domain, r_domain="sync"
            )
            # Buffered read port: a register between the transmitter's handshake and the
            # FIFO's read address (that path alone missed 48 MHz).
            m.submodules.crossing_out = crossing_out = fifo.AsyncFIFOBuffered(
                width=8, depth=CROSSING_FIFO_DEPTH, w_domain="sync", r_domain=self.uart_domain
            )
            wiring.connect(m, received, crossing_in.w_stream)
            wiring.connect(m, crossing_out.r_stream, to_transmit)
            received, to_transmit = crossing_in.r_stream, crossing_out.w_stream
        # A UART cannot hold the host back: a byte that finds the FIFO full is lost (the
        # receiver keeps only the newest), and the frame's CRC catches it.
        wiring.connect(m, received, inbox.w_stream)
        wiring.connect(m, inbox.r_stream, device.rx)
        wiring.connect(m, device.tx, to_transmit)
        m.d.comb += [
            receiver.pin.eq(self.rx_pin),
            self.tx_pin.eq(transmitter.pin),
            self.busy.eq(~device.idle),
        ]
        return m


class BoardTop(Elaboratable):
    """``baud``: the UART's rate in bits per second (the board record's when None)."""

    def __init__(self, board, mode: str | None = None, *, baud: int | None = None):
        self.board = board
        self.params = board.params(mode)
        devices = board.devices
        # Both checked before anything is synthesized: the clock the PLL must make
        # exactly, and the UART divisor that clock gives.
        input_hz = board.platform().default_clk_frequency
        self.baud = devices.baud if baud is None else baud
        self.uart_clock_hz, self.divisor = uart_clocking(board, self.baud)
        self.pll = pll_for(devices.family, input_hz, self.uart_clock_hz)

    @property
    def uart_domain(self) -> str:
        return "sync" if self.uart_clock_hz == self.board.devices.clock_hz else "uart"

    @property
    def clock_hz(self) -> float:
        """The core clock (the PLL's output, or its half beside a fast UART)."""
        return self.pll.output_hz * self.board.devices.clock_hz / self.uart_clock_hz

    def elaborate(self, platform):
        m = Module()
        clock_pin = platform.request(platform.default_clk, dir="-")
        if self.board.family == "ice40":
            clock_in = clock_pin  # the PLL takes the pad itself
        else:
            m.submodules.clock_buffer = clock_buffer = io.Buffer("i", clock_pin)
            clock_in = clock_buffer.i
        if self.uart_domain == "sync":
            sync = pll_domain(m, self.board.family, clock_in, self.pll)
        else:
            sync, uart_clock = pll_domains_with_fast_uart(m, clock_in, self.pll, self.uart_domain)
            platform.add_clock_constraint(uart_clock.clk, self.pll.output_hz)
        platform.add_clock_constraint(sync.clk, self.clock_hz)

        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        m.submodules.link = link = BoardLink(
            self.params, self.divisor, uart_domain=self.uart_domain
        )
        m.d.comb += [link.rx_pin.eq(rx_pin.i), tx_pin.o.eq(link.tx_pin)]
        if self.board.busy_led is not None:
            led = platform.request("led", self.board.busy_led, dir="-")
            m.submodules.led = led_buffer = io.Buffer("o", led)
            m.d.comb += led_buffer.o.eq(link.busy)
        return m
