"""Event counters kept in a RAM: one increment per cycle, read back one at a time.

A RAM word per counter instead of a register and an incrementer per counter keeps
a dozen 16-bit counters at one block RAM and a single adder, which matters on an
iCE40. An increment reads the counter one cycle and writes it back one higher the
next (stopping at the maximum instead of wrapping); the read port sees a write in
the same cycle, so back-to-back increments of one counter both count.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out


class CounterFile(wiring.Component):
    def __init__(self, count: int, width: int = 16):
        self.count, self.width = count, width
        super().__init__(
            {
                "increment": In(1),  # count one event of counter `index` this cycle
                "index": In(range(count)),
                "clear": In(1),  # pulse: zero every counter (takes `count` cycles)
                "read_index": In(range(count)),  # when not counting: value next cycle
                "read_data": Out(width),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = storage = memory.Memory(
            shape=unsigned(self.width), depth=self.count, init=[]
        )
        write = storage.write_port()
        read = storage.read_port(transparent_for=(write,))

        # Requests are registered first, so whatever decides to count an event is not
        # in the same cycle as the RAM's address.
        requested = Signal()
        requested_index = Signal.like(self.index)
        m.d.sync += [requested.eq(self.increment), requested_index.eq(self.index)]
        pending = Signal()  # the value read last cycle is to be written back + 1
        pending_index = Signal.like(self.index)
        clearing = Signal()
        clear_index = Signal.like(self.index)
        m.d.sync += [pending.eq(requested & ~clearing), pending_index.eq(requested_index)]
        m.d.comb += [
            read.addr.eq(Mux(requested, requested_index, self.read_index)),
            self.read_data.eq(read.data),
        ]
        with m.If(self.clear):
            m.d.sync += [clearing.eq(1), clear_index.eq(0)]
        with m.Elif(clearing):
            m.d.sync += clear_index.eq(clear_index + 1)
            with m.If(clear_index == self.count - 1):
                m.d.sync += clearing.eq(0)
        with m.If(clearing):
            m.d.comb += [write.en.eq(1), write.addr.eq(clear_index), write.data.eq(0)]
        with m.Elif(pending):
            saturated = read.data.all()
            m.d.comb += [
                write.en.eq(1),
                write.addr.eq(pending_index),
                write.data.eq(Mux(saturated, read.data, read.data + 1)),
            ]
        return m
