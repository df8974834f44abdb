"""`run_product`: a product of any size on a device, bit for bit what `matmul` returns.

A device holds one layer of at most ``k_max`` rows (K) and ``channels`` columns (N),
and a layer reaches it in one LOAD_LAYER frame of at most 65,535 payload bytes. A
larger product is cut into blocks that fit all three limits:

- **by output channels** (columns): each column block carries its slice of the
  requantization. Exact, because output channels are independent.
- **by the load frame's bytes**: the column blocks are narrowed until the encoded
  LOAD_LAYER payload fits one frame. The payload size is measured with the driver's
  own encoder (`sw.device.payloads.encode_layer`) on one- and two-column slices
  (it is affine in N for a fixed K: a per-layer header and decode table plus, per
  column, its codes and requantization record), not guessed from constants.
- **by depth** (``K > k_max``): every block runs raw (no requantization); the host
  sums the blocks' accumulators in int64 and applies the kernel's own `requantize`.
  The full depth's worst case is checked against ``acc_bits`` first (`check_depth`),
  so the sum is exactly what one deep layer would have accumulated, and every raw
  block, being shallower, fits the device's accumulator too.

The rows (M) need no splitting here: `Accelerator.matmul` chunks any batch itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .reference import check_operands, requantize
from .spec import LayerSpec, Requant


@dataclass(frozen=True)
class ProductReport:
    """What one `run_product` cost on the device.

    ``cycles``: device ``run_cycles`` summed over every RUN (0 unless measured);
    ``loads``: LOAD_LAYER commands; ``runs``: RUN commands sent (the device's own
    counter is 16 bits and wraps; this is counted here);
    ``macs``: useful multiply-accumulates, M x K x N; ``k_blocks``: depth blocks;
    ``column_blocks``: the most column blocks any depth block needed (a shallow last
    depth block may carry more columns per load). Fields read as attributes or as
    ``report["cycles"]``; reports add up with ``+``.
    """

    cycles: int = 0
    loads: int = 0
    runs: int = 0
    macs: int = 0
    k_blocks: int = 0
    column_blocks: int = 0

    def __getitem__(self, name: str) -> int:
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def __add__(self, other: ProductReport) -> ProductReport:
        if not isinstance(other, ProductReport):
            return NotImplemented
        return ProductReport(
            **{name: getattr(self, name) + getattr(other, name) for name in asdict(self)}
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def column_spec(spec: LayerSpec, start: int, stop: int) -> LayerSpec:
    """The layer's spec for output channels ``start:stop`` (its slice of the requant)."""
    requant = spec.requant
    if requant is None or (start, stop) == (0, requant.channels):
        return spec
    return spec.with_requant(
        Requant(
            multiplier=requant.multiplier[start:stop],
            shift=requant.shift[start:stop],
            bias=requant.bias[start:stop] if requant.bias is not None else None,
            relu=requant.relu,
            out_bits=requant.out_bits,
        )
    )


def load_payload_bytes(spec: LayerSpec, codes: np.ndarray, info) -> int:
    """Bytes of the LOAD_LAYER payload that carries ``codes`` (K, N) under ``spec``.

    Measured with the protocol's own encoder, so it follows the protocol as it is; raises
    ``ValueError`` (from the encoder) if the layer does not fit the device at all.
    """
    from sw.device.payloads import encode_layer  # late: sw.device imports this package

    return len(encode_layer(spec, codes, info))


def max_block_columns(spec: LayerSpec, codes: np.ndarray, info) -> int:
    """The most output channels of ``codes`` (K <= k_max rows) that one LOAD_LAYER carries.

    Bounded by the device's ``channels`` and by the frame's payload limit. The payload
    is affine in N for a fixed K, so two encodings (N = 1 and 2) give its slope.
    """
    from sw.device.protocol import MAX_PAYLOAD

    k, n = codes.shape
    one = load_payload_bytes(column_spec(spec, 0, 1), codes[:, :1], info)
    if n == 1:
        return 1
    two = load_payload_bytes(column_spec(spec, 0, 2), codes[:, :2], info)
    per_column, fixed = two - one, 2 * one - two
    by_frame = (MAX_PAYLOAD - fixed) // per_column
    if by_frame < 1:
        raise ValueError(
            f"one column of a K={k} layer needs a {one}-byte LOAD_LAYER payload, more than "
            f"a frame carries ({MAX_PAYLOAD})"
        )
    width = min(info.channels, by_frame, n)
    if n > width >= info.cols:
        # Whole tiles per block: a ragged block edge would cost a partly empty tile.
        width -= width % info.cols
    return max(1, width)


def run_product(
    accelerator, spec: LayerSpec, codes, x, *, measure_cycles: bool = True
) -> tuple[np.ndarray, ProductReport]:
    """``sw.kernel.matmul(x, codes, spec)`` computed on ``accelerator``, for any M, K, N.

    ``x``: (M, K) activations of ``spec.act_bits``; ``codes``: (K, N) weight codes.
    Returns ``(y, report)``: ``y`` the (M, N) int64 result, identical to the
    reference's (requantized, or the raw accumulator when ``spec.requant`` is None),
    and a `ProductReport`. With ``measure_cycles`` the device's cycle counter is read
    after every RUN. Refuses, like `matmul`, a K whose worst case could overflow
    ``spec.acc_bits`` (`AccumulatorOverflowError`), and a spec the device cannot run
    (``ValueError`` from the driver, before anything is sent).

    The accelerator's loaded layer is replaced.
    """
    x, codes = check_operands(x, codes, spec)
    (m, k), n = x.shape, codes.shape[1]
    macs = m * k * n
    if m == 0 or k == 0 or n == 0:
        # Nothing for the device to multiply: the kernel's result is requant(0) (or 0).
        acc = np.zeros((m, n), dtype=np.int64)
        y = acc if spec.requant is None else requantize(acc, spec.requant)
        return y, ProductReport(macs=macs)

    info = accelerator.identify()
    deep = k > info.k_max
    # Deep products run raw and are requantized here; shallow ones requantize on the device.
    block_spec = spec.with_requant(None) if deep else spec
    accumulators = np.zeros((m, n), dtype=np.int64)
    cycles = loads = runs = 0
    k_starts = range(0, k, info.k_max)
    column_blocks = 0
    for k_start in k_starts:
        rows = slice(k_start, min(k_start + info.k_max, k))
        width = max_block_columns(block_spec, codes[rows], info)
        column_blocks = max(column_blocks, -(-n // width))
        for start in range(0, n, width):
            stop = min(start + width, n)
            accelerator.load_layer(column_spec(block_spec, start, stop), codes[rows, start:stop])
            loads += 1
            runs += -(-m // accelerator.rows_per_run())  # the RUN frames of this block
            block = accelerator.matmul(x[:, rows], measure_cycles=measure_cycles)
            cycles += accelerator.last_run_cycles if measure_cycles else 0
            if deep:
                accumulators[:, start:stop] += block
            else:
                accumulators[:, start:stop] = block
    report = ProductReport(
        cycles=cycles,
        loads=loads,
        runs=runs,
        macs=macs,
        k_blocks=len(k_starts),
        column_blocks=column_blocks,
    )
    if deep and spec.requant is not None:
        return requantize(accumulators, spec.requant), report
    return accumulators, report
