"""The Lindblad master equation of the cavity-magnon system in truncated Fock space.

The Hamiltonian and the collapse operators are built from the same :class:`Conventions` as the
mean field, so the two descriptions always describe the same model.

Parity. H and both collapse operators are odd or even under P = (-1)^(a^dag a + m^dag m) (H even,
the collapse operators odd), so the Liouvillian maps the *even sector* (rho_ij with equal
parities of i and j) and the *odd sector* to themselves. The steady state lives in the even
sector; the odd sector holds the decay of <m>, i.e. the switching between the two broken states
+-beta. Every solver below works on one sector only.

Two ways to solve L rho = 0 (and to find the slowest decay rates, the Liouvillian gap):

``direct``
    Sparse LU of the even-sector Liouvillian with one equation replaced by Tr rho = 1, and
    shift-invert Arnoldi (ARPACK) on each sector for the gap. Exact to rounding, but the LU of
    this 4-index lattice fills in fast: 20000 unknowns (cutoffs 19 and 9) already take minutes.
``iterative``
    Split L = L0 + J, with L0(X) = A X + X A^dag the no-jump part (A = -i H - sum c^dag c / 2)
    and J(X) = sum c X c^dag the jumps. L0 is a Sylvester operator: with the eigendecomposition
    of A in each parity block it is inverted exactly by elementwise division, at the cost of a
    few dense products. GMRES then solves the preconditioned system (I + L0^-1 J) X = L0^-1 Y,
    bordered by the trace so that it is never singular. The same inner solve drives
    shift-invert Arnoldi for the gap. Its cost grows like the cube of the Hilbert-space dimension
    d (not like the fill of a 4-index LU), so cutoffs of (60, 15) are reachable; the number of
    GMRES steps grows as the system becomes metastable (small Kerr, inside the bistable window).

Both give the same state to rounding (a test checks it), and ``method="auto"`` picks the direct
one for small spaces, where it is faster.

QuTiP builds the operators; it is imported inside the functions, so importing the package stays
light and the mean-field parts work without it.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..common import PhysicsInputError, check_choice, check_count
from .model import MagnonParams, check_drive
from .solver import steady_states

# The direct LU of the even-sector Liouvillian grows very fast with the cutoffs (it is a
# 4-dimensional lattice); refuse sizes that would take many minutes instead of hanging.
MAX_SECTOR_DIMENSION = 40_000
# The iterative solver keeps dense d x d blocks and diagonalizes them: refuse larger spaces.
MAX_HILBERT_DIMENSION = 2_500
# "auto" uses the direct solver up to this many even-sector unknowns (measured crossover).
AUTO_DIRECT_BELOW = 1_000
METHODS = ("auto", "direct", "iterative")


def single_threaded_blas():
    """SuperLU and small dense products call BLAS; on a shared machine several BLAS threads are
    slower than one, so limit BLAS to one thread while the solvers run."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # only an optimization
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def suggested_cutoffs(params: MagnonParams, drive: float) -> tuple[int, int]:
    """Fock cutoffs (n_max, n_cavity) covering the largest stable mean-field state with margin.

    A coherent state with mean N has a Poisson tail of width sqrt(N); squeezing by the drive
    widens it, so keep N + 4 sqrt(N + 1) + 3 magnon levels and N_a + 4 sqrt(N_a + 1) + 1 (at
    least 3) cavity levels. Check convergence by changing them, as the tests do.
    """
    stable = [b for b in steady_states(params, drive) if b.stable]
    magnon = max((b.magnon_number for b in stable), default=0.0)
    cavity = max((b.cavity_number for b in stable), default=0.0)
    n_max = math.ceil(magnon + 4 * math.sqrt(magnon + 1) + 3)
    n_cavity = max(3, math.ceil(cavity + 4 * math.sqrt(cavity + 1) + 1))
    return n_max, n_cavity


def build_model(
    params: MagnonParams,
    drive: float,
    n_max: int,
    n_cavity: int,
    displacement: tuple[complex, complex] = (0j, 0j),
):
    """(H, collapse operators, a, m) as QuTiP CSR operators on cavity (x) magnon Fock spaces
    with levels 0..n_cavity and 0..n_max (basis index = cavity * (n_max + 1) + magnon).

    With ``displacement = (alpha, beta)`` the Fock spaces are those of the fluctuations around
    a mean-field state: a = alpha + b and m = beta + c with b, c truncated. The model is the
    same (a unitary change of frame), only the truncation differs.
    """
    import qutip

    conv = params.conventions
    cavity_shift, magnon_shift = displacement
    identity = qutip.tensor(qutip.qeye(n_cavity + 1), qutip.qeye(n_max + 1)).to("csr")
    a = qutip.tensor(qutip.destroy(n_cavity + 1), qutip.qeye(n_max + 1)).to("csr")
    m = qutip.tensor(qutip.qeye(n_cavity + 1), qutip.destroy(n_max + 1)).to("csr")
    if cavity_shift != 0 or magnon_shift != 0:
        a = a + complex(cavity_shift) * identity
        m = m + complex(magnon_shift) * identity
    number_m = m.dag() * m
    if conv.kerr_ordering == "number_squared":
        kerr_term = params.kerr * number_m * number_m
    else:
        kerr_term = params.kerr * m.dag() * m.dag() * m * m
    hamiltonian = (
        params.delta_a * a.dag() * a
        + params.delta_m * number_m
        + kerr_term
        + params.g * (a.dag() * m + a * m.dag())
        + conv.drive_factor * drive * (m.dag() * m.dag() + m * m)
    )
    collapse = [
        math.sqrt(conv.lindblad_rate(params.kappa_a)) * a,
        math.sqrt(conv.lindblad_rate(params.kappa_m)) * m,
    ]
    return hamiltonian, collapse, a, m


def _liouvillian(hamiltonian, collapse) -> sp.csr_matrix:
    """The Liouvillian as a scipy CSR matrix acting on QuTiP's column-stacked vec(rho)."""
    import qutip

    return qutip.liouvillian(hamiltonian, collapse).to("csr").data_as("csr_matrix")


def _basis_parity(n_max: int, n_cavity: int) -> np.ndarray:
    """Parity (0 even, 1 odd) of every basis state, basis index = cavity * (n_max + 1) + magnon."""
    basis = np.arange((n_max + 1) * (n_cavity + 1))
    return (basis // (n_max + 1) + basis % (n_max + 1)) % 2


def _parity_sectors(n_max: int, n_cavity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the even and odd sectors in QuTiP's column-stacked vec(rho), and the
    positions of the diagonal elements inside the even sector."""
    parity = _basis_parity(n_max, n_cavity)
    basis = np.arange(len(parity))
    row, column = np.meshgrid(basis, basis, indexing="ij")
    same = (parity[row] == parity[column]).ravel(order="F")
    even, odd = np.flatnonzero(same), np.flatnonzero(~same)
    diagonal_in_even = np.flatnonzero((row == column).ravel(order="F")[same])
    return even, odd, diagonal_in_even


def even_sector_size(n_max: int, n_cavity: int) -> int:
    """Number of unknowns of the even sector (what the direct solver factorizes)."""
    parity = _basis_parity(n_max, n_cavity)
    even = int(np.sum(parity == 0))
    odd = len(parity) - even
    return even * even + odd * odd


# --------------------------------------------------------------------------- direct solver


def _solve_steady_state_direct(
    liouvillian: sp.csr_matrix, unknowns: np.ndarray, diagonal: np.ndarray, dim: int
) -> tuple[np.ndarray, float]:
    """Solve L rho = 0, Tr rho = 1 restricted to the vec(rho) entries ``unknowns``
    (``diagonal``: positions of the diagonal elements among them). Returns (rho, residual)
    where residual = max |L rho| / max |L|."""
    block = liouvillian[unknowns][:, unknowns].tocsr()
    # Replace the equation of the first diagonal element by the trace condition: the
    # equations of the diagonal elements sum to zero, so one of them is redundant.
    trace_row = sp.csr_matrix(
        (np.ones(len(diagonal)), (np.zeros(len(diagonal), dtype=int), diagonal)),
        shape=(1, len(unknowns)),
    )
    first = diagonal[0]
    system = sp.vstack([block[:first], trace_row, block[first + 1 :]]).tocsc()
    right_hand_side = np.zeros(len(unknowns), dtype=complex)
    right_hand_side[first] = 1.0
    with single_threaded_blas():
        solution = spla.splu(system).solve(right_hand_side)
    residual = float(np.max(np.abs(block @ solution)) / np.max(np.abs(liouvillian.data)))
    vector = np.zeros(dim * dim, dtype=complex)
    vector[unknowns] = solution
    rho = vector.reshape(dim, dim, order="F")
    rho = (rho + rho.conj().T) / 2
    return rho / np.trace(rho).real, residual


def _sector_eigenvalues_direct(block: sp.csc_matrix, count: int, scale: float) -> np.ndarray:
    """The ``count`` eigenvalues nearest to 0 of one sector block (shift-invert, sparse LU)."""
    shift = 1e-3 * scale  # no eigenvalue has a positive real part, so L - shift is invertible
    shifted = (block - shift * sp.identity(block.shape[0], format="csc")).tocsc()
    with single_threaded_blas():
        lu = spla.splu(shifted)
    inverse = spla.LinearOperator(block.shape, matvec=lu.solve, dtype=complex)
    count = min(count, block.shape[0] - 2)
    start = np.full(block.shape[0], 1 / math.sqrt(block.shape[0]), dtype=complex)  # reproducible
    eigenvalues = spla.eigs(
        block, k=count, sigma=shift, OPinv=inverse, which="LM", return_eigenvectors=False, v0=start
    )
    return eigenvalues[np.argsort(-eigenvalues.real)]


# --------------------------------------------------------------------------- iterative solver


class ParitySplitLiouvillian:
    """L = L0 + J on one parity sector, with L0 inverted exactly (see the module docstring).

    A sector is a pair of blocks of rho: the even sector holds (even, even) and (odd, odd), the
    odd sector (even, odd) and (odd, even) (rows, columns: parities of basis states). Vectors
    are the two blocks raveled (C order) and concatenated.
    """

    SECTORS = {"even": ((0, 0), (1, 1)), "odd": ((0, 1), (1, 0))}

    def __init__(self, hamiltonian, collapse, n_max: int, n_cavity: int):
        parity = _basis_parity(n_max, n_cavity)
        self.index = [np.flatnonzero(parity == 0), np.flatnonzero(parity == 1)]
        self.dim = len(parity)
        h = hamiltonian.full()
        jumps = [c.to("csr").data_as("csr_matrix").tocsr() for c in collapse]
        no_jump = -1j * h - 0.5 * sum((c.conj().T @ c).toarray() for c in jumps)
        self.no_jump = no_jump
        self.no_jump_blocks = [no_jump[np.ix_(rows, rows)] for rows in self.index]
        # Eigendecomposition of A in each parity block (H and c^dag c conserve parity).
        self.eigen = []
        for block in self.no_jump_blocks:
            values, vectors = la.eig(block)
            self.eigen.append((values, vectors, la.inv(vectors)))
        # Collapse operators flip parity: keep c[p', p] for p' != p as sparse blocks.
        self.jump_blocks = {}
        for target in (0, 1):
            source = 1 - target
            rows, cols = self.index[target], self.index[source]
            self.jump_blocks[(target, source)] = [c[rows][:, cols].tocsr() for c in jumps]
        self.matvecs = 0

    # -- block helpers -------------------------------------------------------------------

    def _shapes(self, sector: str):
        return [(len(self.index[r]), len(self.index[s])) for r, s in self.SECTORS[sector]]

    def split(self, sector: str, vector: np.ndarray) -> list[np.ndarray]:
        blocks, start = [], 0
        for rows, cols in self._shapes(sector):
            blocks.append(vector[start : start + rows * cols].reshape(rows, cols))
            start += rows * cols
        return blocks

    @staticmethod
    def join(blocks: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([b.ravel() for b in blocks])

    def size(self, sector: str) -> int:
        return sum(r * c for r, c in self._shapes(sector))

    def to_matrix(self, sector: str, vector: np.ndarray) -> np.ndarray:
        """The full d x d matrix (cavity (x) magnon basis) of a sector vector."""
        out = np.zeros((self.dim, self.dim), dtype=complex)
        for (r, s), block in zip(self.SECTORS[sector], self.split(sector, vector), strict=True):
            out[np.ix_(self.index[r], self.index[s])] = block
        return out

    def from_matrix(self, sector: str, matrix: np.ndarray) -> np.ndarray:
        return self.join(
            [matrix[np.ix_(self.index[r], self.index[s])] for r, s in self.SECTORS[sector]]
        )

    # -- the pieces of L ---------------------------------------------------------------------

    def _inverse_no_jump(self, r: int, s: int, block: np.ndarray) -> np.ndarray:
        """Solve A_r X + X A_s^dag = block: elementwise division in the eigenbases."""
        values_r, vectors_r, inverse_r = self.eigen[r]
        values_s, vectors_s, inverse_s = self.eigen[s]
        transformed = inverse_r @ block @ inverse_s.conj().T
        transformed /= values_r[:, None] + values_s.conj()[None, :]
        return vectors_r @ transformed @ vectors_s.conj().T

    def inverse_no_jump(self, sector: str, vector: np.ndarray) -> np.ndarray:
        blocks = self.split(sector, vector)
        pairs = self.SECTORS[sector]
        return self.join(
            [self._inverse_no_jump(r, s, b) for (r, s), b in zip(pairs, blocks, strict=True)]
        )

    def jump(self, sector: str, vector: np.ndarray) -> np.ndarray:
        """J(X) = sum c X c^dag: block (r, s) goes to (1-r, 1-s)."""
        blocks = dict(zip(self.SECTORS[sector], self.split(sector, vector), strict=True))
        out = []
        for r, s in self.SECTORS[sector]:
            source = blocks[(1 - r, 1 - s)]
            total = np.zeros((len(self.index[r]), len(self.index[s])), dtype=complex)
            left = self.jump_blocks[(r, 1 - r)]
            right = self.jump_blocks[(s, 1 - s)]
            for c_left, c_right in zip(left, right, strict=True):
                # c X c^dag computed as c @ (c_right @ X^dag)^dag, sparse on both sides.
                total += c_left @ (c_right @ source.conj().T).conj().T
            out.append(total)
        return self.join(out)

    def apply(self, sector: str, vector: np.ndarray) -> np.ndarray:
        """L applied to a sector vector (for residuals and Arnoldi)."""
        blocks = self.split(sector, vector)
        out = []
        for (r, s), block in zip(self.SECTORS[sector], blocks, strict=True):
            a_r, a_s = self.no_jump_blocks[r], self.no_jump_blocks[s]
            out.append(a_r @ block + block @ a_s.conj().T)
        return self.join(out) + self.jump(sector, vector)

    def trace(self, vector: np.ndarray) -> complex:
        """Tr of an even-sector vector."""
        return sum(np.trace(b) for b in self.split("even", vector))

    # -- solves --------------------------------------------------------------------------

    def _gmres(
        self, operator, right_hand_side: np.ndarray, rtol: float, max_steps: int, start=None
    ):
        """GMRES(120) on a preconditioned operator. Rounding limits the reachable residual to
        about 1e-11 here, so a stall is accepted when the true residual is within 100 rtol."""
        count = [0]

        def counted(vector):
            count[0] += 1
            return operator(vector)

        n = len(right_hand_side)
        linear = spla.LinearOperator((n, n), matvec=counted, dtype=complex)
        solution, info = spla.gmres(
            linear,
            right_hand_side,
            x0=start,
            rtol=rtol,
            atol=0.0,
            restart=min(120, n),
            maxiter=max_steps,
        )
        self.matvecs += count[0]
        if info != 0:
            achieved = np.linalg.norm(operator(solution) - right_hand_side) / np.linalg.norm(
                right_hand_side
            )
            if not achieved < 100 * rtol:
                raise RuntimeError(
                    f"GMRES reached a relative residual of {achieved:.1e} (asked {rtol:g}) in "
                    f"{count[0]} steps; the problem is too close to singular for the iterative "
                    "solver (use a larger Kerr K or smaller cutoffs)"
                )
        return solution, count[0]

    def solve(
        self,
        sector: str,
        right_hand_side: np.ndarray,
        border: np.ndarray | None = None,
        rtol: float = 1e-10,
        max_steps: int = 20,
        start: np.ndarray | None = None,
    ) -> tuple[np.ndarray, int]:
        """Solve (L + border Tr(.)) X = right_hand_side (border only in the even sector).

        Written as (I + L0^-1 J + L0^-1 border Tr(.)) X = L0^-1 right_hand_side. ``start`` is
        an initial guess for X. Returns X and the number of GMRES steps.
        """
        bordered = None if border is None else self.inverse_no_jump(sector, border)

        def operator(vector):
            out = vector + self.inverse_no_jump(sector, self.jump(sector, vector))
            if bordered is not None:
                out = out + bordered * self.trace(vector)
            return out

        preconditioned = self.inverse_no_jump(sector, right_hand_side)
        return self._gmres(operator, preconditioned, rtol, max_steps, start)

    def steady_state(self, rtol: float = 1e-11) -> tuple[np.ndarray, int]:
        """rho (d x d, trace 1) with L rho = 0, and the GMRES steps it took.

        Solves (L + v Tr(.)) X = v with v = identity / d: taking the trace gives Tr X = 1, so
        L X = 0. The bordered operator is regular even where L is nearly singular.
        """
        identity = self.from_matrix("even", np.eye(self.dim) / self.dim)
        solution, steps = self.solve("even", identity, border=identity, rtol=rtol)
        rho = self.to_matrix("even", solution)
        rho = (rho + rho.conj().T) / 2
        return rho / np.trace(rho).real, steps

    def slowest_eigenvalues(
        self,
        sector: str,
        starts: list[np.ndarray],
        steady: np.ndarray | None = None,
        rtol: float = 1e-10,
        residual_tolerance: float = 1e-6,
        max_iterations: int = 25,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Eigenvalues of L nearest to 0 in ``sector`` (the steady state's 0 excluded in the
        even sector), by block inverse iteration. Returns the Ritz values (nearest to 0 first,
        one per start vector), their relative residuals ||L q - theta q|| / ||L q|| and the
        iterations used.

        Each step solves L W = Q for the block Q (GMRES, warm-started at q / theta, nearly the
        answer once the block has converged), orthonormalizes W and rotates it onto the
        eigenvectors of Q^dag L Q (Rayleigh-Ritz). The block converges to the eigenvalues of
        smallest modulus, the nearest at the rate |lambda_1 / lambda_(b+1)| (b = block width):
        in a few steps when the slowest mode is metastable, helped by physical start vectors
        near it (see ``quantum_steady_state``); more slowly when several modes are equally
        slow (a complex pair lambda, lambda* has equal moduli, hence b >= 2). It stops when
        the nearest Ritz value's residual is below ``residual_tolerance``; a caller must check
        the residual when it stops at ``max_iterations``. (ARPACK's shift-invert needed about
        ten times more GMRES steps here: its inner solves cannot be warm-started.)

        In the even sector L is regularized to L + rho_ss Tr(.) (same spectrum, the steady
        state's 0 moved to 1) and the block is kept traceless.
        """
        border = None
        if sector == "even":
            if steady is None:
                raise PhysicsInputError("the even-sector gap needs the steady state")
            border = self.from_matrix("even", steady)

        def traceless(vector):
            return vector if border is None else vector - border * self.trace(vector)

        def apply_operator(vector):
            out = self.apply(sector, vector)
            return out if border is None else out + border * self.trace(vector)

        width = len(starts)
        block = np.column_stack([traceless(np.asarray(v, complex)) for v in starts])
        block, _ = np.linalg.qr(block)
        values = residuals = None
        for iteration in range(1, max_iterations + 1):
            solved = []
            for i in range(width):
                guess = None if values is None else block[:, i] / values[i]
                x, _ = self.solve(sector, block[:, i], border=border, rtol=rtol, start=guess)
                solved.append(traceless(x))
            block, _ = np.linalg.qr(np.column_stack(solved))
            images = np.column_stack([apply_operator(block[:, i]) for i in range(width)])
            values, rotation = np.linalg.eig(block.conj().T @ images)
            order = np.argsort(np.abs(values))
            values, rotation = values[order], rotation[:, order]
            block, images = block @ rotation, images @ rotation
            norms = np.linalg.norm(block, axis=0)
            block, images = block / norms, images / norms
            residuals = np.linalg.norm(images - block * values, axis=0) / np.linalg.norm(
                images, axis=0
            )
            if residuals[0] <= residual_tolerance:
                return values, residuals, iteration
        return values, residuals, max_iterations


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True, eq=False)
class QuantumSteadyState:
    """Steady state of the master equation and what it tells.

    Attributes:
        drive, n_max, n_cavity: the drive and the highest Fock levels kept (magnon, cavity).
        method: ``"direct"`` or ``"iterative"`` (see the module docstring).
        magnon_number, cavity_number: <m^dag m>, <a^dag a>.
        magnon_pair: <m^2>; parity even, so it survives the symmetric mixture of the two
            broken states and matches the mean-field beta^2 there.
        magnon_parity: <(-1)^(m^dag m)>; total_parity: <P> with P = (-1)^(a^dag a + m^dag m).
        magnon_tail, cavity_tail: population of the highest kept level (truncation check).
        liouvillian_gap: slowest non-zero decay rate (min of the two sectors), or None.
        odd_gap, even_gap: the slowest decay rate -Re(lambda) in each parity sector among the
            eigenvalues nearest to 0 (the slow modes of metastable and critical states are
            real and nearest; a slowly decaying but fast oscillating mode would be missed);
            None if not computed or not converged.
        odd_eigenvalues, even_eigenvalues: those eigenvalues (steady state excluded), slowest
            decay first; empty if not computed.
        residual: max |L rho| / max |H, c^dag c| scale of the returned state.
        solver_steps: GMRES steps of the iterative steady-state solve (0 for direct).
        seconds: wall time of the whole call.
        density_matrix: rho as a dense array, basis cavity (x) magnon.
    """

    drive: float
    n_max: int
    n_cavity: int
    method: str
    magnon_number: float
    cavity_number: float
    magnon_pair: complex
    magnon_parity: float
    total_parity: float
    magnon_tail: float
    cavity_tail: float
    liouvillian_gap: float | None
    odd_gap: float | None
    even_gap: float | None
    residual: float
    solver_steps: int
    seconds: float
    density_matrix: np.ndarray = field(repr=False)
    odd_eigenvalues: np.ndarray = field(default_factory=lambda: np.zeros(0, complex), repr=False)
    even_eigenvalues: np.ndarray = field(default_factory=lambda: np.zeros(0, complex), repr=False)

    @property
    def magnon_density_matrix(self) -> np.ndarray:
        """The magnon's reduced density matrix Tr_cavity rho, levels 0..n_max."""
        from .observables import reduced_magnon_state

        return reduced_magnon_state(self.density_matrix, self.n_max, self.n_cavity)


def _choose_method(method: str, n_max: int, n_cavity: int) -> str:
    if method != "auto":
        return method
    return "direct" if even_sector_size(n_max, n_cavity) <= AUTO_DIRECT_BELOW else "iterative"


def quantum_steady_state(
    params: MagnonParams,
    drive: float,
    n_max: int,
    n_cavity: int | None = None,
    liouvillian_gap: bool = True,
    method: str = "auto",
    eigenvalue_count: int = 3,
) -> QuantumSteadyState:
    """Steady state of the Lindblad master equation with magnon levels 0..n_max.

    ``n_cavity`` (highest cavity level) defaults to the mean-field estimate of
    :func:`suggested_cutoffs`. With ``liouvillian_gap`` also find the slowest decay rates of
    both parity sectors: the ``eigenvalue_count`` eigenvalues nearest to 0 in each, by ARPACK
    (direct) or block inverse iteration (iterative; only Ritz values whose residual is below
    1e-4 are kept, so fewer may come back). ``method``: ``"direct"``
    (sparse LU), ``"iterative"`` (Sylvester-preconditioned GMRES) or ``"auto"``.
    """
    started = time.perf_counter()
    drive = check_drive(drive)
    n_max = check_count("n_max", n_max, 1)
    if n_cavity is None:
        n_cavity = suggested_cutoffs(params, drive)[1]
    n_cavity = check_count("n_cavity", n_cavity, 1)
    eigenvalue_count = check_count("eigenvalue_count", eigenvalue_count, 1, 10)
    method = _choose_method(check_choice("method", method, METHODS), n_max, n_cavity)
    dim = (n_max + 1) * (n_cavity + 1)
    unknowns = even_sector_size(n_max, n_cavity)
    if method == "direct" and unknowns > MAX_SECTOR_DIMENSION:
        raise PhysicsInputError(
            f"n_max={n_max}, n_cavity={n_cavity} give {unknowns} unknowns; the direct solver "
            f"allows at most {MAX_SECTOR_DIMENSION} (use method='iterative' or smaller cutoffs)"
        )
    if method == "iterative" and dim > MAX_HILBERT_DIMENSION:
        raise PhysicsInputError(
            f"n_max={n_max}, n_cavity={n_cavity} give a Hilbert space of {dim} states; the "
            f"iterative solver allows at most {MAX_HILBERT_DIMENSION} (raise the Kerr K)"
        )
    hamiltonian, collapse, _, m = build_model(params, drive, n_max, n_cavity)
    odd_values = even_values = np.zeros(0, dtype=complex)
    steps = 0
    with single_threaded_blas():
        if method == "direct":
            even, odd, diagonal = _parity_sectors(n_max, n_cavity)
            liouvillian = _liouvillian(hamiltonian, collapse)
            scale = float(np.max(np.abs(liouvillian.data)))
            rho, residual = _solve_steady_state_direct(liouvillian, even, diagonal, dim)
            if liouvillian_gap:
                odd_block = liouvillian[odd][:, odd].tocsc()
                even_block = liouvillian[even][:, even].tocsc()
                odd_values = _sector_eigenvalues_direct(odd_block, eigenvalue_count, scale)
                even_values = _sector_eigenvalues_direct(even_block, eigenvalue_count + 1, scale)
                # Drop the steady state's zero eigenvalue.
                even_values = even_values[np.abs(even_values) > 1e-9 * scale][:eigenvalue_count]
        else:
            split = ParitySplitLiouvillian(hamiltonian, collapse, n_max, n_cavity)
            rho, steps = split.steady_state()
            scale = float(np.max(np.abs(split.no_jump)))
            residual = float(
                np.max(np.abs(split.apply("even", split.from_matrix("even", rho)))) / scale
            )
            if liouvillian_gap:
                # Start vectors near the slow modes: m rho + rho m^dag is about
                # beta (rho_+ - rho_-), the decay of <m> (switching between +-beta), and
                # i (m rho - rho m^dag) the other quadrature; (n - <n>) rho + h.c. weighs the
                # low- and high-number attractors apart, (m^2 rho + rho m^dag^2) their phases.
                m_dense = m.full()
                number = m_dense.conj().T @ m_dense
                pair = m_dense @ m_dense

                def hermitian(x):
                    return x + x.conj().T

                odd_starts = [
                    split.from_matrix("odd", hermitian(m_dense @ rho)),
                    split.from_matrix("odd", hermitian(1j * m_dense @ rho)),
                    split.from_matrix("odd", hermitian(m_dense.conj().T @ pair @ rho)),
                    split.from_matrix("odd", hermitian(1j * m_dense.conj().T @ pair @ rho)),
                ]
                even_starts = [
                    split.from_matrix("even", hermitian(number @ rho)),
                    split.from_matrix("even", hermitian(pair @ rho)),
                    split.from_matrix("even", hermitian(1j * pair @ rho)),
                    split.from_matrix("even", hermitian(number @ number @ rho)),
                ]
                odd_values, odd_residuals, _ = split.slowest_eigenvalues("odd", odd_starts)
                even_values, even_residuals, _ = split.slowest_eigenvalues(
                    "even", even_starts, steady=rho
                )
                # Keep converged Ritz values only (an unconverged one is not an eigenvalue).
                odd_values = odd_values[odd_residuals <= 1e-4][:eigenvalue_count]
                even_values = even_values[even_residuals <= 1e-4][:eigenvalue_count]

    populations = np.real(np.diag(rho)).reshape(n_cavity + 1, n_max + 1)
    magnon_marginal, cavity_marginal = populations.sum(axis=0), populations.sum(axis=1)
    magnon_levels, cavity_levels = np.arange(n_max + 1), np.arange(n_cavity + 1)
    m_sparse = m.to("csr").data_as("csr_matrix")
    odd_values = odd_values[np.argsort(-odd_values.real)]  # slowest decay first
    even_values = even_values[np.argsort(-even_values.real)]
    odd_gap = float(-odd_values[0].real) if len(odd_values) else None
    even_gap = float(-even_values[0].real) if len(even_values) else None
    gap = min(odd_gap, even_gap) if odd_gap is not None and even_gap is not None else None
    return QuantumSteadyState(
        drive=drive,
        n_max=n_max,
        n_cavity=n_cavity,
        method=method,
        magnon_number=float(magnon_marginal @ magnon_levels),
        cavity_number=float(cavity_marginal @ cavity_levels),
        magnon_pair=complex(np.sum((m_sparse @ (m_sparse @ rho)).diagonal())),
        magnon_parity=float(magnon_marginal @ (-1.0) ** magnon_levels),
        total_parity=float((-1.0) ** cavity_levels @ populations @ (-1.0) ** magnon_levels),
        magnon_tail=float(magnon_marginal[-1]),
        cavity_tail=float(cavity_marginal[-1]),
        liouvillian_gap=gap,
        odd_gap=odd_gap,
        even_gap=even_gap,
        residual=residual,
        solver_steps=steps,
        seconds=time.perf_counter() - started,
        density_matrix=rho,
        odd_eigenvalues=odd_values,
        even_eigenvalues=even_values,
    )


@dataclass(frozen=True, eq=False)
class BranchQuantumState:
    """Steady state of the master equation in the Fock space of fluctuations around one
    mean-field branch (see :func:`branch_steady_state`).

    Attributes:
        magnon_number, cavity_number: <m^dag m>, <a^dag a> (full operators, not fluctuations).
        magnon_amplitude: <m>, the quantum-corrected beta of this branch.
        fluctuation_number: <delta m^dag delta m> with delta m = m - <m>.
        magnon_tail, cavity_tail: population of the highest kept fluctuation level.
        residual: max |L rho| / max |L|.
    """

    drive: float
    n_max: int
    n_cavity: int
    magnon_number: float
    cavity_number: float
    magnon_amplitude: complex
    fluctuation_number: float
    magnon_tail: float
    cavity_tail: float
    residual: float


def branch_steady_state(
    params: MagnonParams, drive: float, n_max: int = 8, n_cavity: int = 4
) -> BranchQuantumState:
    """Steady state localized on the stable broken branch, for Kerr values too small for
    :func:`quantum_steady_state`.

    The master equation is the same, written for a = alpha + b, m = beta + c around the
    mean-field state (alpha, beta) of the largest stable broken branch, with b and c truncated
    at n_cavity and n_max quanta. The truncation drops the (exponentially slow as K -> 0)
    switching to the parity partner -beta, so this is the state conditioned on one branch.
    Parity-even quantities such as <m^dag m> equal those of the full steady state, an equal
    mixture of the two partners, up to that switching. The needed cutoffs do not grow as K
    shrinks, because the fluctuations around the branch stay O(1).
    """
    drive = check_drive(drive)
    n_max = check_count("n_max", n_max, 1)
    n_cavity = check_count("n_cavity", n_cavity, 1)
    broken = [b for b in steady_states(params, drive) if b.stable and b.name != "zero"]
    if not broken:
        raise PhysicsInputError(
            f"drive={drive} has no stable broken mean-field state to expand around"
        )
    branch = max(broken, key=lambda b: (b.magnon_number, b.parity))
    unknowns = ((n_max + 1) * (n_cavity + 1)) ** 2
    if unknowns > MAX_SECTOR_DIMENSION:
        raise PhysicsInputError(
            f"n_max={n_max}, n_cavity={n_cavity} give {unknowns} unknowns; at most "
            f"{MAX_SECTOR_DIMENSION} are allowed (fluctuation cutoffs of 6..10 are enough)"
        )
    hamiltonian, collapse, a, m = build_model(
        params, drive, n_max, n_cavity, displacement=(branch.cavity, branch.magnon)
    )
    dim = hamiltonian.shape[0]
    everything = np.arange(dim * dim)
    diagonal = np.arange(dim) * (dim + 1)
    rho, residual = _solve_steady_state_direct(
        _liouvillian(hamiltonian, collapse), everything, diagonal, dim
    )
    populations = np.real(np.diag(rho)).reshape(n_cavity + 1, n_max + 1)
    m_dense, a_dense = m.full(), a.full()
    amplitude = complex(np.trace(rho @ m_dense))
    magnon_number = float(np.real(np.trace(rho @ (m_dense.conj().T @ m_dense))))
    return BranchQuantumState(
        drive=drive,
        n_max=n_max,
        n_cavity=n_cavity,
        magnon_number=magnon_number,
        cavity_number=float(np.real(np.trace(rho @ (a_dense.conj().T @ a_dense)))),
        magnon_amplitude=amplitude,
        fluctuation_number=magnon_number - abs(amplitude) ** 2,
        magnon_tail=float(populations.sum(axis=0)[-1]),
        cavity_tail=float(populations.sum(axis=1)[-1]),
        residual=residual,
    )


@dataclass(frozen=True)
class KerrScanPoint:
    """Quantum vs mean field at one Kerr value K (all at the same drive).

    Attributes:
        kerr: K.
        method: ``"full"`` (:func:`quantum_steady_state`, cutoffs from
            :func:`suggested_cutoffs`) or ``"branch"`` (:func:`branch_steady_state`).
        n_max, n_cavity: the cutoffs used.
        scaled_mean_field: K |beta|^2 of the largest stable broken mean-field state.
        scaled_quantum: K <m^dag m>.
        relative_difference: |scaled_quantum / scaled_mean_field - 1|.
        cutoff_change: change of <m^dag m> with different cutoffs (full: 2 fewer levels in
            both modes; branch: 2 more), an estimate of the truncation error.
    """

    kerr: float
    method: str
    n_max: int
    n_cavity: int
    scaled_mean_field: float
    scaled_quantum: float
    relative_difference: float
    cutoff_change: float


def kerr_scan(
    params: MagnonParams,
    drive: float,
    kerr_values,
    n_max: int = 6,
    n_cavity: int = 3,
    full_below: int = 4000,
) -> list[KerrScanPoint]:
    """K <m^dag m> (quantum) against K |beta|^2 (mean field) as K shrinks at fixed drive.

    K |beta|^2 does not depend on K except through the small Kerr-ordering shift, so shrinking K
    is the thermodynamic limit: the quantum value should approach it like O(K). A point is solved
    in the full Fock space when its even sector has at most ``full_below`` unknowns (either
    solver, see :func:`quantum_steady_state`), else around the branch with fluctuation cutoffs
    (n_max, n_cavity). The branch method is only valid once the parity partner -beta lies far
    outside those cutoffs (|2 beta|^2 >> n_max), i.e. for small K.
    """
    points = []
    for kerr in kerr_values:
        scaled = params.with_value("kerr", kerr)
        broken = [b for b in steady_states(scaled, drive) if b.stable and b.name != "zero"]
        if not broken:
            raise PhysicsInputError(f"no stable broken state at drive={drive}, kerr={kerr}")
        mean_field = kerr * max(b.magnon_number for b in broken)
        full_cutoffs = suggested_cutoffs(scaled, drive)
        if even_sector_size(*full_cutoffs) <= full_below:
            method, cutoffs = "full", full_cutoffs
            number = quantum_steady_state(scaled, drive, *cutoffs, False).magnon_number
            smaller = (max(1, cutoffs[0] - 2), max(1, cutoffs[1] - 2))
            other = quantum_steady_state(scaled, drive, *smaller, False).magnon_number
        else:
            method, cutoffs = "branch", (n_max, n_cavity)
            number = branch_steady_state(scaled, drive, *cutoffs).magnon_number
            other = branch_steady_state(scaled, drive, n_max + 2, n_cavity + 2).magnon_number
        points.append(
            KerrScanPoint(
                kerr=kerr,
                method=method,
                n_max=cutoffs[0],
                n_cavity=cutoffs[1],
                scaled_mean_field=mean_field,
                scaled_quantum=kerr * number,
                relative_difference=abs(kerr * number / mean_field - 1),
                cutoff_change=abs(number - other),
            )
        )
    return points
