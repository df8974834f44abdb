"""The cycle model: how many clock cycles the core takes for an M x K x N product.

The RTL is built to pipeline latencies that the device reports (`sw.device.latency`,
`DeviceInfo.latencies`); the model takes them as an argument, and the cocotb cycle
test checks it against the simulated core exactly.

Conditions: operand beats offered every cycle and results always accepted. The
count runs from the cycle the first operand beat is accepted to the cycle the last
result leaves, both included.

How the core spends them: a tile takes K beats, one per cycle, and a bubble cycle
after its last beat in which the accumulators hand over to the drain chain. A
tile's last beat may only enter once the drain is free and no other last beat is
in flight, so when a tile's drain (a cycle per ``drain_lanes`` neighbouring entries
of a row, up to its last valid one) outlasts the next tile's K beats, the next last
beat waits. After the
final tile: the array latency, the hand-over, its drain, the requantizer and the
output FIFO.
"""

from __future__ import annotations

from sw.device.latency import Latencies

from .tiling import tiles

DEVICE_LATENCIES = Latencies()  # what today's gateware is built to


def drain_cycles(tile_rows: int, tile_cols: int, array_cols: int, drain_lanes: int = 1) -> int:
    """The drain moves ``drain_lanes`` neighbouring entries of a row a cycle, row-major,
    and stops after the step holding the tile's last valid entry."""
    per_row = array_cols // drain_lanes
    return (tile_rows - 1) * per_row + -(-tile_cols // drain_lanes)


def core_cycles(
    m: int,
    k: int,
    n: int,
    array_rows: int,
    array_cols: int,
    *,
    drain_lanes: int = 1,
    latencies=DEVICE_LATENCIES,
) -> int:
    """Predicted cycles for ``x (M x K) @ w (K x N)`` on an R x C core (see module doc)."""
    if k < 1:
        raise ValueError(f"K must be at least 1, got K={k}")
    last_accept = None
    drain = 0
    for tile in tiles(m, n, array_rows, array_cols):
        if last_accept is None:
            last_accept = k - 1
        else:
            # the bubble after the previous last beat, then K beats; or a busy drain
            drain_free = last_accept + latencies.array + latencies.handover + 1 + drain
            last_accept = max(last_accept + 1 + k, drain_free)
        drain = drain_cycles(tile.rows, tile.cols, array_cols, drain_lanes)
    return (
        last_accept
        + latencies.array
        + latencies.handover
        + drain
        + latencies.requant
        + latencies.output_fifo
        + 1
    )


def ideal_cycles(m: int, k: int, n: int, array_rows: int, array_cols: int) -> float:
    """``M*K*N / (R*C)``: every PE busy every cycle."""
    return m * k * n / (array_rows * array_cols)


def run_cycles(
    m: int,
    k: int,
    n: int,
    array_rows: int,
    array_cols: int,
    *,
    drain_lanes: int = 1,
    latencies=DEVICE_LATENCIES,
) -> int:
    """Predicted ``run_cycles`` counter of one RUN of M rows (results never held up).

    The counter starts when the sequencer issues its first beat, `latencies.run_start`
    cycles before the core accepts it."""
    core = core_cycles(
        m, k, n, array_rows, array_cols, drain_lanes=drain_lanes, latencies=latencies
    )
    return core + latencies.run_start
