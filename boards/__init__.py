"""The boards qmatmul builds for: platform, programmer, and what the device is on each.

What a board's device *is* (its clock, its link, a `TopParams` per weight mode) lives
in one record per board, `sw.device.configs.BOARD_DEVICES`, which the driver reads
too: ``sim:<config>`` simulates and ``ref:<config>`` imitates exactly what
``make bitstream BOARD=<board>`` builds. This module adds how to build and program it.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth_boards.icebreaker import ICEBreakerPlatform
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
    "ulx3s-85f": Board(
        name="ulx3s-85f",
        platform=ULX3S85FPlatform,
        bitstream_suffix=".bit",
        programmer=("openFPGALoader", "-b", "ulx3s"),
        programmer_env="OPENFPGALOADER",
    ),
    **{
        name: Board(
            name=name,
            platform=platform,
            bitstream_suffix=".bit",
            programmer=("openFPGALoader", "-b", "ulx3s"),
            programmer_env="OPENFPGALOADER",
        )
        for name, platform in (
            ("ulx3s-12f", ULX3S12FPlatform),
            ("ulx3s-25f", ULX3S25FPlatform),
            ("ulx3s-45f", ULX3S45FPlatform),
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
