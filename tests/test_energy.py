"""sw.energy: the toggle counter on hand-countable circuits, the net filter, the block
classifier, the estimate's arithmetic against the worked example of docs/energy.md, and
the board flow's refusals (no repeat command, no sensor, bad currents)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sw.energy.board import MeasurementError, ShuntSensor, measure_board, parse_currents
from sw.energy.circuits import Counter, count_toggles
from sw.energy.coefficients import ICE40_UP, calibrate_net_toggle
from sw.energy.model import Workload, estimate
from sw.energy.netlist import driven_bits
from sw.energy.toggles import (
    classify,
    keep_physical,
    physical_nets,
    read_coverage,
    register_bits,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "energy.md"


# ---- the toggle counter ----------------------------------------------------------------------


@pytest.mark.parametrize("steps", [100, 1000])
def test_counter_bit_toggles_are_floor_of_steps_over_powers_of_two(steps):
    # Bit i of an up-counter flips every 2**i cycles: floor(steps / 2**i) times.
    points = count_toggles("counter6", Counter(6), steps)
    count = {p.bit: p.toggles for p in points if p.path == "top.count"}
    assert count == {i: steps // 2**i for i in range(6)}
    # One physical net is counted once, however many names Amaranth gives it.
    assert len([p for p in points if p.path == "top.count"]) == 6


def test_rises_and_falls_are_both_counted():
    points = count_toggles("counter6", Counter(6), 100)
    bit0 = next(p for p in points if p.path == "top.count" and p.bit == 0)
    assert (bit0.rises, bit0.falls) == (50, 50)


# ---- which nets count ------------------------------------------------------------------------

VERILOG = r"""
module top(clk, rst, count);
  input clk;
  input rst;
  output [3:0] count;
  reg [3:0] count = 4'h0;
  wire [3:0] copy;
  wire [4:0] \$1 ;
  wire [3:0] inner_b;
  assign \$1  = count + 1'h1;
  assign copy = count[3:0];
  always @(posedge clk)
    count <= \$1 [3:0];
  \top.inner  inner (
    .a(count),
    .b(inner_b),
    .clk(clk)
  );
endmodule

module \top.inner (a, b, clk);
  input [3:0] a;
  output [3:0] b;
  reg [3:0] b = 4'h0;
  input clk;
  always @(posedge clk)
    b <= a;
endmodule
"""


def test_physical_nets_drop_renames_ports_and_parent_copies():
    nets = physical_nets(VERILOG)
    assert "top.copy" in nets.dropped  # a rename of count
    assert "top.inner.a" in nets.dropped  # an input port: the parent's net
    assert "top.inner_b" in nets.dropped  # the parent's copy of the child's output
    assert "top.count" not in nets.dropped and "top.inner.b" not in nets.dropped
    assert nets.owner["top.$1"] == "top.count"  # the adder counts with what it reads


def test_register_bits_count_clocked_registers_only():
    assert register_bits(VERILOG) == 8  # count[3:0] and inner.b[3:0]; wires are not


NETLIST = r"""
module top(clk, q);
  input clk;
  output [1:0] q;
  wire [1:0] n1;
  wire n2;
  SB_LUT4 #(
    .LUT_INIT(16'h6996)
  ) n3 (
    .I0(q[0]), .I1(1'h0), .I2(1'h0), .I3(1'h0),
    .O(n2)
  );
  SB_CARRY n4 (.CI(1'h0), .I0(q[0]), .I1(q[1]), .CO(n1[1]));
  SB_DFF n5 (.C(clk), .D(n2), .Q(q[0]));
  SB_DFF n6 (.C(clk), .D(n1[1]), .Q(q[1]));
endmodule
"""


def test_netlist_nets_are_counted_in_the_class_of_their_driver():
    assert driven_bits(NETLIST) == {
        ("n2", 0): "lut",
        ("n1", 1): "carry",
        ("q", 0): "ff",
        ("q", 1): "ff",
    }


def _coverage_file(tmp_path, entries):
    lines = ["# SystemC::Coverage-3"]
    for name, bit, edge, count, hierarchy in entries:
        bit_text = "" if bit is None else f"[{bit}]"
        key = f"\x01t\x02toggle\x01o\x02{name}{bit_text}:{edge}\x01h\x02{hierarchy}"
        lines.append(f"C '{key}' {count}")
    path = tmp_path / "coverage.dat"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_keep_physical_and_classify(tmp_path):
    path = _coverage_file(
        tmp_path,
        [
            ("count", 0, "0->1", 5, "TOP.top"),
            ("count", 0, "1->0", 4, "TOP.top"),
            ("copy", 0, "0->1", 5, "TOP.top"),
            ("clk", None, "0->1", 100, "TOP.top"),
            ("b", 1, "0->1", 2, "TOP.top.inner"),
            ("a", 1, "0->1", 2, "TOP.top.inner"),
        ],
    )
    kept = keep_physical(read_coverage(path), VERILOG)
    assert sorted((p.path, p.toggles) for p in kept) == [("top.count", 9), ("top.inner.b", 2)]
    totals = classify(kept, {"counter": r"^top\.count", "inner": r"^top\.inner\."})
    assert totals["counter"] == {"toggles": 9, "bits": 1}
    assert totals["inner"] == {"toggles": 2, "bits": 1}
    assert totals["other"] == {"toggles": 0, "bits": 0}


def test_a_block_pattern_that_matches_nothing_is_an_error(tmp_path):
    path = _coverage_file(tmp_path, [("count", 0, "0->1", 5, "TOP.top")])
    with pytest.raises(ValueError, match="requantizer"):
        classify(read_coverage(path), {"drain": r"requantizer", "all": r"top"})


def test_coverage_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_coverage(tmp_path / "missing.dat")
    bad = tmp_path / "bad.dat"
    bad.write_text("not coverage\n")
    with pytest.raises(ValueError, match="not a Verilator coverage file"):
        read_coverage(bad)


# ---- the estimate against docs/energy.md's worked example ------------------------------------

# The worked example of docs/energy.md ("Worked example"), computed there by hand.
EXAMPLE = Workload(toggles=100_000, cycles=300, flip_flops=6_000, link_bytes=0, macs=4_736)
EXAMPLE_TOGGLES_PER_CYCLE = 27.0
EXAMPLE_NJ = {"switching": 132.06, "clock": 41.57, "static": 1.304, "total": 174.93}
EXAMPLE_GOPS_PER_WATT = 54.15
EXAMPLE_SYSTEM_LINK_BYTES = 150
EXAMPLE_SYSTEM_NJ = 2_449.0


def test_worked_example_of_the_docs():
    table = calibrate_net_toggle(ICE40_UP, EXAMPLE_TOGGLES_PER_CYCLE)
    result = estimate(EXAMPLE, table, clock_hz=24e6)
    terms = {name: joules * 1e9 for name, joules in result["terms_j"].items()}
    for name in ("switching", "clock", "static"):
        assert terms[name] == pytest.approx(EXAMPLE_NJ[name], rel=1e-3), name
    assert result["energy_j"]["value"] * 1e9 == pytest.approx(EXAMPLE_NJ["total"], rel=1e-3)
    assert result["gops_per_watt"]["value"] == pytest.approx(EXAMPLE_GOPS_PER_WATT, rel=1e-3)
    assert result["energy_j"]["low"] < result["energy_j"]["value"] < result["energy_j"]["high"]
    # With the link: 150 bytes at 3 Mbaud keep the board (clock, PLL, leakage) on 500 us.
    system = Workload(**{**vars(EXAMPLE), "link_bytes": EXAMPLE_SYSTEM_LINK_BYTES})
    board = estimate(system, table, clock_hz=24e6, baud=3e6, board=True)
    assert board["energy_j"]["value"] * 1e9 == pytest.approx(EXAMPLE_SYSTEM_NJ, rel=1e-3)
    text = DOCS.read_text()
    for number in ("132.06", "41.57", "1.304", "174.93", "54.15", "2449.0"):
        assert number in text, f"docs/energy.md no longer shows {number}"


def test_estimate_refuses_bad_clock():
    with pytest.raises(ValueError, match="clock_hz"):
        estimate(EXAMPLE, ICE40_UP, clock_hz=0)


# ---- the board flow --------------------------------------------------------------------------


def test_board_flow_repeats_on_chip_with_entered_currents(sim, ref):
    """The flow on the simulated device and on ref: the REPEAT command's cycles are the
    repeats times one RUN's, and the energy arithmetic follows them."""
    import numpy as np

    from sw.kernel.random_layer import random_product

    product = random_product(np.random.default_rng(0), 4, 16, 4, mode="uniform", requant=True)
    results = [
        measure_board(
            accelerator,
            product.spec,
            product.codes,
            product.x,
            repeats=10,
            volts=1.2,
            currents=(1.0, 2.0),
        )  # fmt: skip
        for accelerator in (sim, ref)
    ]
    assert results[0].cycles == results[1].cycles > 0
    ref.matmul(product.x, measure_cycles=True)
    assert results[1].cycles == 10 * ref.last_run_cycles
    expected = (2.0 - 1.0) * 1e-3 * 1.2 * results[0].cycles / sim.info.clock_hz / 10
    assert results[0].energy_per_product_j == pytest.approx(expected)
    with pytest.raises(MeasurementError, match="--repeat must be in 1..65535"):
        measure_board(ref, product.spec, product.codes, product.x, repeats=0, volts=1.2,
                      currents=(1.0, 2.0))  # fmt: skip


def test_currents_and_sensor_errors(tmp_path):
    assert parse_currents("1.5,3.25") == (1.5, 3.25)
    for text in ("3", "a,b", "-1,2", "3,2"):
        with pytest.raises(MeasurementError):
            parse_currents(text)
    with pytest.raises(MeasurementError, match="address"):
        ShuntSensor("ina219", 1, address=0x90)
    sensor = ShuntSensor("ina226", 987)
    with pytest.raises(MeasurementError, match="/dev/i2c-987"):
        sensor.read_ma()
