"""Hardware-aware sizing: what each core layer costs on the array, and channel rounding.

The core computes R x C tiles: R rows of the product (samples x output positions)
against C output channels, one K-deep tile at a time. A layer's ideal cost is
``M * K * N / (R * C)`` cycles (every PE busy every cycle); the device's cycle counter
(`Accelerator.matmul(measure_cycles=True)`, summed by `run_product`) gives the real
one, and their ratio is the array utilization.

Output channels are cut into tiles of C, so N and the next multiple of C cost the same
tiles: on a 4-wide array 13 output channels take four column tiles like 16 (pruning
16 -> 13 saves no tile; only the last tile's drain is 3 cycles shorter), while 12 take
three. `round_channels` gives the counts worth keeping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sw.kernel.cycles import ideal_cycles


def round_channels(n: int, array_width: int, *, direction: str = "up") -> int:
    """``n`` output channels rounded to a multiple of ``array_width`` (the array's C).

    ``"up"``: the most channels that cost the same column tiles as ``n`` (free to keep);
    ``"down"``: the most channels with one tile fewer than ``n`` when ``n`` is not a
    multiple already (at least ``array_width``; ``n`` itself when smaller).
    """
    for name, value in (("n", n), ("array_width", array_width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    if direction == "up":
        return -(-n // array_width) * array_width
    if n < array_width:
        return n
    return n // array_width * array_width


@dataclass(frozen=True)
class LayerSizing:
    """One core layer's cost for a batch: MACs, device cycles, ideal cycles, utilization."""

    name: str
    kind: str
    k: int
    n: int
    rows: int  # M of the product: batch x output positions
    macs: int
    cycles: int  # the device's run_cycles, summed over every RUN
    ideal_cycles: float  # macs / (R * C)
    utilization: float  # ideal_cycles / cycles (0 when nothing was measured)
    loads: int
    runs: int

    def as_dict(self) -> dict:
        return asdict(self)


def layer_sizing(program, info, report=None) -> list[LayerSizing]:
    """Per core layer of ``program``, the sizing of its last run (``report``: a
    `RunReport`, default ``program.last_run``; ``info``: the device's `DeviceInfo`).

    Run the program with ``measure_cycles=True`` first; on ``ref`` the cycles are the
    cycle model's, which the RTL matches.
    """
    report = program.last_run if report is None else report
    if report is None:
        raise ValueError("the program has not run yet: call program.run(accelerator, inputs)")
    sizes = []
    for layer in program.core_layers:
        product = report.layers[layer.name]
        rows = layer.rows_per_sample * report.batch
        ideal = ideal_cycles(rows, layer.k, layer.n, info.rows, info.cols)
        sizes.append(
            LayerSizing(
                name=layer.name,
                kind=layer.kind,
                k=layer.k,
                n=layer.n,
                rows=rows,
                macs=rows * layer.k * layer.n,
                cycles=product.cycles,
                ideal_cycles=ideal,
                utilization=ideal / product.cycles if product.cycles else 0.0,
                loads=product.loads,
                runs=product.runs,
            )
        )
    return sizes


def measure_layers(program, accelerator, inputs) -> list[LayerSizing]:
    """Run ``program`` on ``accelerator`` with cycle counting and size every layer."""
    program.run(accelerator, inputs, measure_cycles=True)
    return layer_sizing(program, accelerator.identify())
