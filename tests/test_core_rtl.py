"""The cocotb suites of `MatmulCore` under Verilator (the same ones `make sim` runs)."""

from __future__ import annotations

import pytest

from hdl.core import MatmulCore
from sim.runner import build_model, lint
from sim.suites import CORE_SUITES


@pytest.mark.parametrize("suite", CORE_SUITES, ids=lambda s: s.name)
def test_core_cocotb_suite(suite):
    outcome = suite.run()
    assert outcome["failed"] == 0 and outcome["tests"] >= 6


@pytest.mark.parametrize("suite", CORE_SUITES, ids=lambda s: s.name)
def test_generated_verilog_is_lint_clean_with_listed_waivers(suite):
    model = build_model(f"core-{suite.name}", MatmulCore(suite.params))
    assert lint(model.verilog_path) == ""
