"""The cocotb suites: which design, in which configurations, runs which test module.

Each configuration is built into one Verilator model (cached by `sim.runner`) and
all of a module's tests run against it in one simulator process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

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
# wiring (the small-FPGA option) instead of through the table.
CORE_SUITES = (
    Suite("1x1-acc16", CoreParams(rows=1, cols=1, acc_bits=16, channels=16)),
    Suite("4x4", CoreParams(rows=4, cols=4, channels=64)),
    Suite(
        "3x2-fixed-spx",
        CoreParams(
            rows=3,
            cols=2,
            act_bits=6,
            weight_bits=4,
            max_shift=2,
            spx_programmable=False,
            channels=32,
        ),
    ),
)


@dataclass(frozen=True)
class BoardSuite:
    """A board's device behind its UART (`boards.top.BoardLink`), for its FPGA family, with
    the frame timeout and the receive FIFO scaled down (reaching them takes thousands of
    cycles instead of millions)."""

    board: str
    timeout_cycles: int = 3000
    fifo_depth: int = 32
    test_module: str = "sim.test_board_link"

    @property
    def name(self) -> str:
        return f"board-{self.board}"

    def run(self, testcase: str | None = None) -> dict:
        from boards.top import BoardLink, uart_divisor

        devices = BOARD_DEVICES[self.board]
        config = devices.config_name(devices.default_mode)
        params = replace(devices.modes[devices.default_mode], timeout_cycles=self.timeout_cycles)
        divisor = uart_divisor(devices.clock_hz, devices.baud)
        link = BoardLink(params, divisor, fifo_depth=self.fifo_depth)
        model = build_model(self.name, link, family=devices.family)
        settings = {
            "device": config,
            "divisor": divisor,
            "timeout_cycles": self.timeout_cycles,
            "fifo_depth": self.fifo_depth,
        }
        return run_cocotb(model, self.test_module, config=settings, testcase=testcase)


BOARD_SUITES = tuple(BoardSuite(board) for board in BOARD_DEVICES)

SUITES = CORE_SUITES + BOARD_SUITES
