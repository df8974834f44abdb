"""A deep RAM that reads as fast as one block RAM: banks, registered, then selected.

A buffer deeper than one block RAM becomes several, and Yosys puts a multiplexer
after their outputs; block-RAM outputs are slow, so that multiplexer ends up on the
critical path. Here the RAM is split into banks that are all read at once, each as
deep as one ECP5 block RAM holds words of the lane width (16 kbit: 4096 x 4,
2048 x 8, ...). Each bank's output is registered (the block RAM's own output
register takes it) and the wanted bank is picked from those registers into one
more, so reads take `BankedRAM.READ_LATENCY` cycles whatever the depth. (Shallower banks,
1024 words, also crash Yosys 0.70's abc9 on the 12 x 12 ULX3S design.)
"""

from __future__ import annotations

from amaranth import Array, Module, Shape, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from sw.device import latency

BLOCK_RAM_BITS = 16384  # data bits of an ECP5 DP16KD; an iCE40 bank spans several EBRs


class BankedRAM(wiring.Component):
    # address in; bank output; registered bank output; selected word
    READ_LATENCY = latency.BUFFER_READ

    def __init__(self, shape, depth: int, *, granularity=None):
        self.shape, self.depth, self.granularity = shape, depth, granularity
        lane_bits = granularity or Shape.cast(shape).width
        lanes = Shape.cast(shape).width // lane_bits
        bank_depth = 1 << ((BLOCK_RAM_BITS // lane_bits).bit_length() - 1)  # a power of two
        self.bank_depth = min(bank_depth, 1 << ceil_log2(max(depth, 2)))
        self.banks = -(-depth // self.bank_depth)
        address = range(depth)
        super().__init__(
            {
                "write_address": In(address),
                "write_data": In(shape),
                "write_enable": In(lanes),  # one bit per `granularity`-wide lane
                "read_address": In(address),
                "read_data": Out(shape),  # `READ_LATENCY` cycles after read_address
            }
        )

    def elaborate(self, platform):
        m = Module()
        low = ceil_log2(self.bank_depth)
        outputs = []
        for index in range(self.banks):
            bank = memory.Memory(shape=self.shape, depth=self.bank_depth, init=[])
            m.submodules[f"bank_{index}"] = bank
            write = bank.write_port(granularity=self.granularity)
            read = bank.read_port()
            enable = self.write_enable
            if self.banks > 1:
                in_bank = self.write_address[low:] == index
                enable = enable & in_bank.replicate(len(enable))
            m.d.comb += [
                write.addr.eq(self.write_address[:low]),
                write.data.eq(self.write_data),
                write.en.eq(enable),
                read.addr.eq(self.read_address[:low]),
            ]
            registered = Signal.like(read.data, name=f"bank_{index}_data")
            m.d.sync += registered.eq(read.data)
            outputs.append(registered)
        if self.banks == 1:  # no bank to pick: the last register is the selection's
            m.d.sync += self.read_data.eq(outputs[0])
        else:
            # Which bank, delayed to line up with the registered outputs.
            bank_index = [Signal(range(self.banks), name=f"bank_index_{i}") for i in range(2)]
            m.d.sync += [
                bank_index[0].eq(self.read_address[low:]),
                bank_index[1].eq(bank_index[0]),
                self.read_data.eq(Array(outputs)[bank_index[1]]),
            ]
        return m
