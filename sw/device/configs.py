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
    # Four layer banks: a network of up to four layers runs whole (RUN_NETWORK).
    CoreParams(rows=4, cols=4, act_bits=8, weight_bits=4, acc_bits=32, channels=256, layer_banks=4),
    k_max=256,
    m_max=64,
    clock_hz=50_000_000,
    # In simulation the clock only runs while a frame is part way in, so this is
    # about a tenth of a second of a host that stopped sending.
    timeout_cycles=1 << 17,
)


@dataclass(frozen=True)
class Link:
    """How bytes cross between host and board: the kind of link, its line rate, and what
    one payload byte costs on the line.

    ``wire_bits_per_byte`` is 10 for a UART's 8N1 (start bit, 8 data bits, stop bit); for
    USB it is the line rate over the payload rate the bus can carry at most."""

    kind: str  # "uart" or "usb-fs"
    bits_per_second: int  # line rate (the baud rate of a UART)
    wire_bits_per_byte: float

    def __post_init__(self):
        if self.kind not in LINK_KINDS:
            raise ValueError(f"link kind={self.kind!r} must be one of {LINK_KINDS}")
        if self.bits_per_second <= 0 or self.wire_bits_per_byte < 8:
            raise ValueError(
                f"a link needs bits_per_second > 0 (got {self.bits_per_second}) and at least "
                f"8 wire bits per byte (got {self.wire_bits_per_byte})"
            )

    @property
    def bytes_per_second(self) -> float:
        """Payload bytes per second with the line busy all the time."""
        return self.bits_per_second / self.wire_bits_per_byte

    def wire_seconds(self, n_bytes: int) -> float:
        """Seconds the line takes to carry ``n_bytes`` payload bytes back to back (no
        host or driver latency: a lower bound on the real transfer time)."""
        if n_bytes < 0:
            raise ValueError(f"n_bytes={n_bytes} must be >= 0")
        return n_bytes * self.wire_bits_per_byte / self.bits_per_second


LINK_KINDS = ("uart", "usb-fs")
UART_WIRE_BITS = 10  # 8N1: start, 8 data, stop


def uart_link(baud: int) -> Link:
    """A UART at ``baud`` bits per second, 8N1."""
    return Link("uart", baud, UART_WIRE_BITS)


# USB full speed (12 Mbit/s) as a CDC-ACM serial port carries its data in bulk
# transfers: at most 19 packets of 64 bytes in each 1 ms frame (USB 2.0, table 5-10), so
# at most 1,216,000 payload bytes a second, ~9.87 line bits per byte (packet, token and
# handshake overhead and bit stuffing). The OrangeCrabs' link, and the ULX3S's second
# port (boards.usb).
USB_FULL_SPEED = Link("usb-fs", 12_000_000, 12_000_000 / (19 * 64 * 1000))
# How a board on its own USB port introduces itself, so the driver knows it for one:
# pid.codes' vendor ID for open hardware with its test product ID (fine for a device on
# your own desk, not for one you ship: pid.codes gives product IDs away).
USB_VENDOR_ID = 0x1209
USB_PRODUCT_ID = 0x0001


@dataclass(frozen=True)
class BoardDevices:
    """What one board is built as: its clock, its link, and a device per weight mode."""

    board: str
    family: str  # "ice40", "ecp5" or "gowin"
    clock_hz: int  # the core clock; its PLL must make it exactly (boards/clocks.py)
    baud: int | None  # the UART's rate; None on a board whose link is USB
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

    @property
    def link(self) -> Link:
        """The host link this board is built with by default (`Link`)."""
        return USB_FULL_SPEED if self.baud is None else uart_link(self.baud)

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
    # Four drain lanes: a 12 x 12 tile drains in 36 cycles, inside a 64-deep tile's 65,
    # and their requantizers take 8 of the 12 MULT18X18Ds the array leaves. Two layer
    # banks: with four the design took 29025 LUTs and 109 block RAMs and placed at
    # 45.3 MHz for 84.375 (README, Boards).
    core = CoreParams(
        rows=12,
        cols=12,
        act_bits=8,
        weight_bits=4,
        acc_bits=32,
        channels=256,
        drain_lanes=4,
        **modes,
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
                # With RUN_NETWORK's write-back path it takes 5338 of the 5280 LCs.
                networks=False,
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


def _multiplier_array(
    rows: int,
    cols: int,
    *,
    acc_bits: int = 32,
    k_max: int = 256,
    m_max: int = 64,
    channels: int = 256,
) -> TopParams:
    """A design of ``rows`` x ``cols`` PEs on DSP multipliers, in the multiplier modes
    (uniform and codebook share it); by default the 85F's widths and buffers."""
    core = CoreParams(
        rows=rows,
        cols=cols,
        act_bits=8,
        weight_bits=4,
        acc_bits=acc_bits,
        channels=channels,
        weight_modes=("uniform", "codebook"),
    )
    return TopParams(core, k_max=k_max, m_max=m_max)


def _multiplier_board(
    name: str, family: str, clock_hz: int, design: TopParams, baud: int | None = DEFAULT_BAUD
) -> BoardDevices:
    """A board whose one design runs both multiplier modes (``uniform`` is its default)."""
    return BoardDevices(
        board=name,
        family=family,
        clock_hz=clock_hz,
        baud=baud,
        default_mode="uniform",
        modes={"uniform": design, "codebook": design},
    )


# The smaller ULX3S dies: same board, pins, 25 MHz oscillator, PLL, clock and UART as
# the 85F, so the same 84.375 MHz. Each array takes one MULT18X18D per PE, and the
# requantizer's multiply and the RUN response length take three more (147 on the 85F's
# 12 x 12). LFE5U-25F (24k LUTs, 28 MULT18X18D, 56 DP16KD): 5 x 5 = 25 + 3 = 28.
# LFE5U-45F (44k LUTs, 72 MULT18X18D, 108 DP16KD): 8 x 8 = 64 + 3 = 67 (a 69th PE would
# not make a rectangle). LFE5U-12F is the 25F's die sold with a smaller budget (12k
# LUTs, 28 MULT18X18D, 32 DP16KD; nextpnr places it on the 25F's chip database, so
# `boards.build` checks the budget itself): the 25F's array with half the buffers.
# RUN_NETWORK's second activation region doubles the activation banks: with 64-row RUNs
# the 25F's design wants more than its 56 block RAMs, so its RUNs take 32 rows (the
# activation banks then take what 64 rows took without RUN_NETWORK).
_ECP5_25F_ARRAY = _multiplier_array(5, 5, m_max=32)
BOARD_DEVICES["ulx3s-12f"] = _multiplier_board(
    "ulx3s-12f", "ecp5", 84_375_000, _multiplier_array(5, 5, k_max=128, m_max=32, channels=128)
)
BOARD_DEVICES["ulx3s-25f"] = _multiplier_board("ulx3s-25f", "ecp5", 84_375_000, _ECP5_25F_ARRAY)
BOARD_DEVICES["ulx3s-45f"] = _multiplier_board(
    "ulx3s-45f", "ecp5", 84_375_000, _multiplier_array(8, 8)
)
# Sipeed Tang Nano 9K (GW1NR-9: 8640 LUT4s, 20 18 x 18 multipliers, 26 x 18 kbit BSRAM)
# and 20K (GW2AR-18: 20736 LUT4s, 48 multipliers, 46 BSRAM), 27 MHz oscillators, a UART
# to the onboard USB debugger (BL702 / BL616). Yosys's synth_gowin puts an 8 x 8 PE
# multiply on a 9 x 9 half of a multiplier block, so the 20K's 48 blocks hold 8 x 8 PEs
# beside the requantizer's multiplies (70 of 96 halves). The 9K is short of LUTs, not
# multipliers: its 4 x 4 array with a 24-bit accumulator takes 80% of them (its
# decode table is a LUT RAM, `hdl.core`). Clocks are rPLL outputs that divide to
# 3 Mbaud exactly, below nextpnr's Fmax (docs/boards.md has the builds).
BOARD_DEVICES["tangnano9k"] = _multiplier_board(
    "tangnano9k", "gowin", 54_000_000,
    _multiplier_array(4, 4, acc_bits=24, k_max=128, m_max=32, channels=64),
)  # fmt: skip
BOARD_DEVICES["tangnano20k"] = _multiplier_board(
    "tangnano20k", "gowin", 108_000_000,
    _multiplier_array(8, 8, k_max=256, m_max=32, channels=128),
)  # fmt: skip

# OrangeCrab r0.2 (LFE5U-25F / 85F, 48 MHz oscillator): no USB-serial bridge; its USB
# port is the FPGA's own, a full-speed serial device (baud None: the link is USB).
# The ULX3S's arrays on the same dies; the clock is the PLL's nearest to theirs from
# 48 MHz (x 7 / 4).
BOARD_DEVICES["orangecrab-25f"] = _multiplier_board(
    "orangecrab-25f", "ecp5", 84_000_000, _ECP5_25F_ARRAY, baud=None
)
BOARD_DEVICES["orangecrab-85f"] = replace(
    BOARD_DEVICES["ulx3s-85f"], board="orangecrab-85f", clock_hz=84_000_000, baud=None
)


DEVICES: dict[str, TopParams] = {"sim": SIM} | {
    board.config_name(mode): params
    for board in BOARD_DEVICES.values()
    for mode, params in board.modes.items()
}


def device(name: str) -> TopParams:
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; known devices: {', '.join(sorted(DEVICES))}")
    return DEVICES[name]


def board_link(board: str, baud: int | None = None) -> Link:
    """The link of ``board`` as built by default, or with its UART at ``baud``."""
    if board not in BOARD_DEVICES:
        known = ", ".join(sorted(BOARD_DEVICES))
        raise ValueError(f"unknown board {board!r}; known boards: {known}")
    if baud is not None and BOARD_DEVICES[board].baud is None:
        raise ValueError(f"{board} has no UART (its link is USB): baud={baud} does not apply")
    return BOARD_DEVICES[board].link if baud is None else uart_link(baud)


def wire_seconds(board: str, n_bytes: int, baud: int | None = None) -> float:
    """Seconds ``n_bytes`` payload bytes take on ``board``'s link (see `Link.wire_seconds`)."""
    return board_link(board, baud).wire_seconds(n_bytes)
