"""Energy bench: `qmatmul energy` on the digits MLP, every weight mode, RTL and netlist.

Runs the toggle-counting simulated device for uniform, SP1, SP2 and codebook on the
``sim`` device (batches of 16 and 48 images; ``--quick``: 4 and 12), and the same on the
synth_ice40 netlists of single-mode 4x4 designs (``--no-netlist`` to skip them). Writes
bench/results/energy.json and docs/figures/energy.png.

    .venv/bin/python bench/energy.py [--quick] [--no-netlist]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sw.energy.cli import main as energy_main  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "energy.json"
FIGURE = ROOT / "docs" / "figures" / "energy.png"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    netlist = "--no-netlist" not in argv
    rest = [a for a in argv if a != "--no-netlist"]
    return energy_main(
        [
            *rest,
            "--json",
            str(RESULTS),
            "--figure",
            str(FIGURE),
            *(["--netlist"] if netlist else []),
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
