"""`ResultWriter`: a layer's results, as they leave the core, into the activation buffer.

A RUN_NETWORK runs resident layers back to back; each one's requantized results but
the last one's become the next one's activations without leaving the chip. They arrive
in the core's tile order (`sw.kernel.tiling.result_order`: for each block of R rows,
for each block of C columns, the tile row by row) and are written where `RunLoader`
would have put them: row ``m`` in bank ``m % R`` at ``base + (m // R) * N + n``.

Like the loaders, the writer walks that order with running sums (no multiplier) and
writes through registers; it takes a value every cycle, so the first layer's drain
never waits for it.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sw.device.params import TopParams


class ResultWriter(wiring.Component):
    def __init__(self, tp: TopParams, address_width: int):
        self.tp = tp
        p = tp.core
        super().__init__(
            {
                "start": In(1),  # pulse: a layer's results begin (with m, n and base set)
                "m": In(range(tp.m_max + 1)),
                "n": In(range(p.channels + 1)),
                "base": In(address_width),  # where the region for the results starts
                "values": In(stream.Signature(signed(p.acc_bits))),
                # Activation buffer write ports, one bank per array row (registered).
                "act_address": Out(address_width),
                "act_data": Out(signed(p.act_bits)),
                "act_enable": Out(p.rows),
                "done": Out(1),  # pulse: the last value (row M-1, column N-1) is written
            }
        )

    def elaborate(self, platform):
        tp, p = self.tp, self.tp.core
        m = Module()
        R, C = p.rows, p.cols
        # Position of the next value: tile row r and column c; `tile_address` is
        # base + (m0 / R) * N + n0 for the tile whose first row is m0 and first column n0.
        r = Signal(range(R))
        c = Signal(range(C))
        block_address = Signal(len(self.act_address))  # base + (m0 / R) * N
        tile_address = Signal(len(self.act_address))
        # Rows from m0 on and columns from n0 on, and the tile's last row and column (the
        # last tiles are cut at M and N), kept as registers and stepped with the tile:
        # the value's path then ends at a compare of two registers (ECP5 timing).
        rows_from = Signal(range(tp.m_max + 1))
        cols_from = Signal(range(p.channels + 1))
        tile_last_row = Signal(range(R))
        tile_last_col = Signal(range(C))

        def last_index(remaining, size):  # min(remaining, size) - 1, remaining >= 1
            return Mux(remaining < size, remaining - 1, size - 1)

        def first_column_block():
            return [cols_from.eq(self.n), tile_last_col.eq(last_index(self.n, C))]

        m.d.comb += self.values.ready.eq(1)
        m.d.sync += [self.act_enable.eq(0), self.done.eq(0)]  # writes go through registers
        with m.If(self.start):
            m.d.sync += [
                r.eq(0),
                c.eq(0),
                rows_from.eq(self.m),
                tile_last_row.eq(last_index(self.m, R)),
                block_address.eq(self.base),
                tile_address.eq(self.base),
                *first_column_block(),
            ]
        with m.Elif(self.values.valid):
            # The first layer's outputs fit the activations (the top checks out_bits).
            m.d.sync += [
                self.act_address.eq(tile_address + c),
                self.act_data.eq(self.values.payload),
                self.act_enable.eq(1 << r),
            ]
            with m.If(c != tile_last_col):
                m.d.sync += c.eq(c + 1)
            with m.Else():
                m.d.sync += c.eq(0)
                with m.If(r != tile_last_row):
                    m.d.sync += r.eq(r + 1)
                with m.Else():
                    m.d.sync += r.eq(0)
                    with m.If(cols_from > C):  # the next column block of these rows
                        m.d.sync += [
                            cols_from.eq(cols_from - C),
                            tile_last_col.eq(last_index(cols_from - C, C)),
                            tile_address.eq(tile_address + C),
                        ]
                    with m.Else():  # the next block of rows
                        with m.If(rows_from <= R):
                            m.d.sync += self.done.eq(1)
                        m.d.sync += [
                            rows_from.eq(rows_from - R),
                            tile_last_row.eq(last_index(rows_from - R, R)),
                            block_address.eq(block_address + self.n),
                            tile_address.eq(block_address + self.n),
                            *first_column_block(),
                        ]
        return m
