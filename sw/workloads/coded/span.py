"""Which linear functionals a set of results spans, over GF(q), kept up to date row by row.

A coded subtask's result is a linear combination of the products of A's and B's
blocks (``Z[a, b] = A_a @ B_b``, one unknown per pair of blocks); each wanted block of
C is another such combination. A linear decoder exists exactly when every wanted
combination lies in the span of the results'. `SpanTracker` decides that
incrementally (one row reduction per arriving result, O(rank x unknowns)) and,
once it holds, gives the coefficients that turn the results into C.
"""

from __future__ import annotations

import numpy as np


class SpanTracker:
    """Gaussian elimination over GF(q) fed one row at a time.

    ``targets``: (T, U) residues, the functionals wanted; ``capacity``: how many rows
    may arrive (they are numbered 0 .. capacity - 1 by `add`'s ``slot``).
    """

    def __init__(self, targets: np.ndarray, q: int, capacity: int):
        self.q = q
        self.capacity = capacity
        self.pivots: list[int] = []
        self.rows: list[np.ndarray] = []  # reduced basis rows, pivot entry 1
        self.combos: list[np.ndarray] = []  # each basis row as a combination of added rows
        self.residual = np.mod(np.asarray(targets, dtype=np.int64), q)
        # target = residual + combo_target @ (added rows)
        self.target_combos = np.zeros((self.residual.shape[0], capacity), dtype=np.int64)

    @property
    def complete(self) -> bool:
        return not np.any(self.residual)

    def add(self, slot: int, row: np.ndarray) -> None:
        q = self.q
        row = np.mod(np.asarray(row, dtype=np.int64), q)
        combo = np.zeros(self.capacity, dtype=np.int64)
        combo[slot] = 1
        for pivot, basis, basis_combo in zip(self.pivots, self.rows, self.combos, strict=True):
            factor = row[pivot]
            if factor:
                row = (row - factor * basis) % q
                combo = (combo - factor * basis_combo) % q
        nonzero = np.flatnonzero(row)
        if nonzero.size == 0:
            return  # dependent on what arrived before: nothing new
        pivot = int(nonzero[0])
        inverse = pow(int(row[pivot]), q - 2, q)
        row, combo = row * inverse % q, combo * inverse % q
        self.pivots.append(pivot)
        self.rows.append(row)
        self.combos.append(combo)
        factors = self.residual[:, pivot].copy()
        hit = factors != 0
        if np.any(hit):
            self.residual[hit] = (self.residual[hit] - factors[hit, None] * row) % q
            self.target_combos[hit] = (self.target_combos[hit] + factors[hit, None] * combo) % q

    def coefficients(self) -> np.ndarray:
        """(T, capacity): target t = sum_r coefficients[t, r] * row r (once `complete`)."""
        if not self.complete:
            raise ValueError("the targets are not yet in the span of the rows added")
        return self.target_combos
