"""`qmatmul matmul`: a random product on a backend, checked against the bit-exact reference.

The default backend is the simulated device (``sim``); ``--backend ref`` runs the
reference itself, so its check is only a self-check (said so in the output).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sw.kernel import matmul
from sw.kernel.random_layer import random_product
from sw.kernel.spec import WEIGHT_MODES

from .accelerator import Accelerator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qmatmul matmul", description=__doc__)
    parser.add_argument(
        "--backend",
        default="sim",
        help="sim[:DEVICE], serial:PORT[,BAUD] or ref[:DEVICE] (default sim)",
    )
    parser.add_argument("--m", type=int, default=16, help="activation rows (batch)")
    parser.add_argument("--k", type=int, default=64, help="depth")
    parser.add_argument("--n", type=int, default=16, help="output channels")
    parser.add_argument(
        "--mode", choices=WEIGHT_MODES, help="weight mode (default: the device's first)"
    )
    parser.add_argument("--spx-terms", type=int, default=2, choices=(1, 2))
    parser.add_argument("--weight-bits", type=int, default=4)
    parser.add_argument("--act-bits", type=int, default=8)
    parser.add_argument("--raw", action="store_true", help="no requantization: raw accumulators")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("m", "k", "n"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

    rng = np.random.default_rng(args.seed)
    with Accelerator.open(args.backend) as acc:
        args.mode = args.mode or acc.info.weight_modes[0]
        product = random_product(
            rng,
            args.m,
            args.k,
            args.n,
            mode=args.mode,
            act_bits=args.act_bits,
            weight_bits=args.weight_bits,
            spx_terms=args.spx_terms,
            acc_bits=acc.info.acc_bits,  # the device's accumulator: depth checked against it
            requant=not args.raw,
        )
        expected = matmul(product.x, product.codes, product.spec)
        acc.load_layer(product.spec, product.codes)
        start = time.perf_counter()
        y = acc.matmul(product.x, measure_cycles=True)
        seconds = time.perf_counter() - start
        info = acc.identify()
    macs = args.m * args.k * args.n
    agree = bool(np.array_equal(y, expected))
    cycles = acc.last_run_cycles
    print(
        f"backend      {args.backend}  ({info.rows}x{info.cols} array, {info.clock_hz / 1e6:g} MHz)"
    )
    print(
        f"product      {args.m} x {args.k} x {args.n}  mode={args.mode}"
        + (f" x={args.spx_terms}" if args.mode == "spx" else "")
        + f"  {macs} MACs"
    )
    checked = "self-check: ref against itself" if args.backend.startswith("ref") else "bit exact"
    print(f"matches ref  {'yes' if agree else 'NO'}  ({y.size} results; {checked})")
    print(f"cycles       {cycles}  ({macs / cycles:.2f} MACs/cycle of {info.rows * info.cols})")
    print(f"wall time    {seconds * 1e3:.1f} ms")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
