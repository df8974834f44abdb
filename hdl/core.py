"""`MatmulCore`: the R x C processing-element array, weight decode, accumulators and drain.

One operand beat carries a column of R activations ``x[m0:m0+R, k]`` and a row of
C codes ``code[k, n0:n0+C]``; the array forms their outer product and adds it to
R x C accumulators, so every beat is R x C multiply-accumulates. The K beats of a
tile end with ``last`` (which also carries how many rows and columns of the tile
are real, and its first output channel); the accumulators then move to the drain
chains and the next tile starts at once while the drain shifts results out,
row-major over the tile's valid entries. There are `CoreParams.drain_lanes` chains
(L), each with its own requantizer, so a results beat is L neighbouring values of a
row and a tile drains in about R*C/L cycles: with one lane a 12 x 12 tile would take
144 cycles to drain, longer than a 64-deep tile takes to compute.

Pipeline (one register each): accept -> decode (at the array edge, once per column)
-> product -> product/sum -> accumulate. The array never stalls: a beat is only
accepted when it is sure to flow through, which for a ``last`` beat means the drain
chain is free and no other ``last`` is in flight. The drain only issues a beat when
the output FIFO has room for everything still inside the requantizer (credits), so
back-pressure on ``results`` only ever stops the drain, then the next ``last``.

``ready`` depends on ``payload.last`` (a held ``last`` waits while the drain is busy);
valid never depends on ready, as the stream rules require.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.device import latency
from sw.device.params import CoreParams
from sw.device.protocol import WeightMode
from sw.device.tables import spx_entry_layout, table_entry_bits, uses_table

from .decode import multiplier_weight, spx_entry
from .family import fpga_family
from .multiplier import RegisteredMultiplier, times_constant
from .requant import Requantizer, requant_control_signature

# Output FIFO depth: enough for everything in the requantizer plus the FIFO's own
# latency, so that with `results` always ready the drain never waits for credit.
OUTPUT_FIFO_DEPTH = Requantizer.LATENCY + 4


def operand_layout(params: CoreParams) -> data.StructLayout:
    return data.StructLayout(
        {
            "x": data.ArrayLayout(signed(params.act_bits), params.rows),
            "codes": data.ArrayLayout(unsigned(params.weight_bits), params.cols),
            "last": 1,  # final k of the tile; the fields below are read on this beat
            "rows": range(params.rows + 1),  # valid rows in the tile, 1..R
            "cols": range(params.cols + 1),  # valid columns in the tile, 1..C
            "col_base": range(params.channels),  # output channel of column 0
        }
    )


def result_layout(params: CoreParams) -> data.StructLayout:
    """One results beat: ``count`` neighbouring values of a tile row, one per drain lane."""
    return data.StructLayout(
        {
            "values": data.ArrayLayout(signed(params.acc_bits), params.drain_lanes),
            "count": range(1, params.drain_lanes + 1),  # real values, from values[0]
            "last": 1,  # the tile's final beat
        }
    )


def core_control_signature(params: CoreParams) -> wiring.Signature:
    """Per-layer settings, driven by whoever owns the core (the top or a testbench)."""
    members = {
        "mode": Out(range(len(WeightMode))),
        # Tables come in `layer_banks` banks: the core reads `bank` while another is
        # loaded, so a layer being loaded never disturbs the one in use.
        "bank": Out(range(params.layer_banks)),
        "requant": Out(requant_control_signature(params)),
    }
    if uses_table(params):
        members |= {
            "table_write_enable": Out(1),
            "table_write_bank": Out(range(params.layer_banks)),
            "table_write_address": Out(range(1 << params.weight_bits)),
            "table_write_data": Out(table_entry_bits(params)),
        }
    return wiring.Signature(members)


class MatmulCore(wiring.Component):
    # Cycles from accepting a beat to its accumulate, the bubble of a tile's hand-over to
    # the drain, and from the requantizer's output to a result leaving the output FIFO.
    ARRAY_LATENCY = latency.ARRAY
    HANDOVER_LATENCY = latency.HANDOVER
    OUTPUT_FIFO_LATENCY = latency.OUTPUT_FIFO

    def __init__(self, params: CoreParams):
        self.params = params
        super().__init__(
            {
                "operands": In(stream.Signature(operand_layout(params))),
                "results": Out(stream.Signature(result_layout(params))),
                "control": In(core_control_signature(params)),
                "busy": Out(1),  # a tile begun, or anything accepted and not yet out of `results`
            }
        )

    def elaborate(self, platform):
        p = self.params
        m = Module()
        rows, cols = range(p.rows), range(p.cols)
        operands, control = self.operands, self.control

        mode_spx = Signal()
        mode_codebook = Signal()
        m.d.sync += [
            mode_spx.eq(control.mode == WeightMode.SPX),
            mode_codebook.eq(control.mode == WeightMode.CODEBOOK),
        ]

        # The decode table: codebook levels or SPx shift descriptors, one per code,
        # in `layer_banks` banks (index = bank, code). `table_entry(c, index)` is the
        # entry column c reads this cycle.
        table_entry = None
        if uses_table(p):
            # Writes go through a register: the request comes from the receiver's logic,
            # which is placed wherever the placer likes, often far from the array's edge.
            write_enable = Signal()
            write_index = Signal(len(control.table_write_address) + len(control.table_write_bank))
            write_data = Signal.like(control.table_write_data)
            m.d.sync += [
                write_enable.eq(control.table_write_enable),
                write_index.eq(Cat(control.table_write_address, control.table_write_bank)),
                write_data.eq(control.table_write_data),
            ]
            table_entry = _decode_table(m, p, platform, write_enable, write_index, write_data)
        read_bank = Signal.like(control.bank)
        m.d.sync += read_bank.eq(control.bank)

        # ---- accept -------------------------------------------------------------
        drain_count = Signal(range(p.rows * p.cols + 1))
        drain_busy = drain_count != 0
        last_in_flight = Signal()
        # A tile's last beat waits for a free drain; and the beat after a last one waits a
        # cycle, the bubble in which the finished tile leaves the accumulators.
        after_last = Signal()
        m.d.comb += operands.ready.eq(
            ~after_last & (~operands.payload.last | ~(drain_busy | last_in_flight))
        )
        accept = operands.valid & operands.ready
        in_tile = Signal()  # beats of a tile accepted, its last one not yet
        with m.If(accept):
            m.d.sync += in_tile.eq(~operands.payload.last)

        class Stage:
            """Valid, last and tile fields of one pipeline register."""

            def __init__(self, name):
                self.valid = Signal(name=f"{name}_valid")
                self.last = Signal(name=f"{name}_last", reset_less=True)
                self.tile = Signal(
                    data.StructLayout(
                        {
                            "rows": range(p.rows + 1),
                            "cols": range(p.cols + 1),
                            "col_base": range(p.channels),
                        }
                    ),
                    name=f"{name}_tile",
                    reset_less=True,
                )

            def follow(self, previous):
                return [
                    self.valid.eq(previous.valid),
                    self.last.eq(previous.last),
                    self.tile.eq(previous.tile),
                ]

        accepted, decoded, spread, multiplied, summed = (
            Stage("accepted"),
            Stage("decoded"),
            Stage("spread"),
            Stage("multiplied"),
            Stage("summed"),
        )
        tile_done = Signal()  # the bubble cycle after a tile's last accumulate
        m.d.comb += after_last.eq(accepted.valid & accepted.last)
        m.d.comb += last_in_flight.eq(
            tile_done
            | (accepted.valid & accepted.last)
            | (decoded.valid & decoded.last)
            | (spread.valid & spread.last)
            | (multiplied.valid & multiplied.last)
            | (summed.valid & summed.last)
        )
        # Only the valid bits (and the accumulators) are reset: the data registers behind
        # them are don't-cares while invalid, and leaving them out of the reset keeps the
        # reset net's fanout (a slow, die-wide net) small.
        x_accepted = Signal(data.ArrayLayout(signed(p.act_bits), p.rows), reset_less=True)
        codes_accepted = Signal(data.ArrayLayout(unsigned(p.weight_bits), p.cols), reset_less=True)
        m.d.sync += [
            accepted.valid.eq(accept),
            accepted.last.eq(operands.payload.last),
            accepted.tile.rows.eq(operands.payload.rows),
            accepted.tile.cols.eq(operands.payload.cols),
            accepted.tile.col_base.eq(operands.payload.col_base),
            x_accepted.eq(operands.payload.x),
            codes_accepted.eq(operands.payload.codes),
        ]

        # ---- decode, once per column at the array edge ----------------------------
        m.d.sync += decoded.follow(accepted)
        x_decoded = Signal.like(x_accepted)
        m.d.sync += x_decoded.eq(x_accepted)
        weight = [
            Signal(signed(p.decoded_weight_bits or 1), name=f"weight_{c}", reset_less=True)
            for c in cols
        ]
        spx = (
            [Signal(spx_entry_layout(p), name=f"spx_{c}", reset_less=True) for c in cols]
            if p.has_shift_add
            else []
        )
        for c in cols:
            entry = 0
            if table_entry is not None:
                entry = table_entry(c, Cat(codes_accepted[c], read_bank))
            if p.has_multiplier:
                m.d.sync += weight[c].eq(
                    multiplier_weight(codes_accepted[c], entry, mode_codebook, p)
                )
            if p.has_shift_add:
                m.d.sync += spx[c].eq(spx_entry(codes_accepted[c], entry, p))
        # SPx signs are applied to the activation before shifting: each row negates
        # its activation once here, and every PE picks x or -x (cheaper than negating
        # every product).
        x_negated = [
            Signal(signed(p.act_bits + 1), name=f"x_negated_{r}", reset_less=True) for r in rows
        ]
        if p.has_shift_add:
            m.d.sync += [x_negated[r].eq(-x_accepted[r]) for r in rows]

        # ---- spread: the operands a cycle on towards the PEs -------------------------
        # For a multiplier PE this stage is the input register of its own
        # `RegisteredMultiplier` (on ECP5 the DSP block's, next to the multiplier), and
        # the product stage its output register. The shift-add PEs share one register
        # per row and per column.
        m.d.sync += spread.follow(decoded)
        x_spread = [Signal.like(x_decoded[r], name=f"x_spread_{r}") for r in rows]
        x_negated_spread = [Signal.like(x_negated[r], name=f"x_negated_spread_{r}") for r in rows]
        spx_spread = [Signal.like(entry, name=f"spx_spread_{c}") for c, entry in enumerate(spx)]
        if p.has_shift_add:
            m.d.sync += [x_spread[r].eq(x_decoded[r]) for r in rows]
            m.d.sync += [x_negated_spread[r].eq(x_negated[r]) for r in rows]
            m.d.sync += [spx_spread[c].eq(spx[c]) for c in cols]

        # ---- products: multiplier, or shifted terms ------------------------------
        m.d.sync += multiplied.follow(spread)
        product_bits = 0
        if p.has_multiplier:
            product_bits = p.act_bits + p.decoded_weight_bits
        if p.has_shift_add:
            product_bits = max(product_bits, p.act_bits + p.max_shift + 2)
        term_bits = p.act_bits + 1 + p.max_shift
        mul = [
            [Signal(signed(product_bits), name=f"mul_{r}_{c}", reset_less=True) for c in cols]
            for r in rows
        ]
        terms = [
            [
                [
                    Signal(signed(term_bits), name=f"term_{r}_{c}_{t}", reset_less=True)
                    for t in range(p.spx_terms)
                ]
                for c in cols
            ]
            for r in rows
        ]
        for r in rows:
            for c in cols:
                if p.has_multiplier:
                    m.submodules[f"multiplier_{r}_{c}"] = RegisteredMultiplier(
                        x_decoded[r], weight[c], mul[r][c]
                    )
                if p.has_shift_add:
                    entry = spx_spread[c]
                    signed_x = Mux(entry.negative, x_negated_spread[r], x_spread[r])
                    for t in range(p.spx_terms):
                        term = entry.terms[t]
                        m.d.sync += terms[r][c][t].eq(
                            Mux(term.present, signed_x << term.exponent, 0)
                        )

        # ---- second product stage: DSP output register, or the SPx sum ---------------
        m.d.sync += summed.follow(multiplied)
        product = [
            [Signal(signed(product_bits), name=f"product_{r}_{c}", reset_less=True) for c in cols]
            for r in rows
        ]
        for r in rows:
            for c in cols:
                if p.has_shift_add:
                    shift_add = sum(terms[r][c][1:], terms[r][c][0])
                if p.has_multiplier and p.has_shift_add:
                    m.d.sync += product[r][c].eq(Mux(mode_spx, shift_add, mul[r][c]))
                elif p.has_shift_add:
                    m.d.sync += product[r][c].eq(shift_add)
                else:
                    m.d.sync += product[r][c].eq(mul[r][c])

        # ---- accumulate --------------------------------------------------------------
        # In the bubble after a tile's last beat the drain takes the accumulators and
        # they clear (a synchronous reset, free in the FPGA's flip-flops). Loading the
        # drain from the registers rather than from the adders keeps each adder driving
        # only its own flip-flop, so the two pack into one logic cell.
        # On ECP5 the accumulators stay out of the reset, which would otherwise run from
        # one register to every accumulator across the die (the SPx 12x12's slowest
        # path): each row has its own copy of the clear, a register that the reset sets,
        # so a reset clears the accumulators through the tile's clear.
        own_clear = fpga_family(platform) == "ecp5"
        accumulator = [
            [Signal(signed(p.acc_bits), name=f"acc_{r}_{c}", reset_less=own_clear) for c in cols]
            for r in rows
        ]
        m.d.sync += tile_done.eq(summed.valid & summed.last)
        for r in rows:
            clear = tile_done
            if own_clear:
                clear = Signal(init=1, name=f"clear_{r}")
                m.d.sync += clear.eq(summed.valid & summed.last)
            for c in cols:
                with m.If(clear):
                    m.d.sync += accumulator[r][c].eq(0)
                with m.Elif(summed.valid):
                    m.d.sync += accumulator[r][c].eq(accumulator[r][c] + product[r][c])

        # ---- drain: L shift chains (lanes), each through its own requantizer -----------
        # Lane l holds the tile's row-major positions l, l+L, l+2L, ..., so step t of the
        # drain moves positions tL .. tL+L-1 out: L neighbouring values of one row (L
        # divides C), one results beat. One lane is the plain row-major chain.
        lanes = p.drain_lanes
        chains = [
            [
                Signal(signed(p.acc_bits), name=f"drain_{lane}_{i}", reset_less=True)
                for i in range(p.rows * p.cols // lanes)
            ]
            for lane in range(lanes)
        ]
        drain_col = Signal(range(p.cols + 1))  # lane 0's column (+1: a 1-column array's
        drain_tile = Signal.like(summed.tile)  # counter is not empty)
        reserved = Signal(range(OUTPUT_FIFO_DEPTH + 1))  # beats issued, not yet out
        step = drain_busy & (reserved < OUTPUT_FIFO_DEPTH)
        issue = step & (drain_col < drain_tile.cols)

        done_tile = Signal.like(summed.tile)
        # The drain's length in steps, (rows - 1) * C/L + ceil(cols / L), worked out over
        # the two cycles before the hand-over so the multiply and the add each get a cycle.
        row_part = Signal.like(drain_count)
        done_length = Signal.like(drain_count)
        if lanes == 1:
            col_steps = summed.tile.cols
        else:
            col_steps = Array(-(-cols // lanes) for cols in range(p.cols + 1))[summed.tile.cols]
        m.d.sync += [
            row_part.eq(times_constant(multiplied.tile.rows - 1, p.cols // lanes)),
            done_tile.eq(summed.tile),
            done_length.eq(row_part + col_steps),
        ]
        with m.If(tile_done):
            m.d.sync += [
                drain_count.eq(done_length),
                drain_col.eq(0),
                drain_tile.eq(done_tile),
            ]
            for lane, chain in enumerate(chains):
                for i, entry in enumerate(chain):
                    row, col = divmod(i * lanes + lane, p.cols)
                    m.d.sync += entry.eq(accumulator[row][col])
        with m.Elif(step):
            for chain in chains:
                m.d.sync += [chain[i].eq(chain[i + 1]) for i in range(len(chain) - 1)]
            m.d.sync += drain_count.eq(drain_count - 1)
            with m.If(drain_col == p.cols - lanes):
                m.d.sync += drain_col.eq(0)
            with m.Else():
                m.d.sync += drain_col.eq(drain_col + lanes)

        requantizers = []
        for lane, chain in enumerate(chains):
            requantizer = Requantizer(p)
            m.submodules["requantizer" if lanes == 1 else f"requantizer_{lane}"] = requantizer
            wiring.connect(m, wiring.flipped(control.requant), requantizer.control)
            m.d.comb += [
                requantizer.in_valid.eq(issue),
                requantizer.in_value.eq(chain[0]),
                requantizer.in_channel.eq(drain_tile.col_base + drain_col + lane),
                requantizer.in_bank.eq(read_bank),
                requantizer.in_last.eq(drain_count == 1),
            ]
            requantizers.append(requantizer)

        # How many of a beat's values are real (the tile's last columns may be fewer than
        # L), beside the values through the requantizers' latency.
        result = Signal(result_layout(p))
        if lanes == 1:
            m.d.comb += result.count.eq(1)
        else:
            count = [
                Signal(range(lanes + 1), name=f"count_{i}") for i in range(Requantizer.LATENCY)
            ]
            left = drain_tile.cols - drain_col
            m.d.sync += count[0].eq(Mux(left >= lanes, lanes, left))
            m.d.sync += [count[i].eq(count[i - 1]) for i in range(1, len(count))]
            m.d.comb += result.count.eq(count[-1])

        m.submodules.output_fifo = output_fifo = fifo.SyncFIFOBuffered(
            width=result_layout(p).size, depth=OUTPUT_FIFO_DEPTH
        )
        m.d.comb += [
            result.values.eq(Cat(requantizer.out_value for requantizer in requantizers)),
            result.last.eq(requantizers[0].out_last),
            output_fifo.w_en.eq(requantizers[0].out_valid),
            output_fifo.w_data.eq(result),
            self.results.payload.eq(output_fifo.r_data),
            self.results.valid.eq(output_fifo.r_rdy),
            output_fifo.r_en.eq(self.results.ready),
        ]
        popped = self.results.valid & self.results.ready
        m.d.sync += reserved.eq(reserved + issue - popped)

        m.d.comb += self.busy.eq(
            in_tile
            | accepted.valid
            | decoded.valid
            | spread.valid
            | multiplied.valid
            | summed.valid
            | tile_done
            | drain_busy
            | (reserved != 0)
        )
        return m


def _decode_table(m: Module, p: CoreParams, platform, write_enable, write_index, write_data):
    """The core's decode table, written at ``write_index`` when ``write_enable``; returns
    ``entry(column, index)``, the entry a column reads in the same cycle.

    Every column reads it at once, each at its own code. In flip-flops that is one
    register per entry and a wide multiplexer per column. On Gowin the table is a LUT
    RAM instead, one copy per column (Yosys gives each read port its RAM16SDP4s): on the
    Tang Nano 9K that took 764 LUT4s and 160 flip-flops off a design that had found no
    placement (5798 LUT4s and 1476 ALUs of 8640), for 16 RAM16SDP4s, and it places
    again. Elsewhere the table stays in flip-flops: the iCE40 has no LUT RAM, and the
    ECP5's LUTs are not short (its builds are measured with flip-flops)."""
    depth = p.layer_banks << p.weight_bits
    if fpga_family(platform) == "gowin":
        table = memory.Memory(shape=unsigned(table_entry_bits(p)), depth=depth, init=[])
        m.submodules.decode_table = table
        write = table.write_port()
        m.d.comb += [
            write.en.eq(write_enable),
            write.addr.eq(write_index),
            write.data.eq(write_data),
        ]
        reads = [table.read_port(domain="comb") for _ in range(p.cols)]

        def entry(column, index):
            m.d.comb += reads[column].addr.eq(index)
            return reads[column].data

        return entry
    registers = Array(Signal(table_entry_bits(p), name=f"table_{i}") for i in range(depth))
    with m.If(write_enable):
        m.d.sync += registers[write_index].eq(write_data)
    return lambda column, index: registers[index]
