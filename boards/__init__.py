"""The boards qmatmul builds for: platform, programmer, and what the device is on each.

What a board's device *is* (its clock, its link, a `TopParams` per weight mode) lives
in one record per board, `sw.device.configs.BOARD_DEVICES`, which the driver reads
too: ``sim:<config>`` simulates and ``ref:<config>`` imitates exactly what
``make bitstream BOARD=<board>`` builds. This module adds how to build and program it.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.orangecrab_r0_2 import (
    OrangeCrabR0_2_25FPlatform,
    OrangeCrabR0_2_85FPlatform,
)
from amaranth_boards.ulx3s import (
    ULX3S_12F_Platform,
    ULX3S_25F_Platform,
    ULX3S_45F_Platform,
    ULX3S_85F_Platform,
)

from sw.device.configs import BOARD_DEVICES, BoardDevices
from sw.device.params import TopParams

from .gowin import TangNano9kPlatform, TangNano20kPlatform


def _build_without_openfpgaloader(platform: type) -> type:
    """amaranth-boards' ULX3S asks for openFPGALoader even to build; building needs
    only Yosys, nextpnr and ecppack (programming checks for its tool itself)."""

    class Platform(platform):
        @property
        def required_tools(self):
            return [tool for tool in super().required_tools if tool != "openFPGALoader"]

    Platform.__name__ = Platform.__qualname__ = platform.__name__.replace("_", "")
    return Platform


ULX3S12FPlatform = _build_without_openfpgaloader(ULX3S_12F_Platform)
ULX3S25FPlatform = _build_without_openfpgaloader(ULX3S_25F_Platform)
ULX3S45FPlatform = _build_without_openfpgaloader(ULX3S_45F_Platform)
ULX3S85FPlatform = _build_without_openfpgaloader(ULX3S_85F_Platform)


def _build_without_dfu_suffix(platform: type) -> type:
    """amaranth-boards' OrangeCrab appends a DFU suffix with ``dfu-suffix`` (from
    dfu-util, not on PyPI) after ecppack; its bootloader takes the plain bitstream too
    (``dfu-util -a 0 -D qmatmul.bit``; dfu-util warns that the suffix is missing)."""

    class Platform(platform):
        @property
        def required_tools(self):
            return [tool for tool in super().required_tools if tool != "dfu-suffix"]

        @property
        def command_templates(self):
            return [step for step in super().command_templates if "dfu-suffix" not in step]

    Platform.__name__ = Platform.__qualname__ = platform.__name__.replace("_", "")
    return Platform


OrangeCrab25FPlatform = _build_without_dfu_suffix(OrangeCrabR0_2_25FPlatform)
OrangeCrab85FPlatform = _build_without_dfu_suffix(OrangeCrabR0_2_85FPlatform)


@dataclass(frozen=True)
class Board:
    name: str
    platform: type
    bitstream_suffix: str
    programmer: tuple[str, ...]  # command, before the bitstream path
    programmer_env: str  # environment variable that overrides the programmer
    synth_opts: str = ""
    busy_led: int | None = 0
    # The fastest UART rate the board's USB bridge takes (bits per second). 3 Mbaud:
    # the ULX3S's FT231X (its data sheet's limit); the Tang Nano 9K's BL702 (reported to
    # run clean at 3 Mbaud; sipeed/TangNano-9K-example#7); the 20K's BL616 (assumed the
    # same, not measured).
    max_baud: int = 3_000_000
    # The host links the board can be built with: "uart" through its USB-serial bridge,
    # "usb-fs" on a USB port wired to the FPGA (boards.usb). The first is the default.
    links: tuple[str, ...] = ("uart",)
    # nextpnr's placement seed when the build names none (None: nextpnr's own default).
    nextpnr_seed: int | None = None

    @property
    def devices(self) -> BoardDevices:
        return BOARD_DEVICES[self.name]

    @property
    def family(self) -> str:
        return self.devices.family

    @property
    def default_mode(self) -> str:
        return self.devices.default_mode

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self.devices.modes)

    def params(self, mode: str | None = None) -> TopParams:
        """The device built for ``mode`` (the board's default when None)."""
        return self.devices.modes[self.mode(mode)]

    def config(self, mode: str | None = None) -> str:
        """The name of that device configuration (for ``sim:`` and ``ref:`` targets)."""
        return self.devices.config_name(self.mode(mode))

    def link(self, link: str | None) -> str:
        """``link``, or the board's own when None; refuses one the board has not."""
        link = link or self.devices.link.kind
        if link not in self.links:
            raise ValueError(
                f"board {self.name} has no {link!r} link; its links are {', '.join(self.links)}"
            )
        return link

    def mode(self, mode: str | None) -> str:
        mode = mode or self.default_mode
        if mode not in self.devices.modes:
            raise ValueError(
                f"board {self.name} has no {mode!r} build; its modes are {', '.join(self.modes)}"
            )
        return mode


BOARDS: dict[str, Board] = {
    "icebreaker": Board(
        name="icebreaker",
        platform=ICEBreakerPlatform,
        bitstream_suffix=".bin",
        programmer=("iceprog",),
        programmer_env="ICEPROG",
        synth_opts="-dsp",  # DSPs for the requantizer's multiply (and uniform PEs)
        max_baud=12_000_000,  # FT2232H: 12 MHz / n baud
    ),
    # The ULX3S's second USB port (US2) is wired to the FPGA: `make bitstream LINK=usb-fs`.
    **{
        name: Board(
            name=name,
            platform=platform,
            bitstream_suffix=".bit",
            programmer=("openFPGALoader", "-b", "ulx3s"),
            programmer_env="OPENFPGALOADER",
            links=("uart", "usb-fs"),
            # Placement, not logic, decides whether the 85F's design meets 84.375 MHz:
            # with RUN_NETWORK it reaches 87.2 MHz at nextpnr seed 2 and 79.9 at seed 1
            # (before it, with REPEAT: 81.3 at the default seed, 89.3 at seeds 1 and 2).
            nextpnr_seed=2 if name == "ulx3s-85f" else None,
        )
        for name, platform in (
            ("ulx3s-12f", ULX3S12FPlatform),
            ("ulx3s-25f", ULX3S25FPlatform),
            ("ulx3s-45f", ULX3S45FPlatform),
            ("ulx3s-85f", ULX3S85FPlatform),
        )
    },
    # The OrangeCrab has no USB-serial bridge: its one USB port is the FPGA's, and its
    # LED is an RGB one (left dark).
    **{
        name: Board(
            name=name,
            platform=platform,
            bitstream_suffix=".bit",
            programmer=("dfu-util", "-a", "0", "-D"),
            programmer_env="DFU_UTIL",
            busy_led=None,
            links=("usb-fs",),
        )
        for name, platform in (
            ("orangecrab-25f", OrangeCrab25FPlatform),
            ("orangecrab-85f", OrangeCrab85FPlatform),
        )
    },
    **{
        name: Board(
            name=name,
            platform=platform,
            bitstream_suffix=".fs",
            programmer=("openFPGALoader", "-b", name),
            programmer_env="OPENFPGALOADER",
        )
        for name, platform in (
            ("tangnano9k", TangNano9kPlatform),
            ("tangnano20k", TangNano20kPlatform),
        )
    },
}
assert set(BOARDS) == set(BOARD_DEVICES), "every board needs both records"


def board(name: str) -> Board:
    if name not in BOARDS:
        known = ", ".join(sorted(BOARDS))
        raise ValueError(f"unknown board {name!r}; known boards: {known}")
    return BOARDS[name]
