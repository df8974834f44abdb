"""`qmatmul program --board B`: load a built bitstream onto a connected board.

Uses the board's usual programmer (iceprog for the iCEBreaker, openFPGALoader for
the ULX3S and the Tang Nanos, dfu-util for the OrangeCrab's bootloader; override with
ICEPROG / OPENFPGALOADER / DFU_UTIL). Says exactly what is missing:
the bitstream (build it first), the programmer (how to get it), or the board.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from . import BOARDS, board
from .build import DESIGN_NAME, output_dir


class ProgramError(RuntimeError):
    pass


INSTALL_HINTS = {
    "iceprog": "Debian/Ubuntu: `apt install fpga-icestorm` (or github.com/YosysHQ/icestorm)",
    "openFPGALoader": "Debian/Ubuntu: `apt install openfpgaloader` "
    "(or github.com/trabucayre/openFPGALoader)",
    "dfu-util": "Debian/Ubuntu: `apt install dfu-util` (hold the OrangeCrab's button while "
    "plugging it in to start its bootloader)",
}


def program_command(
    board_name: str, mode: str | None = None, baud: int | None = None, link: str | None = None
) -> list[str]:
    b = board(board_name)
    mode = mode or b.default_mode
    link = b.link(link)
    bitstream = (
        output_dir(b.name, mode, baud=baud, link=link) / f"{DESIGN_NAME}{b.bitstream_suffix}"
    )
    if not bitstream.exists():
        hint = (
            f"make bitstream BOARD={b.name}"
            + (f" MODE={mode}" if mode != b.default_mode else "")
            + (f" BAUD={baud}" if baud is not None and baud != b.devices.baud else "")
            + (f" LINK={link}" if link != b.link(None) else "")
        )
        raise ProgramError(f"no bitstream at {bitstream}; build it first with `{hint}`")
    tool = os.environ.get(b.programmer_env, b.programmer[0])
    if shutil.which(tool) is None:
        raise ProgramError(
            f"the programmer {tool!r} is not installed (or not on PATH); "
            f"{INSTALL_HINTS.get(b.programmer[0], '')}. Set {b.programmer_env}=/path/to/it "
            f"to use another copy."
        )
    return [tool, *b.programmer[1:], str(bitstream)]


def program(
    board_name: str, mode: str | None = None, baud: int | None = None, link: str | None = None
) -> None:
    command = program_command(board_name, mode, baud, link)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ProgramError(
            f"{command[0]} failed (is the {board_name} connected and powered?): "
            + ("; ".join(detail[-3:]) if detail else f"exit code {result.returncode}")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qmatmul program", description=__doc__)
    parser.add_argument("--board", required=True, help=f"one of: {', '.join(BOARDS)}")
    parser.add_argument("--mode", help="weight mode of the build (default: the board's own)")
    parser.add_argument("--baud", type=int, help="UART rate of the build (default: the board's)")
    parser.add_argument("--link", choices=("uart", "usb-fs"), help="link of the build")
    args = parser.parse_args(argv)
    try:
        program(args.board, args.mode, args.baud, args.link)
    except (ValueError, ProgramError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"programmed the {args.board}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
