"""The energy estimate: E = sum(toggles x e_toggle) + e_clock x cycles + P_static x t.

Terms (coefficients from `sw.energy.coefficients`, one table):

- switching: net toggles x ``net_toggle`` (pJ per RTL net transition), or on the
  netlist, cell output toggles x their class's coefficient (`CELL_COEFFICIENTS`);
- clock: cycles x (``clock_per_cycle`` + flip-flops x ``ff_clock_per_cycle``): the
  clock tree runs every cycle whatever the data does, the floor under any saving;
- static: (``static_power`` [+ ``pll_power`` for the board]) x time.

`core_energy` counts the core's blocks over the cycles of its run (the compute alone);
`system_energy` adds the protocol engine and the link: the board's clock, PLL and
leakage run for as long as the request and the answer take on the UART
(bytes x 10 bits / baud) plus the compute. Each result is a `Band`: the central
estimate and the estimates with every coefficient at its low and at its high end (every
term grows with its coefficient, so these bound the estimate over the table's bands).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .coefficients import CELL_COEFFICIENTS, Coefficient

UART_BITS_PER_BYTE = 10  # start + 8 data + stop


@dataclass(frozen=True)
class Band:
    """An energy (J) with the low and high ends of its uncertainty band."""

    value: float
    low: float
    high: float

    def scaled(self, factor: float) -> Band:
        return Band(self.value * factor, self.low * factor, self.high * factor)


@dataclass(frozen=True)
class Workload:
    """What one inference does on the device (per image, from simulation).

    ``toggles``: RTL net transitions counted in the energy; ``cycles``: clock cycles the
    estimate charges; ``flip_flops``: register bits the clock reaches every cycle;
    ``link_bytes``: bytes on the UART (0 for the core alone)."""

    toggles: float
    cycles: float
    flip_flops: int
    link_bytes: float = 0.0
    macs: int = 0
    # Netlist counts instead of RTL ones: toggles per cell class (lut, carry, ff, dsp, bram).
    cell_toggles: dict[str, float] | None = None


def _pick(table: dict[str, Coefficient], end: str) -> dict[str, float]:
    return {name: getattr(c, end) for name, c in table.items()}


def terms(work: Workload, c: dict[str, float], clock_hz: float, baud: float, board: bool):
    """The estimate's terms (J) for one set of coefficient values ``c``."""
    seconds = work.cycles / clock_hz + work.link_bytes * UART_BITS_PER_BYTE / baud
    clocked_cycles = seconds * clock_hz  # the board's clock runs while the link is busy too
    if work.cell_toggles is None:
        switching = work.toggles * c["net_toggle"] * 1e-12
    else:
        switching = sum(
            count * c[CELL_COEFFICIENTS[cell_class]] * 1e-12
            for cell_class, count in work.cell_toggles.items()
        )
    clock = clocked_cycles * (
        c["clock_per_cycle"] * 1e-12 + work.flip_flops * c["ff_clock_per_cycle"] * 1e-15
    )
    static_watts = c["static_power"] * 1e-6 + (c["pll_power"] * 1e-6 if board else 0.0)
    return {"switching": switching, "clock": clock, "static": static_watts * seconds}


def estimate(
    work: Workload,
    table: dict[str, Coefficient],
    *,
    clock_hz: float,
    baud: float = 3_000_000,
    board: bool = False,
) -> dict:
    """Energy per inference with its band, its terms, and GOPS/W (1 MAC = 2 ops).

    ``board`` adds the PLL that makes the board's clock (the system figure)."""
    if clock_hz <= 0:
        raise ValueError(f"clock_hz must be positive, got {clock_hz}")
    if baud <= 0:
        raise ValueError(f"baud must be positive, got {baud}")
    ends = {
        end: terms(work, _pick(table, end), clock_hz, baud, board)
        for end in ("value", "low", "high")
    }
    energy = Band(*(sum(ends[end].values()) for end in ("value", "low", "high")))
    central = ends["value"]
    ops = 2 * work.macs
    return {
        "energy_j": asdict(energy),
        "terms_j": central,
        "clock_share": central["clock"] / energy.value,
        "gops_per_watt": {
            "value": ops / energy.value / 1e9,
            "low": ops / energy.high / 1e9,  # the most energy, the fewest ops per joule
            "high": ops / energy.low / 1e9,
        }
        if ops
        else None,
        "seconds": work.cycles / clock_hz + work.link_bytes * UART_BITS_PER_BYTE / baud,
    }
