"""The boards qmatmul builds for: platform, programmer, and what the device is on each.

What a board's device *is* (its clock, its link, a `TopParams` per weight mode) lives
in one record per board, `sw.device.configs.BOARD_DEVICES`, which the driver reads
too: ``sim:<config>`` simulates and ``ref:<config>`` imitates exactly what
``make bitstream BOARD=<board>`` builds. This module adds how to build and program it.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from sw.device.configs import BOARD_DEVICES, BoardDevices
from sw.device.params import TopParams


class ULX3S85FPlatform(ULX3S_85F_Platform):
    """amaranth-boards' ULX3S asks for openFPGALoader even to build; building needs
    only Yosys, nextpnr and ecppack (programming checks for its tool itself)."""

    @property
    def required_tools(self):
        return [tool for tool in super().required_tools if tool != "openFPGALoader"]


@dataclass(frozen=True)
class Board:
    name: str
    platform: type
    bitstream_suffix: str
    programmer: tuple[str, ...]  # command, before the bitstream path
    programmer_env: str  # environment variable that overrides the programmer
    synth_opts: str = ""
    busy_led: int | None = 0

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
    ),
    "ulx3s-85f": Board(
        name="ulx3s-85f",
        platform=ULX3S85FPlatform,
        bitstream_suffix=".bit",
        programmer=("openFPGALoader", "-b", "ulx3s"),
        programmer_env="OPENFPGALOADER",
    ),
}
assert set(BOARDS) == set(BOARD_DEVICES), "every board needs both records"


def board(name: str) -> Board:
    if name not in BOARDS:
        known = ", ".join(sorted(BOARDS))
        raise ValueError(f"unknown board {name!r}; known boards: {known}")
    return BOARDS[name]
