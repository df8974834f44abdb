"""The cocotb suites: which design, in which configurations, runs which test module.

Each configuration is built into one Verilator model (cached by `sim.runner`) and
all of a module's tests run against it in one simulator process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hdl.core import MatmulCore
from sw.device.configs import BOARD_DEVICES
from sw.device.params import CoreParams

from .runner import build_model, run_cocotb


@dataclass(frozen=True)
class Suite:
    name: str
    params: CoreParams
    test_module: str = "sim.test_core"

    def run(self, testcase: str | None = None) -> dict:
        model = build_model(f"core-{self.name}", MatmulCore(self.params))
        return run_cocotb(
            model, self.test_module, config={"params": asdict(self.params)}, testcase=testcase
        )


# Three array shapes: a 1 x 1 with a 16-bit accumulator (so the largest K before
# overflow is short enough to simulate), a square one and a non-square one; all
# modes in every one, so each shape is one model. The non-square one decodes SPx by
# wiring (the small-FPGA option) instead of through the table. Drain lanes: one (the
# 1 x 1), half a row (the 4 x 4: a ragged tile's last beat is part full) and a whole
# row (the 3 x 2); the board devices' one-lane drain over many entries runs in every
# `sim` backend test.
CORE_SUITES = (
    Suite("1x1-acc16", CoreParams(rows=1, cols=1, acc_bits=16, channels=16)),
    Suite("4x4-2lanes", CoreParams(rows=4, cols=4, channels=64, drain_lanes=2)),
    Suite(
        "3x2-fixed-spx-2lanes",
        CoreParams(
            rows=3,
            cols=2,
            act_bits=6,
            weight_bits=4,
            max_shift=2,
            spx_programmable=False,
            channels=32,
            drain_lanes=2,
        ),
    ),
)


@dataclass(frozen=True)
class BoardSuite:
    """A board's device behind its own link, built as `boards.linksim` builds it: the UART
    (bits on the rx pin, sim/test_board_link.py) or the FPGA's USB port (packets at LUNA's
    UTMI interface, sim/test_usb_link.py), the frame timeout and the receive FIFO scaled
    down (reaching them takes thousands of cycles instead of millions)."""

    board: str

    @property
    def usb(self) -> bool:
        return BOARD_DEVICES[self.board].link.kind == "usb-fs"

    @property
    def name(self) -> str:
        return f"{'usb' if self.usb else 'board'}-{self.board}"

    @property
    def test_module(self) -> str:
        return "sim.test_usb_link" if self.usb else "sim.test_board_link"

    def run(self, testcase: str | None = None) -> dict:
        from boards.linksim import link_suite, usb_suite

        if self.usb:
            return usb_suite(self.board, testcase=testcase)
        return link_suite(self.board, testcase=testcase)


BOARD_SUITES = tuple(BoardSuite(board) for board in BOARD_DEVICES)

SUITES = CORE_SUITES + BOARD_SUITES
