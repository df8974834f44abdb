"""Per-output-channel requantization on the core's output path.

Implements `sw.kernel.reference.requantize` bit for bit, one value per cycle:

    a = acc + bias[n];  p = a * multiplier[n]
    q = sign(p) * ((|p| + 2**(shift[n]-1)) >> shift[n])     (half away from zero)
    q = max(q, 0) if relu;  y = clamp(q, out_bits)

or passes the raw accumulator through when requantization is off. The stage is a
plain pipeline with no back-pressure: the core only issues a value when its output
FIFO has room for everything in flight (see `MatmulCore`).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from sw.device import latency
from sw.device.params import CoreParams

from .family import fpga_family
from .multiplier import DSP_WIDTH, RegisteredMultiplier

# On ECP5 the multiply is cut into pieces this wide: with a 0 or the sign on top each
# is an 18-bit signed DSP operand.
ECP5_PIECE_BITS = DSP_WIDTH - 1


def requant_param_layout(params: CoreParams) -> data.StructLayout:
    return data.StructLayout(
        {
            "multiplier": unsigned(params.multiplier_bits),
            "shift": unsigned(params.requant_shift_bits),
            "bias": signed(params.acc_bits),
        }
    )


def requant_control_signature(params: CoreParams) -> wiring.Signature:
    """Per-layer settings and the per-channel parameter table's write port."""
    return wiring.Signature(
        {
            "enable": Out(1),
            "relu": Out(1),
            "out_bits": Out(range(params.out_bits_max + 1)),
            "write_enable": Out(1),
            "write_bank": Out(range(params.layer_banks)),  # as for the core's decode table
            "write_channel": Out(range(params.channels)),
            "write_data": Out(requant_param_layout(params)),
        }
    )


class Requantizer(wiring.Component):
    """Requantizes one accumulator value per cycle, `LATENCY` cycles from in to out."""

    LATENCY = latency.REQUANT

    def __init__(self, params: CoreParams, *, piece_bits: int | None = None):
        self.params = params
        # Width of the pieces the multiply is cut into; None: 17 on ECP5, whole elsewhere.
        self.piece_bits = piece_bits
        super().__init__(
            {
                "control": In(requant_control_signature(params)),
                "in_valid": In(1),
                "in_value": In(signed(params.acc_bits)),
                "in_channel": In(range(params.channels)),
                "in_bank": In(range(params.layer_banks)),
                "in_last": In(1),
                "out_valid": Out(1),
                "out_value": Out(signed(params.acc_bits)),
                "out_last": Out(1),
            }
        )

    def elaborate(self, platform):
        p = self.params
        m = Module()
        control = self.control
        layout = requant_param_layout(p)

        channel_bits = len(self.in_channel)
        table = memory.Memory(shape=layout, depth=p.layer_banks << channel_bits, init=[])
        m.submodules.table = table
        write = table.write_port()
        read = table.read_port(domain="sync")
        # Writes go through registers, a cycle late: the request comes from the
        # receiver's logic, which may be placed far from this table.
        m.d.sync += [
            write.en.eq(control.write_enable),
            write.addr.eq(Cat(control.write_channel, control.write_bank)),
            write.data.eq(control.write_data),
        ]
        m.d.comb += [read.addr.eq(Cat(self.in_channel, self.in_bank)), read.en.eq(1)]

        # Saturation bounds, registered: they change only between layers.
        out_max = Signal(signed(p.out_bits_max + 1))
        out_min = Signal(signed(p.out_bits_max + 1))
        top_bit = Signal(range(p.out_bits_max))
        m.d.comb += top_bit.eq(control.out_bits - 1)
        m.d.sync += [
            out_max.eq((Const(1, unsigned(p.out_bits_max + 1)) << top_bit) - 1),
            out_min.eq(-(Const(1, unsigned(p.out_bits_max + 1)) << top_bit)),
        ]

        # Valid and last travel beside the arithmetic. A raw (not requantized) value
        # takes the same path with multiplier 1, shift 0, no bias and no clamp, so no
        # second copy of it has to be carried through the pipeline.
        depth = self.LATENCY
        valid = [Signal(name=f"valid_{i}") for i in range(depth)]
        last = [Signal(name=f"last_{i}") for i in range(depth)]
        value_in = Signal(signed(p.acc_bits))
        m.d.sync += [
            valid[0].eq(self.in_valid),
            last[0].eq(self.in_last),
            value_in.eq(self.in_value),
        ]
        for i in range(1, depth):
            m.d.sync += [valid[i].eq(valid[i - 1]), last[i].eq(last[i - 1])]
        enable = control.enable  # changes only between layers, never with values in flight

        product_bits = p.acc_bits + 1 + p.multiplier_bits
        # Stage 1: the parameters arrive from the table (read in stage 0) and are only
        # registered: block-RAM outputs are slow, so no adder follows them directly.
        # A raw value gets multiplier 1, shift 0 and no bias.
        value_held = Signal.like(value_in)
        parameters = Signal(layout)
        m.d.sync += [
            value_held.eq(value_in),
            parameters.bias.eq(Mux(enable, read.data.bias, 0)),
            parameters.multiplier.eq(Mux(enable, read.data.multiplier, 1)),
            parameters.shift.eq(Mux(enable, read.data.shift, 0)),
        ]
        # Stage 2: the bias.
        biased = Signal(signed(p.acc_bits + 1))
        multiplier = Signal(unsigned(p.multiplier_bits))
        shift = [Signal(unsigned(p.requant_shift_bits), name=f"shift_{i}") for i in range(1, 6)]
        m.d.sync += [
            biased.eq(value_held + parameters.bias),
            multiplier.eq(parameters.multiplier),
            shift[0].eq(parameters.shift),
        ]
        # Stages 3-5: the multiply, on `RegisteredMultiplier`s (stages 3-4). Where the
        # DSP blocks are 18 x 18 (ECP5), `biased` is cut into 17-bit pieces, one
        # multiplier each, and stage 5 adds the partial products; elsewhere one
        # multiplier takes it whole (Yosys spreads it over DSP blocks) and stage 5 only
        # passes it on.
        product = Signal(signed(product_bits))
        piece_bits = self.piece_bits
        if piece_bits is None and fpga_family(platform) == "ecp5":
            piece_bits = ECP5_PIECE_BITS
        piece_bits = piece_bits or len(biased)
        partials = []
        operand = Cat(multiplier, 0).as_signed()  # unsigned, so a 0 on top
        for start in range(0, len(biased), piece_bits):
            if start + piece_bits >= len(biased):  # the top piece: signed
                piece = biased[start:].as_signed()
            else:  # the others are unsigned: a 0 on top keeps them non-negative
                piece = Cat(biased[start : start + piece_bits], 0).as_signed()
            partial = Signal(signed(len(piece) + len(operand)), name=f"partial_{start}")
            m.submodules[f"multiplier_{start}"] = RegisteredMultiplier(piece, operand, partial)
            partials.append(partial << start)
        m.d.sync += product.eq(sum(partials[1:], partials[0]))
        m.d.sync += [shift[i + 1].eq(shift[i]) for i in range(3)]
        # Stage 6: add the rounding constant. Half away from zero without taking the
        # magnitude: for p >= 0 add 2**(s-1); for p < 0 add 2**(s-1) - 1, so that the
        # arithmetic shift (a floor) lands on -floor((|p| + 2**(s-1)) / 2**s).
        rounded = Signal(signed(product_bits + 1))
        half = Mux(
            shift[3] == 0, 0, Const(1, unsigned(product_bits)) << (shift[3] - 1)[: len(shift[3])]
        )
        negative = product < 0
        m.d.sync += [
            rounded.eq(product + half - (negative & (shift[3] != 0))),
            shift[4].eq(shift[3]),
        ]
        # Stage 7: the arithmetic shift.
        shifted = Signal(signed(product_bits + 1))
        m.d.sync += shifted.eq(rounded >> shift[4])
        # Stage 8: ReLU, saturation (only when requantizing). The tests all look at
        # `shifted` side by side rather than one after the other (ReLU's 0 is never
        # out of range), so the two wide comparisons are not one chain.
        saturated = Signal(signed(p.acc_bits))
        with m.If(enable & control.relu & (shifted < 0)):
            m.d.sync += saturated.eq(0)
        with m.Elif(enable & (shifted > out_max)):
            m.d.sync += saturated.eq(out_max)
        with m.Elif(enable & (shifted < out_min)):
            m.d.sync += saturated.eq(out_min)
        with m.Else():
            m.d.sync += saturated.eq(shifted)

        m.d.comb += [
            self.out_valid.eq(valid[depth - 1]),
            self.out_last.eq(last[depth - 1]),
            self.out_value.eq(saturated),
        ]
        return m
