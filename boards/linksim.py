"""A board's device behind its link, simulated: its UART at any rate the board can be
built for, or its USB port.

`link_suite` builds `BoardLink` exactly as `BoardTop` would for ``baud`` as a Verilator
model, and runs the board-link cocotb tests (sim/test_board_link.py) on it: bits on the
rx pin, frames back, results against `sw.kernel`, the frame timeout and the receive
FIFO's overflow. Where the board top samples the rx pin on both clock edges (12 Mbaud
on the iCEBreaker), `DDRInputModel` stands in for its DDR input buffer. The frame
timeout and the receive FIFO are scaled down as in `sim.suites.BoardSuite` (thousands
of cycles instead of millions).
`usb_suite` builds `boards.usb.USBLinkModel` (LUNA's USB serial device and the
device) and runs the USB tests (sim/test_usb_link.py): enumeration, then frames in
bulk transfers.

    python -m boards.linksim icebreaker 12000000
    python -m boards.linksim orangecrab-25f --link usb-fs
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from amaranth import Cat, ClockDomain, ClockSignal, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import board
from .top import BoardLink, uart_timing

TIMEOUT_CYCLES = 3000
FIFO_DEPTH = 32


class DDRInputModel(wiring.Component):
    """`BoardLink` behind a model of the iCE40 DDR input its board top uses: the rx pin
    captured on the rising and on the falling clock edge (SB_IO's D_IN_0 and D_IN_1),
    both registered again on the rising edge (Amaranth's DDR buffer for iCE40), so the
    link gets the pin at t and t + T/2, earliest first, at t + T."""

    def __init__(self, link: BoardLink):
        self.link = link
        super().__init__({"rx_pin": In(1, init=1), "tx_pin": Out(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.domains.falling = ClockDomain("falling", clk_edge="neg", reset_less=True, local=True)
        m.d.comb += ClockSignal("falling").eq(ClockSignal("sync"))
        at_rising, at_falling = Signal(init=1), Signal(init=1)
        m.d.sync += at_rising.eq(self.rx_pin)
        m.d.falling += at_falling.eq(self.rx_pin)
        samples = Signal(2, init=0b11)
        m.d.sync += samples.eq(Cat(at_rising, at_falling))
        m.d.comb += [
            link.rx_pin.eq(samples),
            self.tx_pin.eq(link.tx_pin),
            self.busy.eq(link.busy),
        ]
        return m


def link_suite(board_name: str, baud: int | None = None, testcase: str | None = None) -> dict:
    """Run the board-link tests (or only ``testcase``) at ``baud`` (the board's own when
    None); returns ``{"tests", "failed", "results"}`` and raises if any test fails."""
    from sim.runner import build_model, run_cocotb

    b = board(board_name)
    baud = b.devices.baud if baud is None else baud
    divisor, samples = uart_timing(b, baud)
    params = replace(b.params(), timeout_cycles=TIMEOUT_CYCLES)
    link = BoardLink(params, divisor, samples=samples, fifo_depth=FIFO_DEPTH)
    model = build_model(
        f"board-{b.name}-{baud}baud",
        DDRInputModel(link) if samples == 2 else link,
        family=b.family,
    )
    settings = {
        "device": b.config(),
        "divisor": divisor,  # the host's bit time in clock cycles
        "timeout_cycles": TIMEOUT_CYCLES,
        "fifo_depth": FIFO_DEPTH,
    }
    return run_cocotb(model, "sim.test_board_link", config=settings, testcase=testcase)


def usb_suite(board_name: str, testcase: str | None = None) -> dict:
    """Run the USB link tests (or only ``testcase``) on ``board_name``'s device; as
    `link_suite`."""
    from sim.runner import build_model, run_cocotb
    from sw.device.configs import USB_PRODUCT_ID, USB_VENDOR_ID

    from .usb import LUNA_VERILATOR_WAIVERS, USBLinkModel

    b = board(board_name)
    b.link("usb-fs")  # refuses a board without a USB port
    params = replace(b.params(), timeout_cycles=TIMEOUT_CYCLES)
    waivers = tuple(f"-Wno-{name}" for name in LUNA_VERILATOR_WAIVERS)
    model = build_model(f"usb-{b.name}", USBLinkModel(params), family=b.family, extra_args=waivers)
    settings = {
        "device": b.config(),
        "timeout_cycles": TIMEOUT_CYCLES,
        "vendor_id": USB_VENDOR_ID,
        "product_id": USB_PRODUCT_ID,
    }
    return run_cocotb(model, "sim.test_usb_link", config=settings, testcase=testcase)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("board")
    parser.add_argument("baud", type=int, nargs="?", help="bits per second (default: the board's)")
    parser.add_argument("--link", choices=("uart", "usb-fs"), help="default: the board's")
    args = parser.parse_args(argv)
    try:
        if board(args.board).link(args.link) == "usb-fs":
            if args.baud is not None:
                raise ValueError("a baud rate is for a UART link, not USB")
            outcome = usb_suite(args.board)
            print(f"{args.board} over USB: {outcome['tests'] - outcome['failed']} of "
                  f"{outcome['tests']} USB link tests pass")  # fmt: skip
            return 0 if outcome["failed"] == 0 else 1
        outcome = link_suite(args.board, args.baud)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"{args.board} at {args.baud or board(args.board).devices.baud} baud: "
        f"{outcome['tests'] - outcome['failed']} of {outcome['tests']} board-link tests pass"
    )
    return 0 if outcome["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
