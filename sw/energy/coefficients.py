"""Every energy coefficient, in one table, each with its source and its uncertainty.

iCE40 UltraPlus (UP5K, core rail 1.2 V): the coefficients are derived here from one
public set of board measurements, the per-rail currents that tinyvision.ai measured
on Lattice's iCE40 UltraPlus breakout board with a Joulescope JS110
(github.com/tinyvision-ai-inc/ice40_power, README "Results"; core rail at 1.219 V).
The raw currents are `ICE40_POWER_MEASUREMENTS`; each coefficient says which rows it
comes from, so a reader can redo the arithmetic (docs/energy.md does, by hand).

ECP5 has no public per-resource energy data: its table is marked uncalibrated and
carries iCE40-derived placeholders with a 10x band, so that no number computed from it
can be read as a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

CORE_VOLTS = 1.219  # the core rail in the measurements (V)
SOURCE = "tinyvision-ai-inc/ice40_power README, iCE40UP breakout board, Joulescope JS110"

# Core-rail currents (uA) of the rows used below, as published.
ICE40_POWER_MEASUREMENTS = {
    "blank_design": 85.6,
    "ext_12mhz_counter_28bit_32lc": 613.5,
    "ext_12mhz_counter_224bit_228lc": 641.3,
    "hfosc_48mhz_counter": 2184.0,
    "hfosc_24mhz_counter": 1162.0,
    "hfosc_12mhz_counter": 645.0,
    "hfosc_6mhz_counter": 388.4,
    "ext_halted_clock_counter": 92.1,
    "hfosc_12mhz_math_no_dsp_208lc": 996.0,
    "hfosc_12mhz_math_1_dsp_72lc": 882.0,
    "pll_16mhz_core": 1419.0,
    "pll_48mhz_core": 2573.0,
    "pll_16mhz_pll_rail": 138.6,
}


@dataclass(frozen=True)
class Coefficient:
    """One coefficient: central value with a low..high band, its unit, where it comes from."""

    name: str
    value: float
    low: float
    high: float
    unit: str
    source: str
    derivation: str
    calibrated: bool = True

    def __post_init__(self):
        if not self.low <= self.value <= self.high:
            raise ValueError(f"{self.name}: value {self.value} outside its band")


def _ua_per_mhz_to_pj(ua_per_mhz: float) -> float:
    """A current slope (uA per MHz of clock) at the core rail -> energy per cycle (pJ)."""
    return ua_per_mhz * CORE_VOLTS  # uA/MHz * V = pJ per cycle


def _ice40_up() -> dict[str, Coefficient]:
    m = ICE40_POWER_MEASUREMENTS
    # Clock tree + oscillator + a 24-bit counter: the HFOSC frequency sweep, 6 -> 48 MHz.
    clock_slope = (m["hfosc_48mhz_counter"] - m["hfosc_6mhz_counter"]) / (48 - 6)
    # The same with an external clock (no oscillator), 0 -> 12 MHz.
    external_slope = (m["ext_12mhz_counter_28bit_32lc"] - m["ext_halted_clock_counter"]) / 12
    # Counter width sweep at 12 MHz: 196 more flip-flops, the same ~2 bit flips per cycle.
    per_ff = (m["ext_12mhz_counter_224bit_228lc"] - m["ext_12mhz_counter_28bit_32lc"]) / 196 / 12
    # 8x8 multiply of two counters, every cycle at 12 MHz, above the counter-only design.
    mult_lut = (m["hfosc_12mhz_math_no_dsp_208lc"] - m["hfosc_12mhz_counter"]) / 12
    mult_dsp = (m["hfosc_12mhz_math_1_dsp_72lc"] - m["hfosc_12mhz_counter"]) / 12
    pll_extra_ua = (
        m["pll_16mhz_core"]
        - 16 * (m["pll_48mhz_core"] - m["pll_16mhz_core"]) / 32
        - m["blank_design"]
    )
    return {
        coefficient.name: coefficient
        for coefficient in (
            Coefficient(
                "clock_per_cycle",
                _ua_per_mhz_to_pj(clock_slope),
                0.85 * _ua_per_mhz_to_pj(clock_slope),
                1.15 * _ua_per_mhz_to_pj(external_slope),
                "pJ/cycle",
                SOURCE,
                "HFOSC 6->48 MHz slope (2184-388.4)/42 uA/MHz x 1.219 V; the external-clock "
                "slope (613.5-92.1)/12 gives 53.0; band +-15% (a 24-bit counter is included)",
            ),
            Coefficient(
                "ff_clock_per_cycle",
                _ua_per_mhz_to_pj(per_ff) * 1e3,
                0.5 * _ua_per_mhz_to_pj(per_ff) * 1e3,
                2.0 * _ua_per_mhz_to_pj(per_ff) * 1e3,
                "fJ/(flip-flop cycle)",
                SOURCE,
                "counter 28 -> 224 bits at 12 MHz: (641.3-613.5) uA / 196 FF / 12 MHz x 1.219 V;"
                " a 28 uA step near the meter's resolution: band 0.5x..2x",
            ),
            Coefficient(
                "net_toggle",
                # Set from the 8x8 LUT multiply below divided by its RTL net toggles
                # (`calibrate_net_toggle`); this placeholder is replaced at import.
                1.0,
                0.1,
                3.0,
                "pJ/toggle",
                SOURCE + " (math rows) + this package's toggle count of the same circuit",
                "see calibrate_net_toggle",
            ),
            Coefficient(
                "mult8x8_lut",
                _ua_per_mhz_to_pj(mult_lut),
                0.7 * _ua_per_mhz_to_pj(mult_lut),
                1.3 * _ua_per_mhz_to_pj(mult_lut),
                "pJ/multiply",
                SOURCE,
                "(996-645) uA / 12 MHz x 1.219 V: an 8x8 LUT multiply of two counters (+3, +5)"
                " and its two counters, per cycle; band +-30% (operand activity differs)",
            ),
            Coefficient(
                "mult8x8_dsp",
                _ua_per_mhz_to_pj(mult_dsp),
                0.7 * _ua_per_mhz_to_pj(mult_dsp),
                1.3 * _ua_per_mhz_to_pj(mult_dsp),
                "pJ/multiply",
                SOURCE,
                "(882-645) uA / 12 MHz x 1.219 V: the same multiply in one SB_MAC16; band +-30%",
            ),
            Coefficient(
                "static_power",
                m["blank_design"] * CORE_VOLTS,
                0.8 * m["blank_design"] * CORE_VOLTS,
                1.5 * m["blank_design"] * CORE_VOLTS,
                "uW",
                SOURCE,
                "blank design core current 85.6 uA x 1.219 V (room temperature; leakage rises"
                " with temperature: band 0.8x..1.5x)",
            ),
            Coefficient(
                "pll_power",
                (pll_extra_ua + m["pll_16mhz_pll_rail"]) * CORE_VOLTS,
                0.7 * (pll_extra_ua + m["pll_16mhz_pll_rail"]) * CORE_VOLTS,
                1.3 * (pll_extra_ua + m["pll_16mhz_pll_rail"]) * CORE_VOLTS,
                "uW",
                SOURCE,
                "PLL rows: core current at 16 MHz less the 16->48 MHz slope times 16 MHz, less"
                " the blank design, plus the PLL rail (138.6 uA); band +-30% (two points)",
            ),
        )
    }


# The toy circuit of the measurement's math rows, whose RTL toggles `calibrate_net_toggle`
# counts: two 8-bit counters stepping by 3 and 5, multiplied every cycle.
MATH_COUNTER_STEPS = (3, 5)


def calibrate_net_toggle(
    table: dict[str, Coefficient], toggles_per_cycle: float
) -> dict[str, Coefficient]:
    """Set ``net_toggle`` = (LUT 8x8 multiply energy per cycle) / (RTL net toggles per
    cycle of the same circuit). That multiply hides its partial products from an RTL
    count, so this is an upper estimate for ordinary logic: the band runs from 1/10 of
    it (a register bit and its local routing) to the value itself x 1.3."""
    if toggles_per_cycle <= 0:
        raise ValueError(f"toggles_per_cycle must be positive, got {toggles_per_cycle}")
    lut = table["mult8x8_lut"]
    value = lut.value / toggles_per_cycle
    table = dict(table)
    table["net_toggle"] = Coefficient(
        "net_toggle",
        value,
        value / 10,
        lut.high / toggles_per_cycle,
        "pJ/toggle",
        table["net_toggle"].source,
        f"mult8x8_lut {lut.value:.2f} pJ / {toggles_per_cycle:.2f} RTL net toggles per cycle"
        " of the same circuit (counted here); band 0.1x..1.3x",
    )
    return table


# Which coefficient prices a toggle of each netlist cell class (`sw.energy.netlist`).
CELL_COEFFICIENTS = {
    "lut": "cell_toggle",
    "carry": "cell_toggle",
    "ff": "cell_toggle",
    "dsp": "dsp_output_toggle",
    "bram": "bram_read_toggle",
}


def calibrate_cells(
    table: dict[str, Coefficient], lut_design: dict[str, float], dsp_design: dict[str, float]
) -> dict[str, Coefficient]:
    """Netlist coefficients from the math circuit's cell toggles per cycle, synthesized
    in LUTs (``lut_design``) and with its multiply on an SB_MAC16 (``dsp_design``).

    ``cell_toggle`` = the LUT design's energy per cycle / its LUT+carry+FF toggles (one
    price for every fabric cell output, its routing included); ``dsp_output_toggle`` =
    what the DSP design's energy leaves after its fabric toggles, per MAC16 output
    toggle. ``bram_read_toggle`` has no measurement: ``cell_toggle`` x 3 with a 1x..20x
    band (an order of magnitude, marked uncalibrated)."""
    fabric = ("lut", "carry", "ff")
    lut_toggles = sum(lut_design[c] for c in fabric)
    dsp_outputs = dsp_design["dsp"]
    if lut_toggles <= 0 or dsp_outputs <= 0:
        raise ValueError("the calibration designs must toggle their LUTs and their MAC16")
    lut, dsp = table["mult8x8_lut"], table["mult8x8_dsp"]
    table = dict(table)
    cell = {end: getattr(lut, end) / lut_toggles for end in ("value", "low", "high")}
    # The measured multiply glitches; a zero-delay count does not see glitches, so logic
    # that glitches less costs less per counted toggle: the low end goes 3x lower.
    cell["low"] /= 3
    table["cell_toggle"] = Coefficient(
        "cell_toggle",
        cell["value"],
        cell["low"],
        cell["high"],
        "pJ/toggle",
        lut.source + " + this package's netlist toggle count of the same circuit",
        f"mult8x8_lut {lut.value:.2f} pJ / {lut_toggles:.2f} LUT+carry+FF output toggles per"
        " cycle of the synth_ice40 netlist; band mult8x8_lut's, low end / 3 (glitches)",
    )
    fabric_dsp = sum(dsp_design[c] for c in fabric)
    per_output = {
        end: max(getattr(dsp, end) - cell[end] * fabric_dsp, 0.0) / dsp_outputs
        for end in ("value", "low", "high")
    }
    table["dsp_output_toggle"] = Coefficient(
        "dsp_output_toggle",
        per_output["value"],
        per_output["low"],
        per_output["high"],
        "pJ/toggle",
        dsp.source + " + this package's netlist toggle count of the same circuit",
        f"(mult8x8_dsp {dsp.value:.2f} pJ - cell_toggle x {fabric_dsp:.2f} fabric toggles) /"
        f" {dsp_outputs:.2f} SB_MAC16 output toggles per cycle",
    )
    table["bram_read_toggle"] = Coefficient(
        "bram_read_toggle",
        3 * cell["value"],
        cell["value"],
        20 * cell["value"],
        "pJ/toggle",
        "none: no public iCE40 BRAM energy measurement (order of magnitude)",
        "3 x cell_toggle, band 1x..20x",
        calibrated=False,
    )
    return table


def ecp5_uncalibrated(ice40: dict[str, Coefficient]) -> dict[str, Coefficient]:
    """ECP5: no public per-resource data. iCE40 values as placeholders, band 0.3x..10x."""
    return {
        name: Coefficient(
            name,
            c.value,
            0.3 * c.value,
            10 * c.value,
            c.unit,
            "UNCALIBRATED placeholder (iCE40 UltraPlus value)",
            "no public per-resource energy data for ECP5",
            calibrated=False,
        )
        for name, c in ice40.items()
    }


ICE40_UP = _ice40_up()
