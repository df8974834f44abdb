"""`LayerLoader`: a LOAD_LAYER payload, byte by byte, into the shadow bank.

    header (7 bytes) ─► check ─► decode table ─► requant records ─► codes ─► done
    (`LAYER_HEADER`)            (`tables`)      (`requant_record_layout`)  (K x N)

The layout of every field is `sw.device.payloads`; the loader views the bytes it
has collected through those layouts. Everything goes into the bank the core is not
using (`bank`): the weights, the decode table and the requantization table, and the
layer's registers (`layer`). The top makes them active only when the frame's CRC
has checked out and `error` is clear, so a bad frame never disturbs the loaded layer.

`complete` says every byte the header announced has arrived; `error` holds the first
problem found: BAD_PARAM (unsupported mode, flags or out_bits, K or N of zero),
TOO_LARGE (K, N beyond the buffers), BAD_VALUE (a code, multiplier, shift or bias
out of range) or BAD_LENGTH (more bytes than the layer needs). The header is checked
even when the payload ends right after it, so a header-only frame that announces
a too large layer is answered TOO_LARGE, not BAD_LENGTH.
"""

from __future__ import annotations

from contextlib import contextmanager

from amaranth import Array, Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.device.params import TopParams
from sw.device.payloads import LAYER_HEADER, acc_bytes, requant_record_layout
from sw.device.protocol import Status, WeightMode, layout_bytes
from sw.device.tables import table_entry_bytes, uses_table
from sw.kernel.spec import OUT_BITS_RANGE, REQUANT_MULTIPLIER_BITS, REQUANT_SHIFT_RANGE

from .core import core_control_signature
from .multiplier import times_constant
from .sequencer import n_tiles


def layer_layout(tp: TopParams) -> data.StructLayout:
    """The registers that describe a loaded layer (what the datapath needs at a RUN)."""
    p = tp.core
    return data.StructLayout(
        {
            "mode": range(len(WeightMode)),
            "requant": 1,
            "relu": 1,
            "out_bits": range(OUT_BITS_RANGE[1] + 1),
            "k": range(tp.k_max + 1),
            "n": range(p.channels + 1),
            "result_bytes": range(acc_bytes(p.acc_bits) + 1),
            "row_bytes": 16,  # N * result_bytes: the bytes of one row of results
        }
    )


def weight_bank_words(tp: TopParams) -> int:
    """Words of one weight bank: K rows for each column tile."""
    return tp.k_max * n_tiles(tp.core, tp.core.channels)


def address_bits(depth: int) -> int:
    return max(1, (depth - 1).bit_length())


class LayerLoader(wiring.Component):
    def __init__(self, tp: TopParams):
        self.tp = tp
        p = tp.core
        half = weight_bank_words(tp)
        super().__init__(
            {
                "start": In(1),  # pulse: a LOAD_LAYER frame begins
                "payload": In(stream.Signature(8)),
                "bank": In(range(p.layer_banks)),  # the bank to load (not the one in use)
                "layer": Out(layer_layout(tp)),
                "complete": Out(1),
                "error": Out(Status),
                # Weight buffer write port: one word of C codes per (tile, k), a lane each.
                "weight_address": Out(range(p.layer_banks * half)),
                "weight_data": Out(p.cols * p.weight_bits),
                "weight_enable": Out(p.cols),
                # The core's decode and requantization table write ports.
                "tables": Out(core_control_signature(p)),
            }
        )

    def elaborate(self, platform):
        tp, p = self.tp, self.tp.core
        m = Module()
        C = p.cols
        half = weight_bank_words(tp)
        layer = self.layer
        byte = self.payload.payload
        got = self.payload.valid & self.payload.ready

        record_layout = requant_record_layout(p.acc_bits)
        header_bytes = layout_bytes(LAYER_HEADER)
        record_bytes = layout_bytes(record_layout)
        entry_bytes = table_entry_bytes(p) if uses_table(p) else 0
        table_entries = (1 << p.weight_bits) if uses_table(p) else 0
        # The last bytes received, newest on top, so a whole header or record can be
        # viewed through its layout when its last byte arrives.
        recent = Signal(8 * max(header_bytes, record_bytes, entry_bytes))
        with_byte = Signal.like(recent)
        m.d.comb += with_byte.eq(Cat(recent[8:], byte))
        with m.If(got):
            m.d.sync += recent.eq(with_byte)
        field = Signal(range(len(recent) // 8 + 1))  # byte index inside the current item
        # Table entry or requantization channel being written.
        count = Signal(range(max(table_entries, p.channels) + 1))
        k = Signal(range(tp.k_max + 1))
        lane = Signal(range(C + 1))  # weight lane n % C
        base = Signal(address_bits(p.layer_banks * half) + 1)  # tile * K
        # Where the bank's words start (the bank is fixed while a frame loads).
        bank_base = Signal(range(p.layer_banks * half))
        m.d.sync += bank_base.eq(Array(Const(b * half) for b in range(p.layer_banks))[self.bank])
        # Loops over rows count down to zero: a zero test on a register is quicker than
        # comparing a count with a limit in the same cycle.
        # Items of this row (N codes or records) still to come after the current one, and
        # rows (K) after the current one: as narrow as the buffers allow (LUTs on iCE40).
        row_left = Signal(range(max(p.channels, 2)))
        row_reload = Signal.like(row_left)
        rows_left = Signal(range(max(tp.k_max, 2)))

        def fail(status):
            with m.If(self.error == Status.OK):
                m.d.sync += self.error.eq(status)

        with m.If(self.start):
            m.d.sync += self.error.eq(Status.OK)

        # Derived registers, recomputed every cycle from the layer's (needed only at a
        # RUN, long after the header). By cases rather than a multiply, which would take
        # a DSP block.
        with m.If(~layer.requant):
            m.d.sync += [
                layer.result_bytes.eq(acc_bytes(p.acc_bits)),
                layer.row_bytes.eq(times_constant(layer.n, acc_bytes(p.acc_bits))),
            ]
        with m.Elif(layer.out_bits <= 8):
            m.d.sync += [layer.result_bytes.eq(1), layer.row_bytes.eq(layer.n)]
        with m.Else():
            m.d.sync += [layer.result_bytes.eq(2), layer.row_bytes.eq(layer.n << 1)]

        supported = Const(sum(1 << WeightMode.of(mode) for mode in p.weight_modes), 8)
        tables = self.tables
        m.d.sync += self.weight_enable.eq(0)  # writes go through registers

        def start_rows(state, row_length, rows):
            m.d.sync += [
                row_left.eq(row_length - 1),
                row_reload.eq(row_length - 1),
                rows_left.eq(rows - 1),
                count.eq(0),
                k.eq(0),
                lane.eq(0),
                base.eq(0),
                field.eq(0),
            ]
            m.next = state

        def after_table():
            with m.If(layer.requant):
                start_rows("PARAMS", layer.n, 1)
            with m.Else():
                start_rows("CODES", layer.n, layer.k)

        @contextmanager
        def state(name):
            """A state of the FSM below; a new frame restarts it from any of them (a frame
            that timed out part way leaves the loader wherever it was)."""
            with m.State(name):
                yield
                with m.If(self.start):
                    m.d.sync += field.eq(0)
                    m.next = "HEADER"

        with m.FSM():
            with state("IDLE"):
                pass

            with state("HEADER"):
                m.d.comb += self.payload.ready.eq(1)
                with m.If(got):
                    m.d.sync += field.eq(field + 1)
                    with m.If(field == header_bytes - 1):
                        m.next = "HEADER_CHECK"

            with state("HEADER_CHECK"):  # a cycle without a byte: the header is in
                head = LAYER_HEADER(recent[-LAYER_HEADER.size :])
                m.d.sync += [
                    layer.mode.eq(head.mode),
                    layer.requant.eq(head.flags.requant),
                    layer.relu.eq(head.flags.relu),
                    layer.out_bits.eq(head.out_bits),
                    layer.k.eq(head.k),
                    layer.n.eq(head.n),
                ]
                # Checked on the raw bytes, before the registers truncate them.
                mode = head.mode
                mode_ok = (mode < len(WeightMode)) & supported.bit_select(mode[:3], 1)
                out_bits = head.out_bits
                out_ok = ~head.flags.requant | (
                    (out_bits >= OUT_BITS_RANGE[0]) & (out_bits <= OUT_BITS_RANGE[1])
                )
                flags_ok = head.flags.unused == 0
                with m.If(~mode_ok | ~out_ok | ~flags_ok | (head.k == 0) | (head.n == 0)):
                    fail(Status.BAD_PARAM)
                    m.next = "DISCARD"
                with m.Elif((head.k > tp.k_max) | (head.n > p.channels)):
                    fail(Status.TOO_LARGE)
                    m.next = "DISCARD"
                with m.Else():
                    m.next = "LAYER_START"  # next cycle, with the layer registers set

            with state("LAYER_START"):
                if table_entries:
                    m.d.sync += [count.eq(0), field.eq(0)]
                    m.next = "TABLE"
                else:
                    after_table()

            if table_entries:
                with state("TABLE"):
                    m.d.comb += self.payload.ready.eq(1)
                    with m.If(got & (field == entry_bytes - 1)):
                        m.d.comb += [
                            tables.table_write_enable.eq(1),
                            tables.table_write_bank.eq(self.bank),
                            tables.table_write_address.eq(count),
                            tables.table_write_data.eq(with_byte[-8 * entry_bytes :]),
                        ]
                        m.d.sync += [field.eq(0), count.eq(count + 1)]
                        with m.If(count == table_entries - 1):
                            after_table()
                    with m.Elif(got):
                        m.d.sync += field.eq(field + 1)

            with state("PARAMS"):  # one record per output channel
                m.d.comb += self.payload.ready.eq(1)
                with m.If(got & (field == record_bytes - 1)):
                    record = record_layout(with_byte[-record_layout.size :])
                    bias = record.bias
                    bias_top = bias >> (p.acc_bits - 1)  # all sign bits when it fits acc_bits
                    multiplier_ok = (record.multiplier >> REQUANT_MULTIPLIER_BITS) == 0
                    shift_ok = record.shift <= REQUANT_SHIFT_RANGE[1]
                    bias_ok = (bias_top == 0) | (bias_top == -1)
                    with m.If(~multiplier_ok | ~shift_ok | ~bias_ok):
                        fail(Status.BAD_VALUE)
                    rq = tables.requant
                    m.d.comb += [
                        rq.write_enable.eq(1),
                        rq.write_bank.eq(self.bank),
                        rq.write_channel.eq(count),
                        rq.write_data.multiplier.eq(record.multiplier),
                        rq.write_data.shift.eq(record.shift),
                        rq.write_data.bias.eq(bias),
                    ]
                    m.d.sync += [field.eq(0), count.eq(count + 1), row_left.eq(row_left - 1)]
                    with m.If(row_left == 0):
                        start_rows("CODES", layer.n, layer.k)
                with m.Elif(got):
                    m.d.sync += field.eq(field + 1)

            with state("CODES"):  # byte (k, n), row-major -> word tile * K + k, lane n % C
                m.d.comb += self.payload.ready.eq(1)
                with m.If(got):
                    with m.If(byte >> p.weight_bits != 0):
                        fail(Status.BAD_VALUE)
                    m.d.sync += [
                        self.weight_address.eq(bank_base + base + k),
                        self.weight_data.eq(Cat(*[byte[: p.weight_bits]] * C)),
                        self.weight_enable.eq(1 << lane),
                        row_left.eq(row_left - 1),
                    ]
                    with m.If(row_left == 0):  # end of a row of codes
                        m.d.sync += [
                            row_left.eq(row_reload),
                            lane.eq(0),
                            base.eq(0),
                            k.eq(k + 1),
                            rows_left.eq(rows_left - 1),
                        ]
                        with m.If(rows_left == 0):
                            m.next = "DONE"
                    with m.Elif(lane == C - 1):
                        m.d.sync += [lane.eq(0), base.eq(base + layer.k)]
                    with m.Else():
                        m.d.sync += lane.eq(lane + 1)

            with state("DONE"):  # every byte the layer needs is in; more is an error
                m.d.comb += [self.complete.eq(1), self.payload.ready.eq(1)]
                with m.If(got):
                    fail(Status.BAD_LENGTH)
                    m.next = "DISCARD"

            with state("DISCARD"):  # an error is recorded: take the rest, do nothing
                m.d.comb += [self.complete.eq(1), self.payload.ready.eq(1)]
        return m
