"""Issue 24's boards and links: the Gowin flow (nextpnr-himbaechel + Apicula), the rPLL,
the smaller ULX3S dies, the UART rate as a build option, and the link description."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
from amaranth import Elaboratable, Module, Signal
from amaranth.back import rtlil
from amaranth.lib import io

from boards import board
from boards.build import (
    DATASHEET_LIMITS,
    build,
    device_name,
    output_dir,
    synthesis_options,
    use_yowasp_tools,
)
from boards.clocks import GOWIN_CLKOUT_HZ, GOWIN_PFD_HZ, GOWIN_VCO_HZ, gowin_pll, pll_for
from boards.gowin import TangNano9kPlatform, TangNano20kPlatform, chip_database
from boards.top import BoardTop, uart_divisor
from hdl.core import MatmulCore
from hdl.family import fpga_family
from sim.runner import SimulationPlatform
from sw.device.configs import (
    BOARD_DEVICES,
    DEVICES,
    USB_FULL_SPEED,
    Link,
    board_link,
    uart_link,
    wire_seconds,
)

GOWIN_BOARDS = {
    "tangnano9k": ("GW1NR-LV9QN88PC6/I5", "GW1N-9C", "gw1n"),
    "tangnano20k": ("GW2AR-LV18QN88C8/I7", "GW2A-18C", "gw2a"),
}


def build_script(board_name: str) -> tuple[str, dict]:
    """The shell script and files Amaranth would run and write for a board's design."""
    b = board(board_name)
    top = BoardTop(b)
    options = synthesis_options(b, top.clock_hz)
    extra = options.pop("nextpnr_extra", "")
    with warnings.catch_warnings():  # unused pins of the platform's other resources
        warnings.simplefilter("ignore")
        plan = b.platform().prepare(
            top, name="qmatmul", **options, nextpnr_opts=f"--timing-allow-fail {extra}"
        )
    return plan.files["build_qmatmul.sh"], plan.files


@pytest.mark.parametrize("name", sorted(GOWIN_BOARDS))
def test_gowin_build_script_runs_himbaechel_and_apicula_with_the_right_names(name):
    part, database, yosys_family = GOWIN_BOARDS[name]
    script, files = build_script(name)
    lines = [line for line in script.splitlines() if line.startswith('"$')]
    assert [line.split()[0] for line in lines] == [
        '"$YOSYS"',
        '"$NEXTPNR_HIMBAECHEL"',
        '"$GOWIN_PACK"',
    ]
    nextpnr, pack = lines[1].split(), lines[2].split()
    assert nextpnr[nextpnr.index("--device") + 1] == part
    assert f"family={database}" in nextpnr and "cst=qmatmul.cst" in nextpnr
    assert "--family" not in nextpnr and "--cst" not in nextpnr  # nextpnr-gowin's options
    clock_mhz = BOARD_DEVICES[name].clock_hz / 1e6
    assert nextpnr[nextpnr.index("--freq") + 1] == f"{clock_mhz:g}"
    assert pack[pack.index("-d") + 1] == database
    assert f"synth_gowin -family {yosys_family}" in files["qmatmul.ys"]
    assert "nextpnr-gowin" not in script
    # The pins: the UART and clock of the board's own resources.
    constraints = files["qmatmul.cst"]
    for pin in {"tangnano9k": ("52", "17", "18"), "tangnano20k": ("4", "69", "70")}[name]:
        assert f" {pin};" in constraints


def test_gowin_platforms_ask_for_the_himbaechel_tools():
    for platform in (TangNano9kPlatform(), TangNano20kPlatform()):
        assert platform.required_tools == ["yosys", "nextpnr-himbaechel", "gowin_pack"]
    assert device_name(TangNano20kPlatform()) == "GW2AR-LV18QN88C8/I7"


def test_every_board_platform_is_elaborated_for_its_configured_family():
    # The gateware picks primitives by `fpga_family`: ECP5 multipliers, Gowin LUT RAM.
    for name, devices in BOARD_DEVICES.items():
        assert fpga_family(board(name).platform()) == devices.family, name


def count_decode_table_reads(family: str | None) -> int:
    core = MatmulCore(BOARD_DEVICES["tangnano9k"].modes["codebook"].core)
    text = rtlil.convert(core, platform=SimulationPlatform(family) if family else None)
    return len(re.findall(r'cell \$memrd_v2 \S+\n    parameter \\MEMID "\\\\decode_table"', text))


def test_on_gowin_the_decode_table_is_a_lut_ram_read_by_every_column():
    # One asynchronous read port per column: Yosys gives each a RAM16SDP4 copy; other
    # families keep the table in flip-flops (a register per entry, no memory).
    columns = BOARD_DEVICES["tangnano9k"].modes["codebook"].core.cols
    assert count_decode_table_reads("gowin") == columns
    assert count_decode_table_reads("ecp5") == count_decode_table_reads(None) == 0


def test_chip_database_names():
    assert chip_database("GW1NR-9C") == "GW1N-9C"
    assert chip_database("GW2AR-18C") == "GW2A-18C"
    assert chip_database("GW1N-9C") == "GW1N-9C"
    with pytest.raises(ValueError, match="not of the form SERIES-SIZE"):
        chip_database("GW2AR18C")


class PllAndUartEcho(Elaboratable):
    """The smallest design with the boards' clocking: rPLL, UART pins looped, a multiply."""

    def elaborate(self, platform):
        m = Module()
        clock = platform.request(platform.default_clk, dir="-")
        m.submodules.clock = clock_buffer = io.Buffer("i", clock)
        pll = pll_for("gowin", platform.default_clk_frequency, 54e6)
        from boards.clocks import pll_domain

        sync = pll_domain(m, "gowin", clock_buffer.i, pll)
        platform.add_clock_constraint(sync.clk, pll.output_hz)
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        a, b, product = Signal(8), Signal(8), Signal(16)
        m.d.sync += [a.eq(a + rx.i), b.eq(b - 1), product.eq(a.as_signed() * b.as_signed())]
        m.d.comb += tx.o.eq(product.xor())
        return m


@pytest.mark.slow
def test_the_gowin_flow_makes_a_bitstream(tmp_path):
    """Yosys, nextpnr-himbaechel and gowin_pack from PyPI, through the adapter, on the
    Tang Nano 9K (the smaller chip database: ~20 s): a bitstream, the PLL placed, the
    multiply on a DSP block, timing met."""
    use_yowasp_tools()
    TangNano9kPlatform().build(
        PllAndUartEcho(),
        name="echo",
        build_dir=str(tmp_path),
        synth_opts="-family gw1n",
        nextpnr_opts="--freq 54 --report report.json",
    )
    bitstream = (tmp_path / "echo.fs").read_text()
    assert set(bitstream.replace("\n", "")) <= {"0", "1"} and len(bitstream) > 100_000
    report = json.loads((tmp_path / "report.json").read_text())
    used = {name: entry["used"] for name, entry in report["utilization"].items()}
    assert used["rPLL"] == 1 and used["MULT9X9"] == 1
    (clock,) = [entry for entry in report["fmax"].values() if entry["constraint"] == 54]
    assert clock["achieved"] >= 54


@pytest.mark.parametrize("target_mhz", [27, 48, 54, 67.5, 81, 108])
def test_gowin_pll_settings_are_within_the_data_sheets(target_mhz):
    pll = gowin_pll(27e6, target_mhz * 1e6)
    pfd = 27e6 / (pll.idiv_sel + 1)
    out = pfd * (pll.fbdiv_sel + 1)
    assert GOWIN_PFD_HZ[0] <= pfd <= GOWIN_PFD_HZ[1]
    assert GOWIN_CLKOUT_HZ[0] <= out <= GOWIN_CLKOUT_HZ[1]
    assert GOWIN_VCO_HZ[0] <= out * pll.odiv_sel <= GOWIN_VCO_HZ[1]
    assert pll.output_hz == pytest.approx(out) == pytest.approx(target_mhz * 1e6)


def test_a_gowin_clock_the_rpll_cannot_make_is_refused():
    with pytest.raises(ValueError, match="gowin PLL cannot make 54.01 MHz .*nearest is"):
        pll_for("gowin", 27e6, 54.01e6)


def test_new_boards_are_known_with_their_parts():
    expected = {
        "ulx3s-12f": "LFE5U-12F-6BG381",
        "ulx3s-25f": "LFE5U-25F-6BG381",
        "ulx3s-45f": "LFE5U-45F-6BG381",
        "tangnano9k": "GW1NR-LV9QN88PC6/I5",
        "tangnano20k": "GW2AR-LV18QN88C8/I7",
    }
    for name, part in expected.items():
        b = board(name)
        assert device_name(b.platform()) == part
        assert b.config() == name and DEVICES[name] == b.params()


# Multipliers of each die (Lattice's and Gowin's data sheets; a Gowin 18 x 18 block is
# two 9 x 9 halves, and nextpnr counts the halves).
DIE_MULTIPLIERS = {"ulx3s-12f": 28, "ulx3s-25f": 28, "ulx3s-45f": 72, "ulx3s-85f": 156}


@pytest.mark.parametrize("name", sorted(DIE_MULTIPLIERS))
def test_ulx3s_arrays_leave_the_requantizer_its_multipliers(name):
    """One MULT18X18D per PE, and three for the requantizer and the RUN length."""
    core = board(name).params().core
    assert core.rows * core.cols + 3 <= DIE_MULTIPLIERS[name]
    # The largest square that fits is the one built.
    assert (core.rows + 1) * (core.cols + 1) + 3 > DIE_MULTIPLIERS[name] or name == "ulx3s-85f"


def test_the_12f_budget_is_checked_against_its_data_sheet():
    assert DATASHEET_LIMITS["LFE5U-12F-6BG381"] == {"luts": 12_000, "dsps": 28, "brams": 32}
    assert device_name(board("ulx3s-12f").platform()) in DATASHEET_LIMITS


@pytest.mark.parametrize(
    "clock_hz, baud, divisor",
    [(24e6, 3_000_000, 8), (24e6, 6_000_000, 4), (84.375e6, 3_000_000, 28), (54e6, 6_000_000, 9)],
)
def test_uart_divisors(clock_hz, baud, divisor):
    assert uart_divisor(clock_hz, baud) == divisor


def test_uart_rates_the_clock_cannot_make_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="baud=12000000 is too fast for a 24 MHz .* 6000000"):
        uart_divisor(24e6, 12_000_000)
    assert uart_divisor(24e6, 12_000_000, samples=2) == 2  # sampled on both edges
    with pytest.raises(ValueError, match="up to 12000000 .*both clock edges"):
        uart_divisor(24e6, 24_000_000, samples=2)
    with pytest.raises(ValueError, match="within 2% .*nearest rates are 6000000 and 4800000"):
        uart_divisor(24e6, 5_500_000)
    for bad in (0, -3, 2.5e6, "3000000", True):
        with pytest.raises(ValueError, match="must be a positive whole number"):
            uart_divisor(24e6, bad)


def test_a_baud_rate_is_a_build_option_checked_before_any_tool_runs():
    with pytest.raises(ValueError, match="cannot make 7000000 baud within 2%"):
        build("icebreaker", baud=7_000_000)  # refused before synthesis: no tools run
    with pytest.raises(ValueError, match="beyond the icebreaker's USB-serial bridge"):
        build("icebreaker", baud=24_000_000)
    assert BoardTop(board("icebreaker"), baud=6_000_000).divisor == 4
    assert BoardTop(board("icebreaker")).baud == 3_000_000
    default = output_dir("icebreaker", "spx")
    assert output_dir("icebreaker", "spx", baud=3_000_000) == default
    assert output_dir("icebreaker", "spx", baud=6_000_000) == Path(f"{default}-6000000baud")
    # A board's own placement seed builds into its plain folder; another seed its own.
    assert board("ulx3s-85f").nextpnr_seed == 2
    assert output_dir("ulx3s-85f", "uniform", seed=2) == output_dir("ulx3s-85f", "uniform")
    assert output_dir("ulx3s-85f", "uniform", seed=1).name == "ulx3s-85f-seed1"
    from boards.build import main

    assert main(["icebreaker", "--baud", "7000000"]) == 1


def test_every_board_has_a_uart_link_at_its_baud_or_else_usb():
    for name, devices in BOARD_DEVICES.items():
        link = board_link(name)
        if devices.baud is None:
            assert link == USB_FULL_SPEED == devices.link
        else:
            assert link == Link("uart", devices.baud, 10) == devices.link
    assert board_link("icebreaker", 6_000_000).bits_per_second == 6_000_000
    with pytest.raises(ValueError, match="unknown board 'arty'"):
        board_link("arty")


def test_wire_time_of_payload_bytes():
    # 8N1: 10 line bits a byte; 3 Mbaud carries 300 kB/s.
    assert wire_seconds("icebreaker", 300_000) == pytest.approx(1.0)
    assert wire_seconds("icebreaker", 300_000, baud=12_000_000) == pytest.approx(0.25)
    assert uart_link(6_000_000).bytes_per_second == 600_000
    # USB full speed: 19 bulk packets of 64 bytes per 1 ms frame.
    assert USB_FULL_SPEED.bytes_per_second == pytest.approx(1_216_000)
    assert USB_FULL_SPEED.wire_seconds(1_216_000) == pytest.approx(1.0)
    assert USB_FULL_SPEED.wire_seconds(0) == 0
    with pytest.raises(ValueError, match="n_bytes=-1"):
        USB_FULL_SPEED.wire_seconds(-1)
    with pytest.raises(ValueError, match="link kind='pcie'"):
        Link("pcie", 1, 10)
    with pytest.raises(ValueError, match="at least 8 wire bits"):
        Link("uart", 3_000_000, 7)


@pytest.mark.parametrize(
    "name", ["ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "tangnano9k", "tangnano20k"]
)
def test_new_boards_measured_builds_match_their_configs(name):
    """The committed build figures (`bench/results/bitstream.json`, from `make bitstream`)
    describe the design configured now, within the die, with timing met."""
    results = Path(__file__).resolve().parents[1] / "bench/results/bitstream.json"
    (report,) = [
        r
        for r in json.loads(results.read_text())["builds"]
        if r["config"] == name and r.get("link", "uart") == "uart"
    ]
    core = board(name).params().core
    assert report["array"] == [core.rows, core.cols]
    assert report["target_mhz"] == pytest.approx(BOARD_DEVICES[name].clock_hz / 1e6)
    assert report["timing_met"] and report["fmax_mhz"] >= report["target_mhz"]
    assert report["luts"] <= report["luts_available"]
    assert report["dsps"] <= report["dsps_available"]
    assert report["brams"] <= report["brams_available"]


@pytest.mark.slow
@pytest.mark.parametrize("baud", [6_000_000, 12_000_000])
def test_icebreaker_link_at_faster_rates(baud):
    """The board-link cocotb tests on the iCEBreaker's device at 6 Mbaud (4 cycles of the
    24 MHz core clock a bit) and 12 Mbaud (2 cycles a bit, the rx pin sampled on both
    clock edges through a model of the iCE40 DDR input)."""
    from boards.linksim import link_suite

    outcome = link_suite("icebreaker", baud)
    assert outcome["failed"] == 0 and outcome["tests"] == 3


def test_a_fast_uart_samples_on_both_edges_only_where_the_family_can():
    from boards.top import uart_timing

    assert uart_timing(board("icebreaker"), 3_000_000) == (8, 1)
    assert uart_timing(board("icebreaker"), 6_000_000) == (4, 1)
    assert uart_timing(board("icebreaker"), 12_000_000) == (2, 2)
    top = BoardTop(board("icebreaker"), baud=12_000_000)
    assert (top.divisor, top.samples, top.clock_hz, top.pll.output_hz) == (2, 2, 24e6, 24e6)
    with pytest.raises(ValueError, match="beyond the ulx3s-45f's USB-serial bridge.* 3000000"):
        uart_timing(board("ulx3s-45f"), 6_000_000)
    with pytest.raises(ValueError, match="beyond the icebreaker's .* up to 12000000"):
        uart_timing(board("icebreaker"), 24_000_000)
