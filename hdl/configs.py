"""Named device configurations: the `TopParams` each target is built from.

``sim`` is the default simulated device (every weight mode, so any layer runs on
it); each board has its own, sized for its FPGA (see boards/). The driver's
``ref`` and ``sim`` targets take a name from here (``sim:icebreaker``).
"""

from __future__ import annotations

from .params import CoreParams
from .top import TopParams

DEVICES: dict[str, TopParams] = {
    "sim": TopParams(
        CoreParams(rows=4, cols=4, act_bits=8, weight_bits=4, acc_bits=32, channels=256),
        k_max=256,
        m_max=64,
        clock_hz=50_000_000,
        # In simulation the clock only runs while a frame is part way in, so this is
        # about a tenth of a second of a host that stopped sending.
        timeout_cycles=1 << 17,
    ),
    # iCEBreaker (iCE40 UP5K: 5280 LUTs, 8 DSPs, 30 x 4 kbit BRAM): SP2 4-bit PEs
    # are shifts and adds in LUTs, so the array is not limited by the DSPs but by
    # the LUTs: the protocol engine, buffers and requantizer take about 3000 of them,
    # each PE about 130 (bench/results/bitstream.json has the measured figures).
    "icebreaker": TopParams(
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
        clock_hz=24_000_000,
    ),
    # The multiplier modes: one SB_MAC16 per PE, two for the requantizer, one for
    # the RUN response length; seven of the eight.
    **{
        f"icebreaker-{mode}": TopParams(
            CoreParams(
                rows=2,
                cols=2,
                act_bits=8,
                weight_bits=4,
                acc_bits=18,
                weight_modes=(mode,),
                channels=64,
            ),
            k_max=64,
            m_max=16,
            clock_hz=24_000_000,
        )
        for mode in ("uniform", "codebook")
    },
    # ULX3S (ECP5 LFE5U-85F: 84k LUTs, 156 multipliers, 208 x 18 kbit BRAM): 144
    # PEs, on MULT18X18Ds in the multiplier modes and in LUTs for SP2. 84.375 MHz is a
    # clock the PLL makes exactly from 25 MHz, 144 x 84.375 MHz = 12.15 GMAC/s, and
    # 3 Mbaud comes out 0.45% fast (divisor 28).
    **{
        name: TopParams(
            CoreParams(
                rows=12,
                cols=12,
                act_bits=8,
                weight_bits=4,
                acc_bits=32,
                channels=256,
                **modes,
            ),
            k_max=256,
            m_max=64,
            clock_hz=84_375_000,
        )
        for name, modes in {
            "ulx3s-85f": {"weight_modes": ("uniform", "codebook")},
            "ulx3s-85f-spx": {"weight_modes": ("spx",), "spx_terms": 2, "max_shift": 6},
        }.items()
    },
}


def device(name: str) -> TopParams:
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; known devices: {', '.join(sorted(DEVICES))}")
    return DEVICES[name]
