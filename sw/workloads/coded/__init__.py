"""Straggler-resilient coded matrix multiplication on Ray, every block product on the core.

    from sw.workloads.coded import multiply
    C, report = multiply(A, B, workers=8, scheme="flexible-ep", field=13, stragglers=2)

- `codes`: the codes over GF(q): the flexible entangled-polynomial code (after Li,
  Chen, Wang, Jafar, Jafarkhani, "Flexible Distributed Matrix Multiplication",
  arXiv 2107.10448; the construction and its proofs are in docs/coded.md), and the
  baselines: entangled polynomial (EP), polynomial, MatDot, uncoded, replication.
- `design`: each scheme's parameters for N workers and a straggler tolerance.
- `field`, `span`: GF(q) arithmetic, interpolation, CRT; the exact recovery test.
- `workers`: Ray actors that open their own accelerator from a target string;
  `straggle`: injected delays, slowed and killed workers; `master`: `multiply`.
- `cli`: ``qmatmul run coded``.
"""

from .codes import SCHEMES, DecodingError
from .design import make_code
from .master import multiply
from .straggle import DelayModel

__all__ = ["SCHEMES", "DecodingError", "DelayModel", "make_code", "multiply"]
