"""The RTL under Verilator: the cocotb suites (`MatmulCore`, and each board's device behind its
UART: the same ones `make sim` runs), and `verilator --lint-only -Wall` on the core, on
every device and on every board top."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest
from amaranth.back import verilog
from conftest import LARGER_LINK_COPIES, larger_copy_marks, simulated_devices

from boards import BOARDS, board
from boards.top import BoardTop
from boards.usb import LUNA_VERILATOR_WAIVERS
from hdl.core import MatmulCore
from sim.device import build_simulator
from sim.runner import BOARD_TOP_WAIVERS, MODELS, build_model, lint, model_sources
from sim.suites import BOARD_SUITES, CORE_SUITES
from sw.device.configs import DEVICES, device

REPO = Path(__file__).resolve().parents[1]


def cocotb_tests_in(module: str) -> int:
    """How many ``@cocotb.test()`` coroutines a testbench module defines."""
    tree = ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.AsyncFunctionDef)
        and any("cocotb.test" in ast.unparse(d) for d in node.decorator_list)
    )


@pytest.mark.parametrize("suite", CORE_SUITES, ids=lambda s: s.name)
def test_core_cocotb_suite(suite):
    outcome = suite.run()
    assert outcome["failed"] == 0
    assert outcome["tests"] == cocotb_tests_in(suite.test_module) > 0


@pytest.mark.parametrize(
    "suite",
    [
        pytest.param(s, marks=larger_copy_marks(s.board, LARGER_LINK_COPIES), id=s.name)
        for s in BOARD_SUITES
    ],
)
def test_board_link_cocotb_suite(suite):
    """Each board's device behind its own link: a UART driven bit by bit
    (sim/test_board_link.py) or its USB port, enumerated and driven packet by packet
    (sim/test_usb_link.py)."""
    outcome = suite.run()
    assert outcome["failed"] == 0
    assert outcome["tests"] == cocotb_tests_in(suite.test_module) > 0


@pytest.mark.parametrize("suite", CORE_SUITES, ids=lambda s: s.name)
def test_core_verilog_is_lint_clean_with_listed_waivers(suite):
    model = build_model(f"core-{suite.name}", MatmulCore(suite.params))
    assert lint(model.verilog_path) == ""


@pytest.mark.parametrize("name", simulated_devices(sorted(DEVICES)))
def test_every_device_is_lint_clean(name):
    """The whole device as simulated (and built): the Verilog its simulator was made from."""
    binary = build_simulator(name)
    models = model_sources(device(name).family)
    assert lint(binary.parent / "top.v", *models, top="top") == ""


# Every board with its own link, and the ULX3S's other one (its USB port) once.
BOARD_LINKS = [(name, None) for name in sorted(BOARDS)] + [("ulx3s-12f", "usb-fs")]


@pytest.mark.parametrize(("name", "link"), BOARD_LINKS)
def test_every_board_top_is_lint_clean(name, link, tmp_path):
    """PLL, pads and all, with port-list stubs of the vendor primitives."""
    b = board(name)
    top = BoardTop(b, link=link)
    with warnings.catch_warnings():  # the platform's unused pin buffers of other resources
        warnings.simplefilter("ignore")
        source = verilog.convert(
            top,
            name="board_top",
            platform=b.platform(),
            ports=[],
            emit_src=False,
        )
    path = tmp_path / "board_top.v"
    path.write_text(source)
    stubs = MODELS / "lint_stubs.v"
    waive = BOARD_TOP_WAIVERS | (LUNA_VERILATOR_WAIVERS if top.link == "usb-fs" else {})
    assert lint(path, *model_sources(b.family), stubs, top="board_top", waive=waive) == ""
