"""`qmatmul`: the command line.

Each subcommand lives beside the code it drives; this module only dispatches, so
that `qmatmul --help` stays fast and one command's heavy imports (torch, qutip)
never slow down another. A dispatched module exposes ``main(argv) -> int`` with its
own argparse parser.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> (module with main(argv), one-line help)
COMMANDS = {
    "matmul": ("sw.driver.matmul_cli", "run a random product on a backend and check it"),
    "program": ("boards.program", "program a connected board with a built bitstream"),
    "bitstream": ("boards.build", "build a bitstream and its report for a board"),
    "demo": ("sw.workloads.demo", "the main job: the SP2 4-bit digits MLP on the simulated core"),
    "energy": ("sw.energy.cli", "switching activity and energy per inference (or a board's)"),
}
WORKLOADS = {
    "digits": ("sw.workloads.digits", "handwritten digits MLP with quantized weights"),
    "qlearn": ("sw.workloads.qlearn.cli", "DQN on CartPole with the Q-network on the core"),
    "cnn": ("sw.workloads.cnn", "small CNNs compiled from torch graphs onto the core"),
    "gfbs": ("sw.workloads.gfbs.cli", "GFBS channel pruning; pruned networks on the core"),
    "coded": ("sw.workloads.coded.cli", "straggler-resilient coded matmul on Ray workers"),
    "aitm": ("sw.workloads.aitm.cli", "AITM multi-step conversion modelling"),
    "pde": ("sw.workloads.pde.cli", "learning unknown PDEs from nodal data"),
    "prrfl": ("sw.workloads.prrfl.cli", "PRR-FL personalized federated learning on Flower"),
}
PHYSICS = {
    "nls": ("sw.physics.nls", "normalized solutions of a coupled Schrodinger system"),
    "nitride": ("sw.physics.nitride", "GaN/AlN 2D hole gases with donors and blocking layers"),
    "skyrmion": ("sw.physics.skyrmion", "Neel skyrmions in a polar magnet; Rashba-Edelstein"),
    "magnon": ("sw.physics.magnon", "parity-symmetry breaking in a driven cavity-magnon system"),
}


def _dispatch(module_name: str, argv: list[str]) -> int:
    from sw.device.protocol import ProtocolError
    from sw.driver.errors import DriverError

    module = importlib.import_module(module_name)
    try:
        return int(module.main(argv) or 0)
    except (DriverError, ProtocolError, ValueError, FileNotFoundError) as error:
        # Bad input and unreachable devices are the user's to fix: say what, briefly.
        # QMATMUL_DEBUG=1 keeps the traceback.
        if os.environ.get("QMATMUL_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="qmatmul",
        description="Quantized matmul core: RTL, bitstreams, host driver and workloads.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    for group, table, help_text in (
        ("run", WORKLOADS, "run a workload whose matrix products go through the core"),
        ("physics", PHYSICS, "host-side physics solvers"),
    ):
        sub = commands.add_parser(group, help=help_text)
        sub.add_argument(
            "name",
            choices=list(table),
            help="; ".join(f"{key}: {value[1]}" for key, value in table.items()),
        )

    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in COMMANDS:
        return _dispatch(COMMANDS[command][0], rest)
    if command in ("run", "physics"):
        table = WORKLOADS if command == "run" else PHYSICS
        if rest and rest[0] in table:
            return _dispatch(table[rest[0]][0], rest[1:])
    parser.parse_args(argv)  # prints the usage error and exits 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
