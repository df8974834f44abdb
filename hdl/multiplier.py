"""`RegisteredMultiplier`: ``product`` = ``a`` * ``b`` two cycles later.

Elsewhere two registers around `*` (Yosys maps the multiply onto DSP blocks where
it can). On ECP5 one MULT18X18D with its own input and output registers on: Yosys
leaves a multiply's registers in the fabric, and with the DSP blocks spread over the
die they often land far from it, so a register-to-register path crosses the die and
the multiplier in one cycle. Inside the DSP block there is no such path.
"""

from __future__ import annotations

from amaranth import ClockSignal, Elaboratable, Instance, Module, Signal

from .family import fpga_family

DSP_WIDTH = 18  # MULT18X18D operands (signed)


class RegisteredMultiplier(Elaboratable):
    def __init__(self, a, b, product):
        self.a, self.b, self.product = a, b, product  # signed values; product assignable

    def elaborate(self, platform):
        m = Module()
        if fpga_family(platform) == "ecp5":
            m.submodules.dsp = ecp5_mult18x18d(self.a, self.b, self.product)
        else:
            a, b = Signal.like(self.a), Signal.like(self.b)
            m.d.sync += [a.eq(self.a), b.eq(self.b), self.product.eq(a * b)]
        return m


def times_constant(value, constant: int):
    """``value * constant`` as shifts and adds: a multiply by a constant that Yosys
    would otherwise put on whatever DSP block is free, often far across the die."""
    if constant < 0:
        raise ValueError(f"constant {constant} must be non-negative")
    terms = [value << i for i in range(constant.bit_length()) if constant >> i & 1]
    return sum(terms[1:], terms[0]) if terms else 0


def ecp5_mult18x18d(a, b, product) -> Instance:
    """A MULT18X18D with input and output registers on. Ports and defaults as Yosys's
    own mapping (share/lattice/dsp_map_18x18.v) and the vendor's generated instances;
    only the REG_*_CLK settings differ."""
    if len(a) > DSP_WIDTH or len(b) > DSP_WIDTH or len(product) > 2 * DSP_WIDTH:
        raise ValueError(f"{len(a)} x {len(b)} -> {len(product)} bits does not fit a MULT18X18D")

    def sign_extended(value):
        return [value[min(i, len(value) - 1)] for i in range(DSP_WIDTH)]

    ports = {
        "i_CLK0": ClockSignal("sync"),
        "i_CE0": 1,
        "i_RST0": 0,
        "i_SIGNEDA": 1,
        "i_SIGNEDB": 1,
        "i_SOURCEA": 0,
        "i_SOURCEB": 0,
    }
    for i, (bit_a, bit_b) in enumerate(zip(sign_extended(a), sign_extended(b), strict=True)):
        ports[f"i_A{i}"], ports[f"i_B{i}"], ports[f"i_C{i}"] = bit_a, bit_b, 0
    # Every output connected (the top bits a product does not need to a spare signal),
    # so that the instance is complete for simulation and lint.
    spare = Signal(2 * DSP_WIDTH - len(product) or 1, name="unused_product_bits")
    for i in range(2 * DSP_WIDTH):
        ports[f"o_P{i}"] = product[i] if i < len(product) else spare[i - len(product)]
    return Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0",
        p_REG_INPUTB_CLK="CLK0",
        p_REG_OUTPUT_CLK="CLK0",
        **ports,
    )
