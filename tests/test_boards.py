"""Boards: the iCEBreaker bitstream through the real YoWASP flow, PLLs, the UART, programming."""

from __future__ import annotations

import json

import numpy as np
import pytest
from amaranth import Module
from amaranth.sim import Simulator

from boards import BOARDS, board
from boards.build import build
from boards.build import main as build_main
from boards.clocks import ecp5_pll, ice40_pll
from boards.program import ProgramError, program_command
from hdl.uart import UARTReceiver, UARTTransmitter
from sw.device.configs import BOARD_DEVICES, device


@pytest.mark.slow
def test_icebreaker_bitstream_builds_with_timing_met():
    report = build("icebreaker")
    params = board("icebreaker").params()
    assert report["board"] == "icebreaker" and report["device"] == "iCE40UP5K-SG48"
    assert report["array"] == [params.core.rows, params.core.cols]
    assert report["weight_mode"] == "spx"
    for key in ("luts", "dsps", "brams", "fmax_mhz", "target_mhz", "timing_met"):
        assert key in report
    assert 0 < report["luts"] <= report["luts_available"] == 5280
    assert report["timing_met"] and report["fmax_mhz"] >= report["target_mhz"]
    # SPx PEs shift and add: the only DSPs are the requantizer's multiply (two
    # SB_MAC16 for 19 x 15 bits) and the RUN response length (one), whatever the array.
    assert report["dsps"] == 3 < params.core.rows * params.core.cols
    bitstream = report["bitstream"]
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / bitstream
    assert path.stat().st_size > 100_000  # a whole UP5K configuration image
    on_disk = json.loads((path.parent / "report.json").read_text())
    assert on_disk == report


def test_unknown_boards_and_modes_name_the_known_ones(capsys):
    known = ", ".join(sorted(BOARDS))
    assert known.startswith("icebreaker, orangecrab-25f, orangecrab-85f, tangnano20k, tangnano9k")
    with pytest.raises(ValueError, match=f"unknown board 'arty'; known boards: {known}"):
        build("arty")
    with pytest.raises(ValueError, match="board icebreaker has no 'ternary' build"):
        build("icebreaker", "ternary")
    assert build_main([]) == 2
    assert f"known boards: {', '.join(BOARDS)}" in capsys.readouterr().err


def test_programming_says_what_is_missing(tmp_path, monkeypatch):
    import boards.program as program

    monkeypatch.setattr(program, "output_dir", lambda name, mode, baud=None, link=None: tmp_path)
    with pytest.raises(ProgramError, match="no bitstream at .*make bitstream BOARD=icebreaker"):
        program_command("icebreaker")
    (tmp_path / "qmatmul.bin").write_bytes(b"\x00")
    monkeypatch.setenv("ICEPROG", "/nonexistent/iceprog")
    with pytest.raises(
        ProgramError, match="'/nonexistent/iceprog' is not installed.*fpga-icestorm"
    ):
        program_command("icebreaker")
    monkeypatch.setenv("ICEPROG", "true")  # a programmer that exists
    assert program_command("icebreaker") == ["true", str(tmp_path / "qmatmul.bin")]


@pytest.mark.parametrize("target_mhz", [24, 27, 36, 48])
def test_ice40_pll_settings_are_within_the_data_sheet(target_mhz):
    pll = ice40_pll(12e6, target_mhz * 1e6)
    pfd = 12e6 / (pll.divr + 1)
    vco = pfd * (pll.divf + 1)
    assert 10e6 <= pfd <= 133e6 and 533e6 <= vco <= 1066e6 and 1 <= pll.divq <= 6
    assert pll.output_hz == pytest.approx(vco / 2**pll.divq)
    assert pll.output_hz == pytest.approx(target_mhz * 1e6)


@pytest.mark.parametrize("target_mhz", [100, 125, 150])
def test_ecp5_pll_settings_are_within_the_data_sheet(target_mhz):
    pll = ecp5_pll(25e6, target_mhz * 1e6)
    vco = pll.output_hz * pll.clkop_div
    assert 400e6 <= vco <= 800e6
    assert pll.output_hz == pytest.approx(25e6 / pll.clki_div * pll.clkfb_div)
    assert pll.output_hz == pytest.approx(target_mhz * 1e6)


def test_every_board_mode_names_a_device_the_driver_can_open():
    for b in BOARDS.values():
        for mode in b.modes:
            params = device(b.config(mode))
            assert params == b.params(mode), (b.name, mode)
            assert mode in params.core.weight_modes, (b.name, mode)
            assert params.clock_hz == b.devices.clock_hz and params.family == b.family


def test_a_clock_the_pll_cannot_make_is_refused_before_any_build(monkeypatch):
    from dataclasses import replace

    from boards.clocks import pll_for
    from boards.top import BoardTop

    for b in BOARDS.values():  # every board's clock is exact
        pll = pll_for(b.family, b.platform().default_clk_frequency, b.devices.clock_hz)
        assert pll.output_hz == pytest.approx(b.devices.clock_hz, rel=1e-9)
    odd = replace(BOARD_DEVICES["ulx3s-85f"], clock_hz=84_000_001)
    monkeypatch.setitem(BOARD_DEVICES, "ulx3s-85f", odd)
    with pytest.raises(ValueError, match="cannot make 84.* MHz .*nearest is"):
        BoardTop(board("ulx3s-85f"))
    with pytest.raises(ValueError, match="cannot make 84.* MHz"):
        build("ulx3s-85f")  # refused before synthesis: no tools run


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_uart_receiver_sampling_both_clock_edges_takes_each_bit_in_its_middle(offset):
    """Two samples a cycle, four a bit (12 Mbaud on 24 MHz), start bits at each of the
    four sample phases. Only the third sample of each bit (its middle, two after the
    start bit's first low sample) carries the bit; the others are random, so a receiver
    that samples anywhere else reads garbage."""
    rx = UARTReceiver(divisor=2, samples=2)
    rng = np.random.default_rng(offset)
    sent = [int(v) for v in rng.integers(0, 256, 24)]
    line = [1] * (8 + offset)
    for value in sent:
        line += [0, *rng.integers(0, 2, 1), 0, *rng.integers(0, 2, 1)]  # start bit
        for i in range(8):
            noise = rng.integers(0, 2, 3)
            line += [noise[0], noise[1], (value >> i) & 1, noise[2]]
        line += [*rng.integers(0, 2, 2), 1, 1]  # stop bit: high from its middle on
        line += [1] * int(rng.integers(0, 4))  # idle, moving the next start's phase
    assert received_bytes(rx, line) == sent


def received_bytes(rx: UARTReceiver, line: list[int]) -> list[int]:
    """Feed ``line`` (one entry per sample) to ``rx``, ``rx.samples`` a cycle, earliest in
    bit 0; return the bytes it received."""
    n = rx.samples
    line = line + [1] * (-len(line) % n + 2 * n)
    received = []

    async def testbench(ctx):
        ctx.set(rx.bytes.ready, 1)
        for cycle in range(len(line) // n):
            ctx.set(rx.pin, sum(int(line[n * cycle + i]) << i for i in range(n)))
            await ctx.tick()
            if ctx.get(rx.bytes.valid):
                received.append(ctx.get(rx.bytes.payload))

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return received


@pytest.mark.parametrize("samples", [1, 2])
@pytest.mark.parametrize("offset", [0.0, 0.3, 0.6, 0.9])
@pytest.mark.parametrize("speed", [0.98, 0.995, 1.0, 1.005, 1.02])
def test_uart_receiver_follows_a_host_off_by_up_to_2_percent(speed, offset, samples):
    """A host sending bytes back to back, its bit ``1 / speed`` of the nominal one (up to 2%
    fast or slow, the tolerance `boards.top.uart_divisor` allows), its first start bit at
    a fraction of a sample: 4 samples a bit, one a cycle or two (12 Mbaud on 24 MHz). A
    start bit that begins in the cycle of the stop bit before it must be seen there."""
    rx = UARTReceiver(divisor=4 // samples, samples=samples)
    rng = np.random.default_rng(int(speed * 1000) + int(offset * 10))
    sent = [int(v) for v in rng.integers(0, 256, 40)]
    bits = [b for v in sent for b in [0, *((v >> i) & 1 for i in range(8)), 1]]
    bit_samples, lead = 4 / speed, 8 + offset
    end = lead + len(bits) * bit_samples
    line = [
        bits[int((t - lead) / bit_samples)] if lead <= t < end else 1 for t in range(int(end) + 8)
    ]
    assert received_bytes(rx, line) == sent


@pytest.mark.parametrize("divisor", [4, 9, 16])
def test_uart_loopback(divisor):
    """Transmitter into receiver: every byte comes back, in order."""
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor)
    m.submodules.rx = rx = UARTReceiver(divisor)
    m.d.comb += rx.pin.eq(tx.pin)
    sent = [0x00, 0xFF, 0xA5, 0x5A, 0x01, 0x80, 0x3C]
    received = []

    async def testbench(ctx):
        ctx.set(rx.bytes.ready, 1)
        for value in sent:
            ctx.set(tx.bytes.payload, value)
            ctx.set(tx.bytes.valid, 1)
            await ctx.tick().until(tx.bytes.ready)
            ctx.set(tx.bytes.valid, 0)
            for _ in range(11 * divisor + 4):
                await ctx.tick()
                if ctx.get(rx.bytes.valid):
                    received.append(ctx.get(rx.bytes.payload))
                    break

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert received == sent


def test_core_only_harness_drives_the_core_and_shows_its_outputs():
    """The core-only build's harness: pseudo-random inputs reach the core (operands are
    taken, results come out) and its one output pin follows them."""
    from boards.core_only import CoreHarness, core_ports

    harness = CoreHarness(board("icebreaker").params().core)
    inputs, outputs = core_ports(harness.core)
    assert harness.stimulus_bits == sum(len(value) for value in inputs)
    core = harness.core
    seen = {"accepted": 0, "results": 0, "out": set()}

    async def testbench(ctx):
        for _ in range(3000):
            await ctx.tick()
            seen["accepted"] += ctx.get(core.operands.valid & core.operands.ready)
            seen["results"] += ctx.get(core.results.valid & core.results.ready)
            seen["out"].add(ctx.get(harness.out))

    sim = Simulator(harness)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert seen["accepted"] > 100 and seen["results"] > 10
    assert seen["out"] == {0, 1}


def test_core_only_builds_refuse_what_does_not_apply():
    with pytest.raises(ValueError, match="a core-only build has no link"):
        build("icebreaker", core_only=True, baud=6_000_000)
    with pytest.raises(ValueError, match="orangecrab-25f has no plain LED"):
        build("orangecrab-25f", core_only=True)
