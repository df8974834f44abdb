"""`make sim`: run every cocotb suite under Verilator; exit non-zero on any failure."""

from __future__ import annotations

import sys
import time

from .runner import CocotbFailure
from .suites import SUITES


def main() -> int:
    failures = 0
    start = time.monotonic()
    for suite in SUITES:
        t0 = time.monotonic()
        try:
            outcome = suite.run()
            print(
                f"PASS {suite.name:>12}  {outcome['tests']} tests  {time.monotonic() - t0:6.1f} s"
            )
        except CocotbFailure as failure:
            failures += 1
            print(f"FAIL {suite.name:>12}\n{failure}")
    print(
        f"{len(SUITES) - failures}/{len(SUITES)} suites passed in {time.monotonic() - start:.1f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
