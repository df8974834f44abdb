"""A board's device behind its UART at any rate the board can be built for, simulated.

`link_suite` builds `BoardLink` exactly as `BoardTop` would for ``baud`` (the UART on
the core clock, or in its own domain at twice it) as a Verilator model, and runs the
board-link cocotb tests (sim/test_board_link.py) on it: bits on the rx pin, frames
back, results against `sw.kernel`, the frame timeout and the receive FIFO's overflow.
With a UART domain, `boards.cocotb_fast_uart` runs the same tests with that domain's
clock started beside the core's. The frame timeout and the receive FIFO are scaled
down as in `sim.suites.BoardSuite` (thousands of cycles instead of millions).

    python -m boards.linksim icebreaker 12000000
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from . import board
from .top import BoardLink, uart_clocking

TIMEOUT_CYCLES = 3000
FIFO_DEPTH = 32


def link_suite(board_name: str, baud: int | None = None) -> dict:
    """Run the board-link tests at ``baud`` (the board's own when None); returns
    ``{"tests", "failed", "results"}`` and raises if any test fails."""
    from sim.runner import build_model, run_cocotb

    b = board(board_name)
    baud = b.devices.baud if baud is None else baud
    uart_clock_hz, divisor = uart_clocking(b, baud)
    ratio = uart_clock_hz // b.devices.clock_hz  # 1, or 2 with a UART domain
    domain = "sync" if ratio == 1 else "uart"
    params = replace(b.params(), timeout_cycles=TIMEOUT_CYCLES)
    link = BoardLink(params, divisor, fifo_depth=FIFO_DEPTH, uart_domain=domain)
    model = build_model(f"board-{b.name}-{baud}baud", link, family=b.family)
    settings = {
        "device": b.config(),
        # The host's bit time in core-clock cycles (the testbench's clock is the core's).
        "divisor": divisor // ratio,
        "uart_clock_ratio": ratio,
        "timeout_cycles": TIMEOUT_CYCLES,
        "fifo_depth": FIFO_DEPTH,
    }
    if divisor % ratio:
        raise ValueError(f"a UART divisor of {divisor} is not whole in core-clock cycles")
    module = "sim.test_board_link" if ratio == 1 else "boards.cocotb_fast_uart"
    return run_cocotb(model, module, config=settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("board")
    parser.add_argument("baud", type=int, nargs="?", help="bits per second (default: the board's)")
    args = parser.parse_args(argv)
    try:
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
