"""The native USB link (boards.usb): LUNA's CDC-ACM serial device in front of the device,
on the OrangeCrab and on the ULX3S's second port. The whole OrangeCrab 25F device over
USB is simulated with the other boards' links (tests/test_core_rtl.py, `sim.suites`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boards import BOARDS, board
from boards.build import main as build_main
from boards.build import output_dir
from boards.clocks import USB_HZ, USB_IO_HZ, ecp5_usb_pll
from boards.top import BoardTop
from sim.usb_packets import Pid, crc5, crc16, data_packet, parse, start_of_frame, token
from sw.device.configs import BOARD_DEVICES, USB_FULL_SPEED, board_link

REPO = Path(__file__).resolve().parents[1]


def test_packets_match_the_usb_catalogue_and_luna_s_own_encoder():
    """The simulated host's CRCs against the catalogue check values (CRC-5/USB 0x19 and
    CRC-16/USB 0xb4c8 over "123456789") and its packets against LUNA's test encoder,
    an independent implementation (bit strings, least-significant bit first)."""
    from luna.gateware.test.contrib import usb_packet

    def luna_bytes(bits: str) -> bytes:
        return bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, len(bits), 8))

    assert crc5(int.from_bytes(b"123456789", "little"), 72) == 0x19
    assert crc16(b"123456789") == 0xB4C8
    for address, endpoint in [(0, 0), (3, 0), (56, 4), (127, 15), (5, 4)]:
        for pid in (Pid.SETUP, Pid.IN, Pid.OUT):
            expected = luna_bytes(usb_packet.token_packet(usb_packet.PID(pid), address, endpoint))
            assert token(pid, address, endpoint) == expected
    for payload in (b"", b"\x01\x02\x03", bytes(range(64))):
        expected = luna_bytes(usb_packet.data_packet(usb_packet.PID.DATA1, list(payload)))
        assert data_packet(Pid.DATA1, payload) == expected
        assert parse(expected) == (Pid.DATA1, payload)
    assert start_of_frame(1429)[0] == Pid.SOF.byte()
    with pytest.raises(ValueError, match="CRC16"):
        parse(data_packet(Pid.DATA0, b"abc")[:-1] + b"\x00")
    with pytest.raises(ValueError, match="check nibble"):
        parse(b"\x22")


@pytest.mark.parametrize("input_hz", [25e6, 48e6])
def test_usb_clocks_are_exact_and_within_the_ecp5_pll_limits(input_hz):
    pll = ecp5_usb_pll(input_hz)
    assert 400e6 <= pll.vco_hz <= 800e6
    assert input_hz / pll.clki_div >= 3.125e6  # the PFD's minimum
    assert pll.vco_hz / pll.usb_io_div == USB_IO_HZ and pll.vco_hz / pll.usb_div == USB_HZ
    assert max(pll.clkop_div, pll.usb_io_div, pll.usb_div) <= 128


def test_the_link_is_a_board_option_where_the_board_has_the_port():
    assert BOARDS["orangecrab-25f"].links == ("usb-fs",)
    assert board_link("orangecrab-25f") == USB_FULL_SPEED == BOARD_DEVICES["orangecrab-85f"].link
    top = BoardTop(board("ulx3s-25f"), link="usb-fs")
    assert (top.link, top.baud, top.clock_hz) == ("usb-fs", None, 84_375_000)
    assert BoardTop(board("orangecrab-25f")).clock_hz == 84_000_000
    default = output_dir("ulx3s-25f", "uniform")
    assert output_dir("ulx3s-25f", "uniform", link="usb-fs") == Path(f"{default}-usb-fs")
    assert output_dir("orangecrab-25f", "uniform").name == "orangecrab-25f"
    with pytest.raises(ValueError, match="icebreaker has no 'usb-fs' link; its links are uart"):
        BoardTop(board("icebreaker"), link="usb-fs")
    with pytest.raises(ValueError, match="orangecrab-25f has no 'uart' link"):
        BoardTop(board("orangecrab-25f"), link="uart")
    with pytest.raises(ValueError, match="baud=6000000 is for a UART"):
        BoardTop(board("ulx3s-25f"), link="usb-fs", baud=6_000_000)
    with pytest.raises(ValueError, match="has no UART"):
        board_link("orangecrab-25f", 3_000_000)
    assert build_main(["icebreaker", "--link", "usb-fs"]) == 1  # refused before any tool


def test_programming_a_usb_build(tmp_path, monkeypatch):
    import boards.build
    from boards.program import ProgramError, program_command

    monkeypatch.setattr(boards.build, "BUILD_ROOT", tmp_path)
    with pytest.raises(ProgramError, match="make bitstream BOARD=ulx3s-25f LINK=usb-fs`"):
        program_command("ulx3s-25f", link="usb-fs")
    (tmp_path / "orangecrab-25f").mkdir()
    (tmp_path / "orangecrab-25f" / "qmatmul.bit").write_bytes(b"\x00")
    monkeypatch.setenv("DFU_UTIL", "/nonexistent/dfu-util")
    with pytest.raises(ProgramError, match="dfu-util.* is not installed.*bootloader"):
        program_command("orangecrab-25f")
    monkeypatch.setenv("DFU_UTIL", "true")
    bitstream = str(tmp_path / "orangecrab-25f" / "qmatmul.bit")
    assert program_command("orangecrab-25f") == ["true", "-a", "0", "-D", bitstream]


@pytest.mark.parametrize(
    ("name", "link"),
    [
        ("orangecrab-25f", "usb-fs"),
        ("orangecrab-85f", "usb-fs"),
        pytest.param(
            "ulx3s-25f",
            "usb-fs",
            # Rebuilt on issue 21's design it misses 84.375 MHz at nextpnr seeds 0-2 (83.64,
            # 81.48, 79.53 MHz: the USB receive FIFO's read side, 25 steps); strict, so the
            # fix shows up here.
            marks=pytest.mark.xfail(strict=True, reason="the ULX3S 25F's USB build misses timing"),
        ),
    ],
)
def test_usb_builds_measured_met_timing_on_every_clock(name, link):
    """The committed figures of the USB builds (`bench/results/bitstream.json`, from
    `make bitstream`): the design configured now, timing met on the core clock and on
    LUNA's 48 and 12 MHz clocks."""
    results = json.loads((REPO / "bench/results/bitstream.json").read_text())["builds"]
    (report,) = [r for r in results if r["config"] == name and r.get("link") == link]
    core = board(name).params().core
    assert report["array"] == [core.rows, core.cols]
    assert report["target_mhz"] == pytest.approx(BOARD_DEVICES[name].clock_hz / 1e6)
    assert report["timing_met"] and report["fmax_mhz"] >= report["target_mhz"]
    assert report["usb_io_fmax_mhz"] >= USB_IO_HZ / 1e6 and report["usb_fmax_mhz"] >= USB_HZ / 1e6
    assert report["luts"] <= report["luts_available"]
    assert report["dsps"] <= report["dsps_available"]


def test_the_driver_knows_a_usb_device_by_its_ids(monkeypatch):
    """A port whose USB IDs are the device's own moves bytes at USB's pace, whatever baud
    the target names; another port at its baud. Low-latency mode, which a pseudo-terminal
    does not have, is skipped there without complaint."""
    import os
    import pty
    from types import SimpleNamespace

    from serial.tools import list_ports

    from sw.device.configs import USB_PRODUCT_ID, USB_VENDOR_ID
    from sw.driver.accelerator import open_serial

    controller, terminal = pty.openpty()
    name = os.ttyname(terminal)
    try:
        link = open_serial(name, timeout=1.0)
        assert link.bytes_per_second == 3_000_000 / 10
        link.port.close()
        usb_port = SimpleNamespace(device=name, vid=USB_VENDOR_ID, pid=USB_PRODUCT_ID)
        monkeypatch.setattr(list_ports, "comports", lambda: [usb_port])
        link = open_serial(name, timeout=1.0)
        assert link.bytes_per_second == USB_FULL_SPEED.bytes_per_second
        link.port.close()
    finally:
        os.close(controller)
        os.close(terminal)
