"""`exact_matmul`: exact integer products of any width (optionally mod q) on the core.

The core multiplies ``act_bits``-wide activations by weights from a small level set
(16 levels for 4-bit uniform codes, 13 for SP2). A wider integer is written in
*balanced digits* those can hold,

    a = sum_i a_i * base_a**i,   b = sum_j b_j * base_b**j,

so that ``A @ B = sum_ij base_a**i * base_b**j * (A_i @ B_j)`` with every digit product
``A_i @ B_j`` an ordinary raw (unrequantized) layer of the kernel. All digit products
run as one stacked product through `run_product`: the activation digits stacked
along M, the weight digits side by side along N. The host recombines them in int64
when a bound on every partial sum fits 63 bits, else in Python integers.

Digit sets. A set D of integers is a *digit set for base b* when it holds exactly
one representative of every residue mod b and the digit expansion it defines
terminates for every integer: starting from x, take the d in D with d = x (mod b)
and continue with x' = (x - d) / b. With M = max|d|, |x'| <= (|x| + M) / b, which is
below |x| whenever |x| > M / (b - 1); and the region |x| <= M / (b - 1) maps into
itself. So every orbit shrinks into that finite region, and the expansion terminates
for every integer if and only if every start in the region reaches 0, which
`digit_set` checks one by one. The number of digits follows from the largest
magnitude.

- Activations (``act_bits`` = 8): base 256, digits -128..127.
- 4-bit uniform (or codebook) weights: base 16, digits -8..7.
- SP2 4-bit only (the iCEBreaker), levels 0, ±1, ±2, ±4, ±5, ±6, ±8: no base above 11
  has every residue (mod 12 and mod 13 there is no level = 3), and mod 11 they do:
  base 11 with digits {-8, -5, -4, -2, -1, 0, 1, 2, 4, 5, 8} (3.46 bits a digit,
  against 2 for base 4 with -2..2).

With a ``modulus`` q the operands are first reduced to balanced residues in
[-(q-1)/2, q/2] (fewest digits), the digit products are reduced mod q before they
are recombined, and the result is in [0, q).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .codes import encode, levels
from .product import ProductReport, run_product
from .reference import max_depth
from .spec import LayerSpec

INT64_LIMIT = 1 << 63
# Preference between modes giving the same base: no decode table first.
MODE_PREFERENCE = ("uniform", "codebook", "spx")


@dataclass(frozen=True)
class DigitSet:
    """Balanced digits for ``base``: ``table[r]`` is the digit with residue ``r`` mod base."""

    base: int
    table: tuple[int, ...]

    @property
    def largest(self) -> int:
        """max |digit|."""
        return max(abs(d) for d in self.table)

    def split(self, values: np.ndarray) -> list[np.ndarray]:
        """``values`` (int64 or object ints) -> int64 digit arrays, least significant first.

        Always at least one digit; as many as the largest magnitude needs.
        """
        table = np.asarray(self.table, dtype=np.int64)
        rest = values
        digits = [np.zeros(values.shape, dtype=np.int64)]
        while np.any(rest != 0):
            digit = table[np.mod(rest, self.base).astype(np.int64)]
            digits.append(digit)
            rest = (rest - digit) // self.base  # exact: rest - digit = 0 (mod base)
        return digits[1:] if len(digits) > 1 else digits

    def join(self, digits: list[np.ndarray]) -> np.ndarray:
        """Inverse of `split`, in Python integers (for tests and checks)."""
        total = np.zeros(digits[0].shape, dtype=object)
        for digit in reversed(digits):
            total = total * self.base + digit.astype(object)
        return total


def digit_set(level_values) -> DigitSet:
    """The largest base whose residues all have a representative among ``level_values``
    and whose expansion terminates; each residue takes its smallest-magnitude level."""
    values = sorted({int(v) for v in level_values})
    if 0 not in values:
        raise ValueError(f"levels {values} lack 0: no digit set can represent 0")
    for base in range(len(values), 1, -1):
        table: dict[int, int] = {}
        for value in sorted(values, key=lambda v: (abs(v), v)):
            table.setdefault(value % base, value)
        if len(table) < base:
            continue
        digits = DigitSet(base, tuple(table[r] for r in range(base)))
        if _terminates(digits):
            return digits
    raise ValueError(f"levels {values} hold no digit set of any base >= 2")


def _terminates(digits: DigitSet) -> bool:
    """Every start |x| <= max|d| / (b - 1) reaches 0 (outside that region |x| shrinks)."""
    bound = digits.largest // (digits.base - 1)
    for start in range(-bound, bound + 1):
        x, seen = start, set()
        while x != 0:
            if x in seen:
                return False
            seen.add(x)
            d = digits.table[x % digits.base]
            x = (x - d) // digits.base
    return True


@dataclass(frozen=True)
class DigitPlan:
    """How a device takes exact products: the raw layer spec and both digit sets."""

    spec: LayerSpec  # raw: no requantization; the device's widths and a weight mode
    activation_digits: DigitSet
    weight_digits: DigitSet


def weight_spec(mode: str, info) -> LayerSpec:
    """The raw layer spec for weight ``mode`` at the device's widths."""
    common = {
        "act_bits": info.act_bits,
        "weight_bits": info.weight_bits,
        "acc_bits": info.acc_bits,
        "weight_mode": mode,
    }
    if mode == "spx":
        # The densest SPx level set (smallest exponents), with the device's terms.
        return LayerSpec(spx_terms=info.spx_terms, **common)
    if mode == "codebook":
        # Any levels are programmable: the balanced range, like uniform codes.
        half = 1 << (info.weight_bits - 1)
        return LayerSpec(codebook=tuple(range(-half, half)), **common)
    return LayerSpec(**common)


def digit_plan(info, weight_mode: str | None = None) -> DigitPlan:
    """The plan for a device (`DeviceInfo`): the weight mode whose levels give the largest
    base (``weight_mode`` forces one), activations in base 2**act_bits."""
    modes = [m for m in MODE_PREFERENCE if m in info.weight_modes]
    if weight_mode is not None:
        if weight_mode not in info.weight_modes:
            raise ValueError(
                f"weight_mode={weight_mode!r} is not one of this device's modes {info.weight_modes}"
            )
        modes = [weight_mode]
    if not modes:
        raise ValueError(f"the device has no usable weight mode (it reports {info.weight_modes})")
    candidates = [(weight_spec(m, info), digit_set(levels(weight_spec(m, info)))) for m in modes]
    spec, weights = max(candidates, key=lambda c: c[1].base)  # first (preferred) on a tie
    lo, hi = spec.act_range
    return DigitPlan(spec, digit_set(range(lo, hi + 1)), weights)


@dataclass(frozen=True)
class ExactReport:
    """What an `exact_matmul_report` took: digit counts and the device's `ProductReport`."""

    weight_mode: str
    activation_base: int
    weight_base: int
    activation_digits: int
    weight_digits: int
    depth_chunks: int  # K split to keep every raw sum inside acc_bits (`max_depth`)
    device: ProductReport


def _as_integer_matrix(name: str, values) -> np.ndarray:
    """int64, or dtype=object of Python ints when a value needs more than 62 bits."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if array.dtype == object:
        flat = array.ravel()
        for value in flat:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name} must hold integers, got {type(value).__name__}")
        array = np.array([int(v) for v in flat], dtype=object).reshape(array.shape)
    elif np.issubdtype(array.dtype, np.integer) and not np.issubdtype(array.dtype, np.bool_):
        if array.dtype == np.uint64 and array.size and array.max() >= INT64_LIMIT:
            array = array.astype(object)
        else:
            array = array.astype(np.int64)
    else:
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.dtype != object and array.size and np.abs(array).max() >= 1 << 62:
        array = array.astype(object)  # digit splitting subtracts; keep headroom
    return array


def _balanced_residues(array: np.ndarray, modulus: int) -> np.ndarray:
    """Residues mod q in [-(q-1)/2, q/2]: the smallest magnitudes, so the fewest digits."""
    if modulus >= 1 << 62:
        array = array.astype(object)  # numpy cannot take an int64 array mod a wider int
    reduced = np.mod(array, modulus)
    balanced = np.where(reduced > modulus // 2, reduced - modulus, reduced)
    return balanced.astype(np.int64) if modulus < 1 << 62 else balanced


def exact_matmul_report(
    A, B, accelerator, modulus: int | None = None, *, weight_mode: str | None = None
) -> tuple[np.ndarray, ExactReport]:
    """`exact_matmul` and what it cost (an `ExactReport`)."""
    if modulus is not None:
        if isinstance(modulus, bool) or not isinstance(modulus, int | np.integer) or modulus < 2:
            raise ValueError(f"modulus must be an integer >= 2 or None, got {modulus!r}")
        modulus = int(modulus)
    a = _as_integer_matrix("A", A)
    b = _as_integer_matrix("B", B)
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"A has K={a.shape[1]} columns but B has K={b.shape[0]} rows; they must match"
        )
    if modulus is not None:
        a, b = _balanced_residues(a, modulus), _balanced_residues(b, modulus)
    (m, k), n = a.shape, b.shape[1]

    plan = digit_plan(accelerator.identify(), weight_mode)
    a_digits = plan.activation_digits.split(a)
    b_digits = plan.weight_digits.split(b)
    # One product for every digit pair: activation digits stacked along M, weight
    # digits side by side along N; K cut so no raw sum can leave acc_bits.
    stacked_x = np.concatenate(a_digits, axis=0)
    stacked_codes = encode(np.concatenate(b_digits, axis=1), plan.spec)
    depth = max_depth(plan.spec)
    products = np.zeros((stacked_x.shape[0], stacked_codes.shape[1]), dtype=np.int64)
    device = ProductReport()
    chunks = range(0, k, depth)
    for start in chunks:
        stop = min(start + depth, k)
        # int64 is exact: each chunk's sum fits acc_bits <= 40, and K chunks of at
        # most 2**39 stay far below 2**63 for any K a machine can hold.
        partial, report = run_product(
            accelerator, plan.spec, stacked_codes[start:stop], stacked_x[:, start:stop]
        )
        products += partial
        device = device + report
    blocks = products.reshape(len(a_digits), m, len(b_digits), n)

    result = _recombine(blocks, plan, k, modulus)
    report = ExactReport(
        weight_mode=plan.spec.weight_mode,
        activation_base=plan.activation_digits.base,
        weight_base=plan.weight_digits.base,
        activation_digits=len(a_digits),
        weight_digits=len(b_digits),
        depth_chunks=len(chunks),
        device=device,
    )
    return result, report


def _recombine(blocks: np.ndarray, plan: DigitPlan, k: int, modulus: int | None) -> np.ndarray:
    """sum_ij base_a**i * base_b**j * blocks[i, :, j, :], exactly (mod q if given)."""
    count_a, m, count_b, n = blocks.shape
    base_a, base_b = plan.activation_digits.base, plan.weight_digits.base
    if modulus is not None:
        # Each term is below q**2 and the running sum below q: int64 while that fits.
        dtype = np.int64 if modulus * modulus + modulus < INT64_LIMIT else object
        total = np.zeros((m, n), dtype=dtype)
        for i in range(count_a):
            for j in range(count_b):
                weight = pow(base_a, i, modulus) * pow(base_b, j, modulus) % modulus
                term = np.mod(blocks[i, :, j, :].astype(dtype), modulus) * weight
                total = (total + term) % modulus
        return total
    # Every partial sum is bounded by sum_ij base_a**i base_b**j * K * max|a_i| * max|b_j|.
    bound = (
        k
        * plan.activation_digits.largest
        * plan.weight_digits.largest
        * sum(base_a**i for i in range(count_a))
        * sum(base_b**j for j in range(count_b))
    )
    dtype = np.int64 if bound < INT64_LIMIT else object
    total = np.zeros((m, n), dtype=dtype)
    for i in reversed(range(count_a)):
        row = np.zeros((m, n), dtype=dtype)
        for j in reversed(range(count_b)):
            row = row * base_b + blocks[i, :, j, :].astype(dtype)
        total = total * base_a + row
    return total


def exact_matmul(A, B, accelerator, modulus: int | None = None) -> np.ndarray:
    """The integer product ``A @ B`` (mod ``modulus``), exact, computed on the core.

    ``A``: (M, K) and ``B``: (K, N) integers of any width (int64, or dtype=object of
    Python ints beyond it). ``A`` is split into balanced digits the device's
    activations hold, ``B`` into digits its weight codes can represent (`digit_plan`),
    every digit product runs raw through `run_product`, and the host recombines them.
    Returns int64 when every partial sum provably fits 63 bits, else dtype=object; with
    ``modulus`` the result lies in [0, modulus). The accelerator's layer is replaced.
    """
    return exact_matmul_report(A, B, accelerator, modulus)[0]
