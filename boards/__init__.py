"""The boards qmatmul builds for: platform, clock, link, array per weight mode, programmer.

Each board names a device configuration in `hdl.configs` per weight mode (the
array and widths sized for its FPGA), so ``sim:<config>`` simulates exactly what
``make bitstream BOARD=<board>`` builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform


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
    family: str  # "ice40" or "ecp5"
    target_hz: float  # core clock asked of the PLL
    baud: int
    configs: dict[str, str]  # weight mode -> hdl.configs device name
    default_mode: str
    bitstream_suffix: str
    programmer: tuple[str, ...]  # command, before the bitstream path
    programmer_env: str  # environment variable that overrides the programmer
    synth_opts: str = ""
    busy_led: int | None = 0
    notes: dict[str, str] = field(default_factory=dict)

    def config(self, mode: str | None) -> str:
        mode = mode or self.default_mode
        if mode not in self.configs:
            raise ValueError(
                f"board {self.name} has no {mode!r} build; its modes are {', '.join(self.configs)}"
            )
        return self.configs[mode]


BOARDS: dict[str, Board] = {
    "icebreaker": Board(
        name="icebreaker",
        platform=ICEBreakerPlatform,
        family="ice40",
        target_hz=24e6,
        baud=3_000_000,
        configs={
            "spx": "icebreaker",
            "uniform": "icebreaker-uniform",
            "codebook": "icebreaker-codebook",
        },
        default_mode="spx",
        bitstream_suffix=".bin",
        programmer=("iceprog",),
        programmer_env="ICEPROG",
        synth_opts="-dsp",  # DSPs for the requantizer's multiply (and uniform PEs)
    ),
    "ulx3s-85f": Board(
        name="ulx3s-85f",
        platform=ULX3S85FPlatform,
        family="ecp5",
        target_hz=84.375e6,
        baud=3_000_000,
        configs={"uniform": "ulx3s-85f", "spx": "ulx3s-85f-spx", "codebook": "ulx3s-85f"},
        default_mode="uniform",
        bitstream_suffix=".bit",
        programmer=("openFPGALoader", "-b", "ulx3s"),
        programmer_env="OPENFPGALOADER",
    ),
}


def board(name: str) -> Board:
    if name not in BOARDS:
        known = ", ".join(sorted(BOARDS))
        raise ValueError(f"unknown board {name!r}; known boards: {known}")
    return BOARDS[name]
