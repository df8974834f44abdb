"""Bitstream figures for every board and weight mode, into bench/results/bitstream.json.

Builds each (board, mode) with the same flow as `make bitstream` (YoWASP Yosys,
nextpnr, icepack/ecppack) and collects its report.json: LUTs, LUTs per MAC, DSPs,
BRAMs, Fmax, timing, peak GMAC/s (R x C x Fmax) against the targets of issue 3,
and the critical path where a target is missed. The ECP5 builds take tens of
minutes each on two cores; ``--board`` and ``--mode`` pick a subset. ``--core-only``
builds each board's matmul core alone (`boards.core_only`), the figure published
arrays give, and keeps it beside the whole device's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from boards import BOARDS  # noqa: E402
from boards.build import BuildError, build, output_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bitstream.json"
# Peak targets from issue 3 (GMAC/s, R x C x Fmax, with timing met), and the open
# int8 systolic array the targets double (same YoWASP flow).
TARGETS = {"icebreaker": 1.2, "ulx3s-85f": 12.0}
PEER = {"icebreaker": 0.61, "ulx3s-85f": 5.8}


def measured_report(
    name: str, mode: str, collect: bool, link: str | None = None, core_only: bool = False
) -> tuple[dict | None, str]:
    """The report.json of one build, made now or (``collect``) by an earlier run."""
    report_path = output_dir(name, mode, link=link, core_only=core_only) / "report.json"
    problem = f"no {report_path}; run `make bitstream BOARD={name} MODE={mode}`" + (
        " CORE_ONLY=1" if core_only else f" LINK={link}" if link else ""
    )
    if not collect:
        try:
            if core_only:
                return build(name, mode, core_only=True), ""
            return build(name, mode, link=link), ""
        except BuildError as error:  # a timing miss still writes its report
            problem = str(error)
    if report_path.exists():
        return json.loads(report_path.read_text()), problem
    return None, problem


def _key(report: dict) -> tuple[str, str, str]:
    """A build is a board, a device configuration and a link (reports from before the
    link was recorded are of the board's own), or ``"core"`` for the core alone."""
    if report.get("scope") == "core":
        return report["board"], report["config"], "core"
    link = report.get("link") or BOARDS[report["board"]].link(None)
    return report["board"], report["config"], link


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board", action="append", help="board(s) to build (default: all)")
    parser.add_argument("--mode", action="append", help="weight mode(s) (default: all)")
    parser.add_argument(
        "--link",
        action="append",
        choices=("uart", "usb-fs"),
        help="host link(s) (default: each board's own; a board without it is skipped)",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="take the report.json of earlier `make bitstream` runs instead of building "
        "(only right if the design has not changed since)",
    )
    parser.add_argument(
        "--core-only", action="store_true", help="build the matmul core alone (see above)"
    )
    args = parser.parse_args(argv)

    previous = json.loads(RESULTS.read_text())["builds"] if RESULTS.exists() else []
    builds = {_key(r): r for r in previous if "config" in r}
    start = time.monotonic()
    for name in args.board or list(BOARDS):
        board = BOARDS[name]
        # One build per distinct design: modes that share a config share a bitstream.
        first_mode_of = {}
        for mode in args.mode or list(board.modes):
            first_mode_of.setdefault(board.config(mode), mode)
        links = [link for link in args.link or [board.link(None)] if link in board.links]
        if args.core_only:
            links = ["core"]
        for (config, mode), link in itertools.product(first_mode_of.items(), links):
            what = f"{name} ({mode}, {link})"
            print(f"{'collecting' if args.collect else 'building'} {what} ...", flush=True)
            if args.core_only:
                report, problem = measured_report(name, mode, args.collect, core_only=True)
            else:
                report, problem = measured_report(name, mode, args.collect, link)
            if problem and not (args.collect and report):
                print(f"  {problem}")
            if report is None:  # did not fit, or never built: nothing measured
                failed = {"board": name, "config": config, "link": link, "error": problem}
                if args.core_only:
                    failed["scope"] = "core"
                builds[_key(failed)] = failed
                continue
            # Issue 3 set peak targets for its two boards only (None for the others).
            report["target_peak_gmacs"] = TARGETS.get(name)
            report["peer_peak_gmacs"] = PEER.get(name)
            # The clock the design runs at is the PLL's, so that is the peak to judge.
            report["peak_target_met"] = name in TARGETS and (
                report["timing_met"] and report["peak_gmacs"] >= TARGETS[name]
            )
            builds[_key(report)] = report
            print(
                f"  {report['array']} {report['luts']} LUTs ({report['luts_per_mac']}/MAC), "
                f"{report['dsps']} DSPs, Fmax {report['fmax_mhz']} MHz for "
                f"{report['target_mhz']} MHz, peak {report['peak_gmacs']} GMAC/s "
                f"(target {TARGETS.get(name)})"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "bitstream",
                "builds": sorted(builds.values(), key=_key),
                "seconds": round(time.monotonic() - start, 1),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
