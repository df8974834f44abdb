"""The design that goes on a board: PLL and pins around `BoardLink` (UART, FIFO, device).

`BoardLink` is the UART PHY, a receive FIFO and `hdl.top.Top`, with the UART's two
pins as plain signals, so that it can be simulated whole (sim/test_board_link.py
drives its rx pin bit by bit). All of it runs on the core clock. A UART faster than a
quarter of the core clock samples its rx pin on both clock edges (a DDR input buffer:
two samples a cycle), so the iCEBreaker's 12 Mbaud runs on its 24 MHz core clock, two
cycles a bit. `BoardTop` adds the PLL, the pin buffers and the busy LED for a real
board, and on a board with an FPGA-side USB port can put `boards.usb`'s USB serial
device in the UART's place.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Elaboratable, Module
from amaranth.lib import fifo, io, wiring
from amaranth.lib.wiring import In, Out

from hdl.top import Top
from hdl.uart import MIN_SAMPLES_PER_BIT, UARTReceiver, UARTTransmitter
from sw.device.params import TopParams

from .clocks import USB_HZ, USB_IO_HZ, ecp5_usb_pll, pll_domain, pll_for, usb_domains
from .usb import USBLink

# Bytes the board can take while the device is busy answering (the host normally
# waits for each answer, so this only matters for stray bytes).
RECEIVE_FIFO_DEPTH = 512
# Families whose rx pin can be sampled on both clock edges (Amaranth's DDR buffer on
# an SB_IO), which lets the UART run at up to half the core clock.
DDR_INPUT_FAMILIES = ("ice40",)


# The receiver samples each bit once, in its middle as found from the start bit's
# falling edge, so it tolerates half a bit of drift over the ten bits of a frame,
# less the up-to-one-sample uncertainty of that edge: 2% (both ends' error together)
# keeps well inside that, for any divisor the UART accepts.
BAUD_TOLERANCE = 0.02


def uart_divisor(clock_hz: float, baud: int, samples: int = 1) -> int:
    """Clock cycles per bit; refuses a rate the clock cannot make within 2%, or one
    that leaves a bit fewer than 4 samples (the UART's minimum) at ``samples`` samples
    a cycle."""
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"baud={baud!r} must be a positive whole number of bits per second")
    fastest = int(clock_hz * samples // MIN_SAMPLES_PER_BIT)
    if baud > fastest:
        edges = "both clock edges" if samples == 2 else "each clock cycle"
        raise ValueError(
            f"baud={baud} is too fast for a {clock_hz / 1e6:g} MHz UART clock; allowed range "
            f"is up to {fastest} ({MIN_SAMPLES_PER_BIT} samples per bit, sampling on {edges})"
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


def uart_timing(board, baud: int) -> tuple[int, int]:
    """The UART's divisor (core clock cycles per bit) and rx samples per cycle for
    ``board`` at ``baud``: 1, or 2 (both clock edges) where one would leave a bit fewer
    than `MIN_SAMPLES_PER_BIT` samples and the family has DDR inputs
    (`DDR_INPUT_FAMILIES`). Refuses a rate beyond the board's USB bridge."""
    if isinstance(baud, int) and not isinstance(baud, bool) and baud > board.max_baud:
        raise ValueError(
            f"baud={baud} is beyond the {board.name}'s USB-serial bridge; allowed range is "
            f"up to {board.max_baud}"
        )
    clock_hz = board.devices.clock_hz
    samples = 1
    if isinstance(baud, int) and baud * MIN_SAMPLES_PER_BIT > clock_hz:
        if board.family in DDR_INPUT_FAMILIES:
            samples = 2
    return uart_divisor(clock_hz, baud, samples), samples


def core_pll(board):
    """The PLL that makes ``board``'s core clock from its oscillator (refuses a clock it
    cannot make exactly)."""
    input_hz = board.platform().default_clk_frequency
    return pll_for(board.family, input_hz, board.devices.clock_hz)


def board_clock(m: Module, platform, board, pll):
    """The ``sync`` domain from ``board``'s oscillator through ``pll``, constrained to its
    clock; returns the oscillator's signal (the USB PLL takes it too)."""
    clock_pin = platform.request(platform.default_clk, dir="-")
    if board.family == "ice40":
        clock_in = clock_pin  # the PLL takes the pad itself
    else:
        m.submodules.clock_buffer = clock_buffer = io.Buffer("i", clock_pin)
        clock_in = clock_buffer.i
    sync = pll_domain(m, board.family, clock_in, pll)
    platform.add_clock_constraint(sync.clk, pll.output_hz)
    return clock_in


class BoardLink(wiring.Component):
    """UART receiver -> receive FIFO -> device -> UART transmitter, on the core clock.

    ``divisor`` is clock cycles per bit; ``rx_pin`` carries ``samples`` samples of the
    line a cycle (2 from a DDR input buffer), the earliest in bit 0."""

    def __init__(
        self,
        params: TopParams,
        divisor: int,
        *,
        samples: int = 1,
        fifo_depth: int = RECEIVE_FIFO_DEPTH,
    ):
        self.params, self.divisor, self.samples = params, divisor, samples
        self.fifo_depth = fifo_depth
        idle = (1 << samples) - 1
        super().__init__({"rx_pin": In(samples, init=idle), "tx_pin": Out(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.receiver = receiver = UARTReceiver(self.divisor, self.samples)
        m.submodules.transmitter = transmitter = UARTTransmitter(self.divisor)
        m.submodules.device = device = Top(self.params)
        m.submodules.inbox = inbox = fifo.SyncFIFOBuffered(width=8, depth=self.fifo_depth)
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
    """``link``: ``"uart"`` or ``"usb-fs"`` (`boards.usb`), one of the board's links (its
    own when None); ``baud``: the UART's rate in bits per second (the board record's
    when None)."""

    def __init__(
        self, board, mode: str | None = None, *, baud: int | None = None, link: str | None = None
    ):
        self.board = board
        self.params = board.params(mode)
        self.config = board.config(mode)
        devices = board.devices
        self.link = board.link(link)
        # Checked before anything is synthesized: the clocks the PLLs must make exactly,
        # and the UART divisor the clock gives.
        input_hz = board.platform().default_clk_frequency
        if self.link == "usb-fs":
            if baud is not None:
                raise ValueError(f"baud={baud} is for a UART; this build's link is USB")
            if devices.family != "ecp5":
                raise ValueError(f"the USB link's clocks are made for ECP5, not {devices.family}")
            self.baud = self.divisor = self.samples = None
            self.usb_pll = ecp5_usb_pll(input_hz)
        else:
            self.baud = devices.baud if baud is None else baud
            self.divisor, self.samples = uart_timing(board, self.baud)
        self.pll = core_pll(board)

    @property
    def clock_hz(self) -> float:
        """The core clock (the PLL's output)."""
        return self.pll.output_hz

    def elaborate(self, platform):
        m = Module()
        clock_in = board_clock(m, platform, self.board, self.pll)
        if self.link == "usb-fs":
            link = m.submodules.link = self._usb_link(m, platform, clock_in)
        else:
            link = m.submodules.link = self._uart_link(m, platform)
        if self.board.busy_led is not None:
            led = platform.request("led", self.board.busy_led, dir="-")
            m.submodules.led = led_buffer = io.Buffer("o", led)
            m.d.comb += led_buffer.o.eq(link.busy)
        return m

    def _uart_link(self, m, platform) -> BoardLink:
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        if self.samples == 2:  # the pin seen on both clock edges: i[0] rising, i[1] falling
            m.submodules.rx_pin = rx_pin = io.DDRBuffer("i", uart.rx)
            rx_samples = rx_pin.i
        else:
            m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
            rx_samples = rx_pin.i
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        link = BoardLink(self.params, self.divisor, samples=self.samples)
        m.d.comb += [link.rx_pin.eq(rx_samples), tx_pin.o.eq(link.tx_pin)]
        return link

    def _usb_link(self, m, platform, clock_in) -> USBLink:
        usb_io, usb = usb_domains(m, clock_in, self.usb_pll)
        platform.add_clock_constraint(usb_io.clk, USB_IO_HZ)
        platform.add_clock_constraint(usb.clk, USB_HZ)
        pins = platform.request("usb", 0, dir={"d_p": "-", "d_n": "-", "pullup": "-"})
        # LUNA's gateware PHY drives each line through an i/o/oe buffer.
        buffers = USBPins(
            d_p=io.Buffer("io", pins.d_p),
            d_n=io.Buffer("io", pins.d_n),
            pullup=io.Buffer("o", pins.pullup),
        )
        m.submodules.usb_d_p, m.submodules.usb_d_n = buffers.d_p, buffers.d_n
        m.submodules.usb_pullup = buffers.pullup
        return USBLink(self.params, buffers, product=f"qmatmul {self.config}")


@dataclass
class USBPins:
    """The USB lines as LUNA's gateware PHY wants them: ``d_p``/``d_n`` with ``i``, ``o``
    and ``oe``, ``pullup`` with ``o``."""

    d_p: io.Buffer
    d_n: io.Buffer
    pullup: io.Buffer
