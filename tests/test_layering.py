"""The package layering of issue 14: `hdl` and `sw.driver` never import each other; both
import the device contract `sw.device`; importing the gateware pulls in no serial code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> dict[str, set[str]]:
    """Every module each file of ``package`` imports (absolute names; relative imports
    resolved against the package)."""
    found = {}
    for path in sorted((REPO / package.replace(".", "/")).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # from .x / from ..x: relative to the file's package
                    package_parts = path.relative_to(REPO).parent.parts
                    package_parts = package_parts[: len(package_parts) - (node.level - 1)]
                    base = ".".join((*package_parts, base) if base else package_parts)
                names.add(base)
        found[str(path.relative_to(REPO))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"), [("hdl", "sw.driver"), ("sw/driver", "hdl"), ("sw/device", "hdl")]
)
def test_packages_do_not_import_across_the_contract(package, forbidden):
    offending = {
        path: sorted(
            name for name in names if name == forbidden or name.startswith(forbidden + ".")
        )
        for path, names in imported_modules(package.replace("/", ".")).items()
    }
    offending = {path: names for path, names in offending.items() if names}
    assert not offending, f"{package} imports {forbidden}: {offending}"


def test_the_gateware_pulls_in_no_serial_code():
    check = (
        "import sys, hdl.top, boards.top, sw.device; "
        "bad = sorted(m for m in ('serial', 'termios', 'sw.driver') if m in sys.modules); "
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_the_layering_check_sees_imports():
    """The walker finds the contract's imports, so an empty result above means something."""
    hdl_imports = set().union(*imported_modules("hdl").values())
    driver_imports = set().union(*imported_modules("sw.driver").values())
    assert any(name.startswith("sw.device") for name in hdl_imports)
    assert any(name.startswith("sw.device") for name in driver_imports)
