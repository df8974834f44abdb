"""Tile sequencer: reads the activation and weight buffers into the core's operand beats.

Walks `sw.kernel.tiling`'s schedule (for each block of R rows, for each block of C
columns, every k) without a multiplier or divider: every address is a running sum.

Buffer layouts (filled by `hdl.top`):

- activations: R banks, row ``m`` in bank ``m % R`` at ``(m // R) * K + k``;
- weights: one word of C codes per (tile, k) at ``bank_base + tile * K + k``, lane
  ``n % C`` holding column ``n``.

Reads are issued only when the operand FIFO has room for them (credits), so the
core sees one beat per cycle while it keeps up and nothing is ever dropped.
Rows and columns past M and N are read too (stale data) and discarded by the core.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .core import operand_layout
from .params import CoreParams

OPERAND_FIFO_DEPTH = 4


def run_signature(params: CoreParams, k_max: int, n_max: int, m_max: int) -> wiring.Signature:
    """What the sequencer needs to know about a run (held stable while ``busy``)."""
    return wiring.Signature(
        {
            "start": Out(1),
            "m": Out(range(m_max + 1)),
            "k": Out(range(k_max + 1)),
            "n": Out(range(n_max + 1)),
            "weight_base": Out(range(2 * k_max * n_tiles(params, n_max) + 1)),
        }
    )


def n_tiles(params: CoreParams, n_max: int) -> int:
    return -(-n_max // params.cols)


class Sequencer(wiring.Component):
    def __init__(
        self,
        params: CoreParams,
        *,
        k_max: int,
        m_max: int,
        n_max: int,
        act_addr_width: int,
        weight_addr_width: int,
    ):
        self.params = params
        self.k_max, self.m_max, self.n_max = k_max, m_max, n_max
        super().__init__(
            {
                "run": In(run_signature(params, k_max, n_max, m_max)),
                "busy": Out(1),  # from start until the last beat has left the FIFO
                "act_addr": Out(act_addr_width),
                "act_data": In(data.ArrayLayout(signed(params.act_bits), params.rows)),
                "weight_addr": Out(weight_addr_width),
                "weight_data": In(params.cols * params.weight_bits),
                "operands": Out(stream.Signature(operand_layout(params))),
            }
        )

    def elaborate(self, platform):
        p = self.params
        m = Module()
        run = self.run

        active = Signal()
        k = Signal(range(self.k_max + 1))
        row_base = Signal(range(self.m_max + p.rows + 1))  # m0
        col_base = Signal(range(self.n_max + p.cols + 1))  # n0
        act_block = Signal(len(self.act_addr))  # (m0 / R) * K
        weight_tile = Signal(len(self.weight_addr))  # bank base + (n0 / C) * K

        m.submodules.queue = queue = fifo.SyncFIFOBuffered(
            width=operand_layout(p).size, depth=OPERAND_FIFO_DEPTH
        )
        in_flight = Signal()  # a read issued last cycle lands in the FIFO this cycle
        issue = active & (queue.level + in_flight < OPERAND_FIFO_DEPTH)

        rows_left = Signal(range(self.m_max + 1))
        cols_left = Signal(range(self.n_max + 1))
        m.d.comb += [
            rows_left.eq(run.m - row_base),
            cols_left.eq(run.n - col_base),
            self.act_addr.eq(act_block + k),
            self.weight_addr.eq(weight_tile + k),
        ]
        last_k = k == run.k - 1
        last_col_block = col_base + p.cols >= run.n
        last_row_block = row_base + p.rows >= run.m

        # The beat's tile fields travel one cycle beside the buffer read.
        beat = Signal(operand_layout(p))
        pending = Signal.like(beat)
        with m.If(run.start):
            m.d.sync += [
                active.eq(1),
                k.eq(0),
                row_base.eq(0),
                col_base.eq(0),
                act_block.eq(0),
                weight_tile.eq(run.weight_base),
            ]
        with m.Elif(issue):
            m.d.sync += [
                pending.last.eq(last_k),
                pending.rows.eq(Mux(rows_left > p.rows, p.rows, rows_left)),
                pending.cols.eq(Mux(cols_left > p.cols, p.cols, cols_left)),
                pending.col_base.eq(col_base),
            ]
            with m.If(~last_k):
                m.d.sync += k.eq(k + 1)
            with m.Else():
                m.d.sync += k.eq(0)
                with m.If(~last_col_block):
                    m.d.sync += [
                        col_base.eq(col_base + p.cols),
                        weight_tile.eq(weight_tile + run.k),
                    ]
                with m.Else():
                    m.d.sync += [col_base.eq(0), weight_tile.eq(run.weight_base)]
                    with m.If(~last_row_block):
                        m.d.sync += [
                            row_base.eq(row_base + p.rows),
                            act_block.eq(act_block + run.k),
                        ]
                    with m.Else():
                        m.d.sync += active.eq(0)
        m.d.sync += in_flight.eq(issue)

        m.d.comb += [
            beat.x.eq(self.act_data),
            beat.codes.eq(self.weight_data),
            beat.last.eq(pending.last),
            beat.rows.eq(pending.rows),
            beat.cols.eq(pending.cols),
            beat.col_base.eq(pending.col_base),
            queue.w_en.eq(in_flight),
            queue.w_data.eq(beat),
            self.operands.payload.eq(queue.r_data),
            self.operands.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.operands.ready),
            self.busy.eq(active | in_flight | queue.r_rdy | (queue.level != 0)),
        ]
        return m
