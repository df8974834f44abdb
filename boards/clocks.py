"""PLL settings for a requested core clock, found by search within the PLLs' data-sheet limits.

Same rules as `icepll` (iCE40 SB_PLL40), `ecppll` (ECP5 EHXPLLL) and Apicula's
`gowin_pll` (Gowin rPLL); the result names the frequency actually reached, which is
what the build constrains and reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import ClockDomain, ClockSignal, Const, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer


@dataclass(frozen=True)
class Ice40Pll:
    divr: int
    divf: int
    divq: int
    filter_range: int
    output_hz: float
    input_hz: float


@dataclass(frozen=True)
class Ecp5Pll:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    output_hz: float
    input_hz: float


@dataclass(frozen=True)
class GowinPll:
    """rPLL: CLKOUT = CLKIN * (FBDIV_SEL + 1) / (IDIV_SEL + 1); VCO = CLKOUT * ODIV_SEL."""

    idiv_sel: int
    fbdiv_sel: int
    odiv_sel: int
    output_hz: float
    input_hz: float


# rPLL limits (Hz) that hold on both Gowin parts we build for: GW1NR-9 C6/I5 (PFD 3-400
# MHz, VCO 400-1200, CLKOUT 3.125-600) and GW2AR-18 C8/I7 (PFD 3-500, VCO 500-1250,
# CLKOUT 3.90625-625); Gowin's data sheets DS117 and DS226, as tabulated in Apicula's
# gowin_pll.
GOWIN_PFD_HZ = (3e6, 400e6)
GOWIN_VCO_HZ = (500e6, 1200e6)
GOWIN_CLKOUT_HZ = (3.90625e6, 600e6)
GOWIN_ODIV = (2, 4, 8, 16, 32, 48, 64, 80, 96, 112, 128)


def gowin_pll(input_hz: float, target_hz: float) -> GowinPll:
    best, best_score = None, None
    for idiv_sel in range(64):
        pfd = input_hz / (idiv_sel + 1)
        if not GOWIN_PFD_HZ[0] <= pfd <= GOWIN_PFD_HZ[1]:
            continue
        for fbdiv_sel in range(64):
            out = pfd * (fbdiv_sel + 1)
            if not GOWIN_CLKOUT_HZ[0] <= out <= GOWIN_CLKOUT_HZ[1]:
                continue
            for odiv_sel in GOWIN_ODIV:
                vco = out * odiv_sel
                if not GOWIN_VCO_HZ[0] <= vco <= GOWIN_VCO_HZ[1]:
                    continue
                # Closest output first, then the highest PFD (least jitter).
                score = (abs(out - target_hz), idiv_sel)
                if best is None or score < best_score:
                    best = GowinPll(idiv_sel, fbdiv_sel, odiv_sel, out, input_hz)
                    best_score = score
    if best is None:
        raise ValueError(f"no Gowin rPLL setting reaches {target_hz / 1e6:g} MHz")
    return best


def ice40_pll(input_hz: float, target_hz: float) -> Ice40Pll:
    best = None
    for divr in range(16):
        pfd = input_hz / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533e6 <= vco <= 1066e6:
                continue
            for divq in range(1, 7):
                out = vco / 2**divq
                if best is None or abs(out - target_hz) < abs(best.output_hz - target_hz):
                    filter_range = next(
                        i + 1 for i, limit in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12))
                        if pfd < limit
                    )  # fmt: skip
                    best = Ice40Pll(divr, divf, divq, filter_range, out, input_hz)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting reaches {target_hz / 1e6:g} MHz")
    return best


def ecp5_pll(input_hz: float, target_hz: float) -> Ecp5Pll:
    best, best_score = None, None
    for clki_div in range(1, 129):
        pfd = input_hz / clki_div
        if not 3.125e6 <= pfd <= 400e6:
            continue
        for clkfb_div in range(1, 81):
            out = pfd * clkfb_div
            for clkop_div in range(1, 129):
                vco = out * clkop_div
                if not 400e6 <= vco <= 800e6:
                    continue
                # Closest output first, then the VCO nearest the middle of its range.
                score = (abs(out - target_hz), abs(vco - 600e6))
                if best is None or score < best_score:
                    best, best_score = Ecp5Pll(clki_div, clkfb_div, clkop_div, out, input_hz), score
    if best is None:
        raise ValueError(f"no ECP5 PLL setting reaches {target_hz / 1e6:g} MHz")
    return best


# LUNA's gateware USB PHY (full speed): it samples the bus in a 48 MHz ``usb_io`` domain
# and runs the USB device in a 12 MHz ``usb`` domain, which must be in phase with it.
USB_IO_HZ = 48_000_000
USB_HZ = 12_000_000


@dataclass(frozen=True)
class Ecp5UsbPll:
    """An EHXPLLL whose CLKOS makes `USB_IO_HZ` and CLKOS2 `USB_HZ` from one VCO (so in
    phase); CLKOP only closes the feedback loop."""

    clki_div: int
    clkfb_div: int
    clkop_div: int
    usb_io_div: int
    usb_div: int
    input_hz: float

    @property
    def vco_hz(self) -> float:
        return self.input_hz / self.clki_div * self.clkfb_div * self.clkop_div


def ecp5_usb_pll(input_hz: float) -> Ecp5UsbPll:
    """The USB clocks from ``input_hz``: a VCO that both divide exactly, the highest PFD
    (least jitter) first."""
    for clki_div in range(1, 129):
        pfd = input_hz / clki_div
        if not 3.125e6 <= pfd <= 400e6:
            continue
        for clkfb_div in range(1, 81):
            feedback_hz = pfd * clkfb_div
            if feedback_hz > 400e6:  # CLKOP's own limit
                break
            for clkop_div in range(1, 129):
                vco = feedback_hz * clkop_div
                if not 400e6 <= vco <= 800e6 or vco % USB_IO_HZ:
                    continue
                usb_io_div, usb_div = int(vco // USB_IO_HZ), int(vco // USB_HZ)
                if usb_div <= 128:
                    return Ecp5UsbPll(clki_div, clkfb_div, clkop_div, usb_io_div, usb_div, input_hz)
    raise ValueError(f"no ECP5 PLL setting makes 48 and 12 MHz from {input_hz / 1e6:g} MHz")


def usb_domains(m: Module, clock_in, pll: Ecp5UsbPll) -> tuple[ClockDomain, ClockDomain]:
    """ECP5: LUNA's ``usb_io`` (48 MHz) and ``usb`` (12 MHz) domains from a second EHXPLLL
    on ``clock_in`` (the buffered oscillator), each released from reset once it locks."""
    usb_io, usb = ClockDomain("usb_io"), ClockDomain("usb")
    m.domains += [usb_io, usb]
    feedback, locked = Signal(), Signal()
    m.submodules.usb_pll = ehxplll(
        clock_in,
        pll.input_hz,
        clki_div=pll.clki_div,
        clkfb_div=pll.clkfb_div,
        clkop=(pll.clkop_div, feedback),
        clkos=(pll.usb_io_div, ClockSignal("usb_io")),
        clkos2=(pll.usb_div, ClockSignal("usb")),
        locked=locked,
    )
    m.submodules.usb_io_reset_sync = ResetSynchronizer(~locked, domain="usb_io")
    m.submodules.usb_reset_sync = ResetSynchronizer(~locked, domain="usb")
    return usb_io, usb


def ehxplll(clock_in, input_hz, *, clki_div, clkfb_div, clkop, locked, clkos=None, clkos2=None):
    """An ECP5 EHXPLLL fed back from CLKOP; each output is ``(divider, signal)`` off the
    VCO (input / clki_div x clkfb_div x CLKOP's divider). Static phases, no dynamic
    control."""
    vco_hz = input_hz / clki_div * clkfb_div * clkop[0]
    ports = {"OP": clkop, "OS": clkos, "OS2": clkos2}
    args = {
        "a_FREQUENCY_PIN_CLKI": str(input_hz / 1e6),
        "a_ICP_CURRENT": "12",
        "a_LPF_RESISTOR": "8",
        "a_MFG_ENABLE_FILTEROPAMP": "1",
        "a_MFG_GMCREF_SEL": "2",
        "p_PLLRST_ENA": "DISABLED",
        "p_INTFB_WAKE": "DISABLED",
        "p_STDBY_ENABLE": "DISABLED",
        "p_DPHASE_SOURCE": "DISABLED",
        "p_FEEDBK_PATH": "CLKOP",
        "p_CLKFB_DIV": clkfb_div,
        "p_CLKI_DIV": clki_div,
        "i_CLKI": clock_in,
        "i_CLKFB": clkop[1],
        "i_RST": 0,
        "i_STDBY": 0,
        "i_PHASESEL0": 0,
        "i_PHASESEL1": 0,
        "i_PHASEDIR": 0,
        "i_PHASESTEP": 0,
        "i_PHASELOADREG": 0,
        "i_PLLWAKESYNC": 0,
        "i_ENCLKOP": 0,
        "o_LOCK": locked,
    }
    for (name, output), mux in zip(ports.items(), ("DIVA", "DIVB", "DIVC"), strict=True):
        if output is None:
            continue
        divider, signal = output
        args |= {
            f"a_FREQUENCY_PIN_CLK{name}": str(vco_hz / divider / 1e6),
            f"p_OUTDIVIDER_MUX{mux[-1]}": mux,
            f"p_CLK{name}_ENABLE": "ENABLED",
            f"p_CLK{name}_DIV": divider,
            f"p_CLK{name}_CPHASE": divider - 1,
            f"p_CLK{name}_FPHASE": 0,
            f"o_CLK{name}": signal,
        }
    return Instance("EHXPLLL", **args)


def pll_for(family: str, input_hz: float, clock_hz: float) -> Ice40Pll | Ecp5Pll | GowinPll:
    """The PLL setting that makes exactly ``clock_hz``, or ``ValueError`` before any build:
    the host is told this clock (IDENTIFY), and the UART divisor comes from it."""
    if family == "ice40":
        pll = ice40_pll(input_hz, clock_hz)
    elif family == "ecp5":
        pll = ecp5_pll(input_hz, clock_hz)
    elif family == "gowin":
        pll = gowin_pll(input_hz, clock_hz)
    else:
        raise ValueError(f"unknown FPGA family {family!r}")
    if abs(pll.output_hz - clock_hz) > 1e-6 * clock_hz:
        raise ValueError(
            f"the {family} PLL cannot make {clock_hz / 1e6:g} MHz from {input_hz / 1e6:g} MHz; "
            f"the nearest is {pll.output_hz / 1e6:g} MHz: choose that clock in "
            "sw/device/configs.py"
        )
    return pll


def pll_domain(m: Module, family: str, clock_in, pll: Ice40Pll | Ecp5Pll | GowinPll) -> ClockDomain:
    """Create the ``sync`` domain from ``pll`` on ``clock_in`` (the raw pin on iCE40, the
    buffered clock on ECP5 and Gowin)."""
    m.domains.sync = sync = ClockDomain("sync")
    locked = Signal()
    if family == "ice40":
        # The iCEBreaker's clock pin is the PLL's own pad: the PLL takes it directly.
        m.submodules.pll = Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE",
            p_DIVR=pll.divr,
            p_DIVF=pll.divf,
            p_DIVQ=pll.divq,
            p_FILTER_RANGE=pll.filter_range,
            io_PACKAGEPIN=clock_in.io,
            i_RESETB=1,
            i_BYPASS=0,
            o_PLLOUTGLOBAL=ClockSignal("sync"),
            o_LOCK=locked,
        )
    elif family == "ecp5":
        m.submodules.pll = ehxplll(
            clock_in,
            pll.input_hz,
            clki_div=pll.clki_div,
            clkfb_div=pll.clkfb_div,
            clkop=(pll.clkop_div, ClockSignal("sync")),
            locked=locked,
        )
    elif family == "gowin":
        # Static dividers, internal feedback; the other outputs unused.
        m.submodules.pll = Instance(
            "rPLL",
            p_FCLKIN=f"{pll.input_hz / 1e6:g}",
            p_IDIV_SEL=pll.idiv_sel,
            p_FBDIV_SEL=pll.fbdiv_sel,
            p_ODIV_SEL=pll.odiv_sel,
            p_DYN_IDIV_SEL="false",
            p_DYN_FBDIV_SEL="false",
            p_DYN_ODIV_SEL="false",
            p_CLKFB_SEL="internal",
            i_CLKIN=clock_in,
            i_CLKFB=0,
            i_RESET=0,
            i_RESET_P=0,
            i_FBDSEL=Const(0, 6),
            i_IDSEL=Const(0, 6),
            i_ODSEL=Const(0, 6),
            i_PSDA=Const(0, 4),
            i_DUTYDA=Const(0, 4),
            i_FDLY=Const(0, 4),
            o_CLKOUT=ClockSignal("sync"),
            o_LOCK=locked,
        )
    else:
        raise ValueError(f"unknown FPGA family {family!r}")
    m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
    return sync
