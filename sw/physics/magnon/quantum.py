"""Quantum check: the Lindblad master equation of the cavity-magnon system in truncated Fock space.

The Hamiltonian and the collapse operators are built from the same :class:`Conventions` as the
mean field, so the two descriptions always describe the same model.

Steady state. H and both collapse operators are odd under the parity P = (-1)^(a^dag a + m^dag m),
so the Liouvillian maps the *even sector* (rho_ij with equal parities of i and j) to itself and
the unique steady state lives there. We solve L rho = 0 with Tr rho = 1 on that sector only (half
the unknowns) by a sparse LU factorization; solving the full space with qutip.steadystate gives
the same state (a test checks it) at several times the cost.

Liouvillian gap. The slowest decay rate other than the steady state, from shift-invert Arnoldi
on each parity sector: the odd sector holds the decay of <m> (the rate at which the system
forgets which of the two broken states it is in, closing in the broken phase as K -> 0), the even
sector the relaxation of populations.

QuTiP is imported inside the functions, so importing the package stays light.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .meanfield import steady_states
from .model import MagnonParams, check_drive

# The LU of the even-sector Liouvillian grows very fast with the cutoffs (it is a
# 4-dimensional lattice); refuse sizes that would take many minutes instead of hanging.
MAX_SECTOR_DIMENSION = 40_000


def _single_threaded_blas():
    """SuperLU calls BLAS on small dense blocks; with several BLAS threads on a shared machine
    that is many times slower than one thread, so limit BLAS to one thread during the LU."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # only an optimization
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _check_cutoff(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1 (got {value!r})")
    return int(value)


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
    with levels 0..n_cavity and 0..n_max.

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


def _solve_steady_state(
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
    with _single_threaded_blas():
        solution = spla.splu(system).solve(right_hand_side)
    residual = float(np.max(np.abs(block @ solution)) / np.max(np.abs(liouvillian.data)))
    vector = np.zeros(dim * dim, dtype=complex)
    vector[unknowns] = solution
    rho = vector.reshape(dim, dim, order="F")
    rho = (rho + rho.conj().T) / 2
    return rho / np.trace(rho).real, residual


def _parity_sectors(n_max: int, n_cavity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the even and odd sectors in QuTiP's column-stacked vec(rho), and the
    positions of the diagonal elements inside the even sector."""
    magnon_levels, cavity_levels = n_max + 1, n_cavity + 1
    dim = magnon_levels * cavity_levels
    basis = np.arange(dim)  # basis index = cavity * magnon_levels + magnon
    parity = (basis // magnon_levels + basis % magnon_levels) % 2
    row, column = np.meshgrid(basis, basis, indexing="ij")
    same = (parity[row] == parity[column]).ravel(order="F")
    even, odd = np.flatnonzero(same), np.flatnonzero(~same)
    diagonal_in_even = np.flatnonzero((row == column).ravel(order="F")[same])
    return even, odd, diagonal_in_even


def _sector_gap(block: sp.csc_matrix, count: int, skip_zero: bool, scale: float) -> float:
    """Slowest decay rate -Re(lambda) among the ``count`` eigenvalues nearest to 0."""
    shift = 1e-3 * scale  # no eigenvalue has a positive real part, so L - shift is invertible
    shifted = (block - shift * sp.identity(block.shape[0], format="csc")).tocsc()
    with _single_threaded_blas():
        lu = spla.splu(shifted)
    inverse = spla.LinearOperator(block.shape, matvec=lu.solve, dtype=complex)
    count = min(count, block.shape[0] - 2)
    start = np.full(block.shape[0], 1 / math.sqrt(block.shape[0]), dtype=complex)  # reproducible
    eigenvalues = spla.eigs(
        block, k=count, sigma=shift, OPinv=inverse, which="LM", return_eigenvectors=False, v0=start
    )
    if skip_zero:
        eigenvalues = eigenvalues[np.abs(eigenvalues) > 1e-9 * scale]
    return float(np.min(-eigenvalues.real))


@dataclass(frozen=True, eq=False)
class QuantumSteadyState:
    """Steady state of the master equation and what it tells.

    Attributes:
        drive, n_max, n_cavity: the drive and the highest Fock levels kept (magnon, cavity).
        magnon_number, cavity_number: <m^dag m>, <a^dag a>.
        magnon_pair: <m^2>; parity even, so it survives the symmetric mixture of the two
            broken states and matches the mean-field beta^2 there.
        magnon_parity: <(-1)^(m^dag m)>; total_parity: <P> with P = (-1)^(a^dag a + m^dag m).
        magnon_tail, cavity_tail: population of the highest kept level (truncation check).
        liouvillian_gap: slowest non-zero decay rate (min of the two sectors), or None.
        odd_gap, even_gap: the slowest decay in each parity sector, or None.
        residual: max |L rho| / max |L| of the returned state (a check on the linear solve).
        density_matrix: rho as a dense array, basis cavity (x) magnon.
    """

    drive: float
    n_max: int
    n_cavity: int
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
    density_matrix: np.ndarray


def quantum_steady_state(
    params: MagnonParams,
    drive: float,
    n_max: int,
    n_cavity: int | None = None,
    liouvillian_gap: bool = True,
) -> QuantumSteadyState:
    """Steady state of the Lindblad master equation with magnon levels 0..n_max.

    ``n_cavity`` (highest cavity level) defaults to the mean-field estimate of
    :func:`suggested_cutoffs`. With ``liouvillian_gap`` also find the slowest decay rates.
    """
    drive = check_drive(drive)
    n_max = _check_cutoff("n_max", n_max)
    if n_cavity is None:
        n_cavity = suggested_cutoffs(params, drive)[1]
    n_cavity = _check_cutoff("n_cavity", n_cavity)
    even, odd, diagonal = _parity_sectors(n_max, n_cavity)
    if len(even) > MAX_SECTOR_DIMENSION:
        raise ValueError(
            f"n_max={n_max}, n_cavity={n_cavity} give {len(even)} unknowns; at most "
            f"{MAX_SECTOR_DIMENSION} are allowed (reduce the cutoffs or raise the Kerr K)"
        )
    hamiltonian, collapse, _, m = build_model(params, drive, n_max, n_cavity)
    liouvillian = _liouvillian(hamiltonian, collapse)
    scale = float(np.max(np.abs(liouvillian.data)))
    rho, residual = _solve_steady_state(liouvillian, even, diagonal, hamiltonian.shape[0])

    populations = np.real(np.diag(rho)).reshape(n_cavity + 1, n_max + 1)
    magnon_marginal, cavity_marginal = populations.sum(axis=0), populations.sum(axis=1)
    magnon_levels, cavity_levels = np.arange(n_max + 1), np.arange(n_cavity + 1)
    m_dense = m.full()
    magnon_sign = (-1.0) ** magnon_levels
    cavity_sign = (-1.0) ** cavity_levels

    odd_gap = even_gap = gap = None
    if liouvillian_gap:
        odd_gap = _sector_gap(liouvillian[odd][:, odd].tocsc(), 4, False, scale)
        even_gap = _sector_gap(liouvillian[even][:, even].tocsc(), 5, True, scale)
        gap = min(odd_gap, even_gap)

    return QuantumSteadyState(
        drive=drive,
        n_max=n_max,
        n_cavity=n_cavity,
        magnon_number=float(magnon_marginal @ magnon_levels),
        cavity_number=float(cavity_marginal @ cavity_levels),
        magnon_pair=complex(np.trace(rho @ (m_dense @ m_dense))),
        magnon_parity=float(magnon_marginal @ magnon_sign),
        total_parity=float(cavity_sign @ populations @ magnon_sign),
        magnon_tail=float(magnon_marginal[-1]),
        cavity_tail=float(cavity_marginal[-1]),
        liouvillian_gap=gap,
        odd_gap=odd_gap,
        even_gap=even_gap,
        residual=residual,
        density_matrix=rho,
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
    n_max = _check_cutoff("n_max", n_max)
    n_cavity = _check_cutoff("n_cavity", n_cavity)
    broken = [b for b in steady_states(params, drive) if b.stable and b.name != "zero"]
    if not broken:
        raise ValueError(f"drive={drive} has no stable broken mean-field state to expand around")
    branch = max(broken, key=lambda b: (b.magnon_number, b.parity))
    unknowns = ((n_max + 1) * (n_cavity + 1)) ** 2
    if unknowns > MAX_SECTOR_DIMENSION:
        raise ValueError(
            f"n_max={n_max}, n_cavity={n_cavity} give {unknowns} unknowns; at most "
            f"{MAX_SECTOR_DIMENSION} are allowed (fluctuation cutoffs of 6..10 are enough)"
        )
    hamiltonian, collapse, a, m = build_model(
        params, drive, n_max, n_cavity, displacement=(branch.cavity, branch.magnon)
    )
    dim = hamiltonian.shape[0]
    everything = np.arange(dim * dim)
    diagonal = np.arange(dim) * (dim + 1)
    rho, residual = _solve_steady_state(
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
    in the full Fock space when that has at most ``full_below`` unknowns, else around the branch
    with fluctuation cutoffs (n_max, n_cavity). The branch method is only valid once the parity
    partner -beta lies far outside those cutoffs (|2 beta|^2 >> n_max), i.e. for small K.
    """
    points = []
    for kerr in kerr_values:
        scaled = params.with_value("kerr", kerr)
        broken = [b for b in steady_states(scaled, drive) if b.stable and b.name != "zero"]
        if not broken:
            raise ValueError(f"no stable broken state at drive={drive}, kerr={kerr}")
        mean_field = kerr * max(b.magnon_number for b in broken)
        full_cutoffs = suggested_cutoffs(scaled, drive)
        if len(_parity_sectors(*full_cutoffs)[0]) <= full_below:
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
