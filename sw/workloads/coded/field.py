"""Arithmetic in the prime field GF(q) on numpy int64 arrays, and CRT over several primes.

Plain numpy rather than `galois`: the fields here are prime fields (no extension
fields are needed), the data are int64 matrices that cross process boundaries as
they are, and every operation the codes need (sums of scaled blocks, one inverse
Vandermonde matrix per decode, CRT) is a few lines. Each function keeps its
intermediates below 2**63 (below 2**53 where float64 BLAS does the work) or falls back
to Python integers (dtype=object), so nothing wraps silently.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from sw.kernel.exact import INT64_LIMIT

FLOAT64_EXACT = 1 << 53  # every integer below this is a float64


def is_prime(value: int) -> bool:
    """Deterministic for every int64 (Miller-Rabin with the first 12 prime bases)."""
    if value < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for p in small:
        if value % p == 0:
            return value == p
    d, r = value - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in small:
        x = pow(a, d, value)
        if x in (1, value - 1):
            continue
        for _ in range(r - 1):
            x = x * x % value
            if x == value - 1:
                break
        else:
            return False
    return True


def next_prime(value: int) -> int:
    """The smallest prime >= ``value``."""
    candidate = max(2, int(value))
    while not is_prime(candidate):
        candidate += 1
    return candidate


def check_prime(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not is_prime(value):
        raise ValueError(f"{name} must be a prime, got {value!r}")
    return int(value)


def to_field(values, q: int) -> np.ndarray:
    """Integers (any width, any sign) -> their residues in [0, q) as int64."""
    array = np.asarray(values)
    if array.dtype == object or array.dtype == np.uint64:
        return np.array(np.mod(array.astype(object), q), dtype=np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"field elements must be integers, got dtype {array.dtype}")
    return np.mod(array.astype(np.int64), q)


def matmul_mod(left: np.ndarray, right: np.ndarray, q: int) -> np.ndarray:
    """``left @ right mod q`` for residues in [0, q): int64 when every sum fits, else exact."""
    depth = left.shape[-1]
    bound = depth * (q - 1) ** 2
    if bound < FLOAT64_EXACT:
        # Every product and partial sum is an integer below 2**53: float64 is exact, and
        # its matrix product is BLAS (numpy's int64 product is a plain loop). One BLAS
        # thread: these products are small, and on a busy machine threads spin (x100).
        with _one_blas_thread():
            product = left.astype(np.float64) @ right.astype(np.float64)
        return np.mod(product.astype(np.int64), q)
    if bound < INT64_LIMIT:
        return np.mod(left @ right, q)
    return np.array(np.mod(left.astype(object) @ right.astype(object), q), dtype=np.int64)


@functools.cache
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController  # ships with scikit-learn
    except ImportError:
        return None
    return ThreadpoolController()


def _one_blas_thread():
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def scale_mod(values: np.ndarray, factor: int, q: int) -> np.ndarray:
    """``factor * values mod q`` (values in [0, q))."""
    factor = int(factor) % q
    if (q - 1) * factor < INT64_LIMIT:
        return values * factor % q
    return np.array(values.astype(object) * factor % q, dtype=np.int64)


def powers(points, exponent_count: int, q: int) -> np.ndarray:
    """``(len(points), exponent_count)`` matrix of ``x**e mod q`` (a Vandermonde matrix)."""
    points = [int(x) % q for x in points]
    table = np.ones((len(points), exponent_count), dtype=np.int64)
    for e in range(1, exponent_count):
        table[:, e] = [v * x % q for v, x in zip(table[:, e - 1].tolist(), points, strict=True)]
    return table


def inverse_vandermonde(points, q: int) -> np.ndarray:
    """``V^-1 mod q`` for ``V[i, d] = points[i]**d``; O(R**2) by Lagrange's formula.

    Row ``d`` of the result, dotted with the values at the points, is the coefficient
    of ``x**d`` of the interpolating polynomial. The points must be distinct mod q.
    """
    xs = [int(x) % q for x in points]
    count = len(xs)
    if len(set(xs)) != count:
        raise ValueError(f"interpolation points must be distinct mod {q}, got {xs}")
    # master(x) = prod (x - x_i), coefficients lowest degree first.
    master = [1]
    for x in xs:
        shifted = [0, *master]
        for d, c in enumerate(master):
            shifted[d] = (shifted[d] - x * c) % q
        master = shifted
    inverse = np.zeros((count, count), dtype=np.int64)
    for i, x in enumerate(xs):
        # basis(x) = master(x) / (x - x_i) by synthetic division, highest degree first.
        basis = [0] * count
        carry = 0
        for d in range(count, 0, -1):
            carry = (master[d] + carry * x) % q
            basis[d - 1] = carry
        denominator = 0
        for c in reversed(basis):
            denominator = (denominator * x + c) % q
        scale = pow(denominator, q - 2, q)
        inverse[:, i] = [c * scale % q for c in basis]
    return inverse


def interpolate(points, values: np.ndarray, q: int) -> np.ndarray:
    """Coefficients (lowest first) of the polynomial of degree < R through R points.

    ``values``: (R, ...) residues, one matrix (or any block) per point. Cost:
    O(R**2) for the inverse Vandermonde plus O(R**2 * block size) to apply it.
    """
    values = np.asarray(values, dtype=np.int64)
    flat = values.reshape(len(points), -1)
    coefficients = matmul_mod(inverse_vandermonde(points, q), flat, q)
    return coefficients.reshape(values.shape)


def evaluate(coefficients: np.ndarray, x: int, q: int) -> np.ndarray:
    """The polynomial with block coefficients (lowest first) at ``x``, by Horner's rule."""
    total = np.zeros(coefficients.shape[1:], dtype=np.int64)
    for c in coefficients[::-1]:
        total = (scale_mod(total, x, q) + c) % q
    return total


def crt_signed(residues: list[np.ndarray], moduli: list[int]) -> np.ndarray:
    """The integers in (-Q/2, Q/2], Q = prod(moduli), with the given residues (Garner).

    int64 when Q < 2**62, else dtype=object of Python integers.
    """
    total_modulus = 1
    for q in moduli:
        total_modulus *= q
    dtype = np.int64 if total_modulus < 1 << 62 else object
    value = residues[0].astype(dtype)
    modulus = moduli[0]
    for residue, q in zip(residues[1:], moduli[1:], strict=True):
        # value + modulus * t = residue (mod q)  =>  t = (residue - value) / modulus (mod q)
        inverse = pow(modulus % q, q - 2, q)
        t = np.mod((residue.astype(dtype) - np.mod(value, q)) * inverse, q)
        value = value + modulus * t
        modulus *= q
    return np.where(value > total_modulus // 2, value - total_modulus, value)


def crt_primes(bound: int, *, smallest: int, largest: int = 251) -> list[int]:
    """Distinct primes >= ``smallest`` whose product exceeds ``2 * bound`` (signed results).

    Taken downward from ``largest`` (by default 251: a residue in [-125, 125] is one
    8-bit activation digit; as a weight it takes two balanced 4-bit uniform digits up
    to 119 in magnitude and three beyond; SP2 base-11 digits need three from 25 on),
    then upward from it when those run out.
    """
    need = 2 * int(bound) + 1
    top = max(largest, smallest)
    candidates = (p for p in range(top, smallest - 1, -1) if is_prime(p))
    primes: list[int] = []
    product = 1
    while product < need:
        prime = next(candidates, None)
        if prime is None:
            prime = next_prime(max(primes[-1] if primes and primes[-1] > top else top, top) + 1)
        primes.append(prime)
        product *= prime
    return primes
