"""Tile sequencer: reads the activation and weight buffers into the core's operand beats.

Walks `sw.kernel.tiling`'s schedule (for each block of R rows, for each block of C
columns, every k) without a multiplier or divider: every address is a running sum.

Buffer layouts (filled by `hdl.top`):

- activations: R banks, row ``m`` in bank ``m % R`` at ``act_base + (m // R) * K + k``;
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

from sw.device.params import CoreParams

from .core import operand_layout

# FIFO entries beyond the reads in flight, so that one beat per cycle keeps flowing.
OPERAND_FIFO_SLACK = 3


def run_signature(
    params: CoreParams, k_max: int, n_max: int, m_max: int, act_addr_width: int
) -> wiring.Signature:
    """What the sequencer needs to know about a run (held stable while ``busy``)."""
    return wiring.Signature(
        {
            "start": Out(1),
            "m": Out(range(m_max + 1)),
            "k": Out(range(k_max + 1)),
            "n": Out(range(n_max + 1)),
            "weight_base": Out(range(params.layer_banks * k_max * n_tiles(params, n_max) + 1)),
            "act_base": Out(act_addr_width),  # where row 0 of the activations starts
        }
    )


def n_tiles(params: CoreParams, n_max: int) -> int:
    return -(-n_max // params.cols)


class Sequencer(wiring.Component):
    def __init__(
        self,
        params: CoreParams,
        *,
        read_latency: int,
        k_max: int,
        m_max: int,
        n_max: int,
        act_addr_width: int,
        weight_addr_width: int,
    ):
        self.params = params
        self.read_latency = read_latency  # cycles from an address to its data
        self.k_max, self.m_max, self.n_max = k_max, m_max, n_max
        super().__init__(
            {
                "run": In(run_signature(params, k_max, n_max, m_max, act_addr_width)),
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
            width=operand_layout(p).size, depth=self.read_latency + 1 + OPERAND_FIFO_SLACK
        )
        # A beat issued in cycle t has its data `read_latency + 1` cycles later, when it
        # enters the FIFO together with its tile fields, which wait beside it.
        reads = [Signal(name=f"read_{i}") for i in range(self.read_latency + 1)]
        in_flight = sum(reads[1:], reads[0])
        # Free FIFO places not yet promised to a beat in flight (depth - level - in
        # flight), kept as a register so that issuing is one zero test, not an add and
        # a compare in front of all the loop counters.
        credits = Signal(range(queue.depth + 1), init=queue.depth)
        issue = active & (credits != 0)
        popped = self.operands.valid & self.operands.ready
        m.d.sync += credits.eq(credits - issue + popped)

        # Limits fixed for the run, so each test below is one comparison.
        k_last = Signal.like(k)
        # Whether the current column (row) block is the last one, as registers worked out
        # when the block starts: col_base + C >= N, i.e. col_base >= N - 2C before a step.
        last_col_block, last_row_block = Signal(), Signal()
        one_col_block = Signal()  # N <= C: column blocks start over at the last one
        n_before_last = Signal(signed(len(col_base) + 1))  # N - 2C
        m_before_last = Signal(signed(len(row_base) + 1))  # M - 2R
        rows_left = Signal(range(self.m_max + 1))
        cols_left = Signal(range(self.n_max + 1))
        m.d.comb += [rows_left.eq(run.m - row_base), cols_left.eq(run.n - col_base)]
        # The RAM addresses come from registers (a cycle after the beat is issued): the
        # adders stay off the path into the RAMs, which fans out to every bank.
        m.d.sync += [self.act_addr.eq(act_block + k), self.weight_addr.eq(weight_tile + k)]
        latency = self.read_latency + 1
        last_k = k == k_last

        fields = [Signal(operand_layout(p), name=f"fields_{i}") for i in range(latency)]
        with m.If(run.start):
            m.d.sync += [
                active.eq(1),
                k.eq(0),
                row_base.eq(0),
                col_base.eq(0),
                act_block.eq(run.act_base),
                weight_tile.eq(run.weight_base),
                k_last.eq(run.k - 1),
                one_col_block.eq(run.n <= p.cols),
                last_col_block.eq(run.n <= p.cols),
                last_row_block.eq(run.m <= p.rows),
                n_before_last.eq(run.n - 2 * p.cols),
                m_before_last.eq(run.m - 2 * p.rows),
            ]
        with m.Elif(issue):
            m.d.sync += [
                fields[0].last.eq(last_k),
                fields[0].rows.eq(Mux(rows_left > p.rows, p.rows, rows_left)),
                fields[0].cols.eq(Mux(cols_left > p.cols, p.cols, cols_left)),
                fields[0].col_base.eq(col_base),
            ]
            with m.If(~last_k):
                m.d.sync += k.eq(k + 1)
            with m.Else():
                m.d.sync += k.eq(0)
                with m.If(~last_col_block):
                    m.d.sync += [
                        col_base.eq(col_base + p.cols),
                        last_col_block.eq(col_base >= n_before_last),
                        weight_tile.eq(weight_tile + run.k),
                    ]
                with m.Else():
                    m.d.sync += [
                        col_base.eq(0),
                        last_col_block.eq(one_col_block),
                        weight_tile.eq(run.weight_base),
                    ]
                    with m.If(~last_row_block):
                        m.d.sync += [
                            row_base.eq(row_base + p.rows),
                            last_row_block.eq(row_base >= m_before_last),
                            act_block.eq(act_block + run.k),
                        ]
                    with m.Else():
                        m.d.sync += active.eq(0)
        m.d.sync += [reads[0].eq(issue)]
        m.d.sync += [reads[i].eq(reads[i - 1]) for i in range(1, latency)]
        m.d.sync += [fields[i].eq(fields[i - 1]) for i in range(1, latency)]
        beat = Signal(operand_layout(p))
        m.d.comb += [
            beat.eq(fields[-1]),
            beat.x.eq(self.act_data),
            beat.codes.eq(self.weight_data),
            queue.w_en.eq(reads[-1]),
            queue.w_data.eq(beat),
            self.operands.payload.eq(queue.r_data),
            self.operands.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.operands.ready),
            self.busy.eq(active | (in_flight != 0) | queue.r_rdy | (queue.level != 0)),
        ]
        return m
