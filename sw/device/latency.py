"""Pipeline latencies of the device, in clock cycles: the numbers the cycle model uses.

Each is created by one gateware block, which exposes it as a class constant bound
to the value here (`hdl.core.MatmulCore.ARRAY_LATENCY`, `hdl.requant.Requantizer.LATENCY`,
...); tests measure every block in simulation and fail if its real latency differs.
IDENTIFY reports them, so the host's cycle model follows the device it talks to.
"""

from __future__ import annotations

from dataclasses import dataclass

# Cycles from accepting an operand beat to its accumulate: accept, decode, spread to
# the PEs, product, sum (`hdl.core.MatmulCore`).
ARRAY = 5
# The bubble cycle in which a finished tile moves from the accumulators to the drain.
HANDOVER = 1
# Cycles through the requantizer: table read, its register, bias, multiply x2, the
# partial products' sum, round, shift, clamp (`hdl.requant.Requantizer`).
REQUANT = 9
# Cycles from the requantizer's output to the result leaving the core's output FIFO.
OUTPUT_FIFO = 2
# Cycles from a RUN's start (the sequencer's first beat issued, when the run cycle
# counter starts) to the core accepting that beat: the address register, the buffer
# read (`hdl.buffer.BankedRAM.READ_LATENCY`, 3) and the operand FIFO.
RUN_START = 7
# Cycles from a buffer read address to its data (`hdl.buffer.BankedRAM`).
BUFFER_READ = 3


@dataclass(frozen=True)
class Latencies:
    """The latencies one device reports (all of the above but the buffer read)."""

    array: int = ARRAY
    handover: int = HANDOVER
    requant: int = REQUANT
    output_fifo: int = OUTPUT_FIFO
    run_start: int = RUN_START
