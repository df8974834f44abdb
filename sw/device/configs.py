"""Named device configurations: the `TopParams` each target is built from.

``sim`` is the default simulated device (every weight mode, so any layer runs on
it). Each board has one record here, `BoardDevices`: its core clock, its link and
a `TopParams` per weight mode, sized for its FPGA; ``boards`` builds them and the
driver's ``ref:<config>`` and ``sim:<config>`` imitate or simulate exactly them.
A board's default mode is named after the board (``icebreaker``), another mode
``<board>-<mode>`` (``icebreaker-uniform``) unless it shares the default's design.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .params import CoreParams, TopParams

DEFAULT_BAUD = 3_000_000  # the boards' UART rate, and the serial driver's default

SIM = TopParams(
    CoreParams(rows=4, cols=4, act_bits=8, weight_bits=4, acc_bits=32, channels=256),
    k_max=256,
    m_max=64,
    clock_hz=50_000_000,
    # In simulation the clock only runs while a frame is part way in, so this is
    # about a tenth of a second of a host that stopped sending.
    timeout_cycles=1 << 17,
)


@dataclass(frozen=True)
class BoardDevices:
    """What one board is built as: its clock, its link, and a device per weight mode."""

    board: str
    family: str  # "ice40" or "ecp5"
    clock_hz: int  # the core clock; its PLL must make it exactly (boards/clocks.py)
    baud: int
    default_mode: str
    modes: dict[str, TopParams] = field(default_factory=dict)

    def __post_init__(self):
        if self.default_mode not in self.modes:
            raise ValueError(f"{self.board}: default mode {self.default_mode!r} has no design")
        # Every mode's device runs at the board's clock, on the board's FPGA family.
        fixed = {
            m: replace(p, clock_hz=self.clock_hz, family=self.family) for m, p in self.modes.items()
        }
        object.__setattr__(self, "modes", fixed)

    def config_name(self, mode: str) -> str:
        if mode not in self.modes:
            raise ValueError(
                f"board {self.board} has no {mode!r} build; its modes are {', '.join(self.modes)}"
            )
        same_as_default = self.modes[mode] == self.modes[self.default_mode]
        return self.board if same_as_default else f"{self.board}-{mode}"


def _icebreaker_multiplier_mode(mode: str) -> TopParams:
    # One SB_MAC16 per PE, two for the requantizer, one for the RUN response length:
    # seven of the eight.
    core = CoreParams(
        rows=2, cols=2, act_bits=8, weight_bits=4, acc_bits=18, weight_modes=(mode,), channels=64
    )
    return TopParams(core, k_max=64, m_max=16)


def _ulx3s(**modes) -> TopParams:
    core = CoreParams(
        rows=12, cols=12, act_bits=8, weight_bits=4, acc_bits=32, channels=256, **modes
    )
    return TopParams(core, k_max=256, m_max=64)


BOARD_DEVICES: dict[str, BoardDevices] = {
    # iCEBreaker (iCE40 UP5K: 5280 LUTs, 8 DSPs, 30 x 4 kbit BRAM). SP2 4-bit PEs are
    # shifts and adds in LUTs, so the array is limited by the LUTs, not the DSPs: the
    # protocol engine, buffers and requantizer take about 3000, each PE about 130
    # (bench/results/bitstream.json has the measured figures). 24 MHz divides to
    # 3 Mbaud exactly.
    "icebreaker": BoardDevices(
        board="icebreaker",
        family="ice40",
        clock_hz=24_000_000,
        baud=DEFAULT_BAUD,
        default_mode="spx",
        modes={
            "spx": TopParams(
                CoreParams(
                    rows=3,
                    cols=4,
                    act_bits=8,
                    weight_bits=4,
                    acc_bits=18,
                    weight_modes=("spx",),
                    spx_terms=2,
                    max_shift=2,
                    channels=64,
                    spx_programmable=False,
                ),
                k_max=64,
                m_max=16,
            ),
            "uniform": _icebreaker_multiplier_mode("uniform"),
            "codebook": _icebreaker_multiplier_mode("codebook"),
        },
    ),
    # ULX3S (ECP5 LFE5U-85F: 84k LUTs, 156 multipliers, 208 x 18 kbit BRAM): 144 PEs, on
    # MULT18X18Ds in the multiplier modes and in LUTs for SP2. 84.375 MHz is a clock the
    # PLL makes exactly from 25 MHz; 144 x 84.375 MHz = 12.15 GMAC/s, and 3 Mbaud comes
    # out 0.45% fast (divisor 28).
    "ulx3s-85f": BoardDevices(
        board="ulx3s-85f",
        family="ecp5",
        clock_hz=84_375_000,
        baud=DEFAULT_BAUD,
        default_mode="uniform",
        modes={
            "uniform": _ulx3s(weight_modes=("uniform", "codebook")),
            "codebook": _ulx3s(weight_modes=("uniform", "codebook")),
            "spx": _ulx3s(weight_modes=("spx",), spx_terms=2, max_shift=6),
        },
    ),
}

DEVICES: dict[str, TopParams] = {"sim": SIM} | {
    board.config_name(mode): params
    for board in BOARD_DEVICES.values()
    for mode, params in board.modes.items()
}


def device(name: str) -> TopParams:
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; known devices: {', '.join(sorted(DEVICES))}")
    return DEVICES[name]
