"""How an M x K x N product is cut into R x C tiles, and the order results come out.

The core computes one tile (R activation rows against C output channels, over all
of K) at a time. Tiles go row-block-major: for each block of R rows, every block
of C channels. Within a tile the valid results come out row-major. The RTL's
sequencer, the testbenches and the driver's reordering all use this one schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    row_base: int  # first activation row m0
    rows: int  # valid rows, 1..R (fewer at the bottom edge)
    col_base: int  # first output channel n0
    cols: int  # valid channels, 1..C (fewer at the right edge)

    @property
    def results(self) -> int:
        return self.rows * self.cols


def tiles(m: int, n: int, array_rows: int, array_cols: int) -> list[Tile]:
    if m < 1 or n < 1:
        raise ValueError(f"M and N must be at least 1, got M={m}, N={n}")
    return [
        Tile(m0, min(array_rows, m - m0), n0, min(array_cols, n - n0))
        for m0 in range(0, m, array_rows)
        for n0 in range(0, n, array_cols)
    ]


def result_order(m: int, n: int, array_rows: int, array_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index of each result, in the order the core emits them."""
    rows, cols = [], []
    for tile in tiles(m, n, array_rows, array_cols):
        r, c = np.meshgrid(
            np.arange(tile.rows) + tile.row_base,
            np.arange(tile.cols) + tile.col_base,
            indexing="ij",
        )
        rows.append(r.ravel())
        cols.append(c.ravel())
    return np.concatenate(rows), np.concatenate(cols)
