"""What every workload shares: statistics, paired tests, cache keys, results files, figures.

A workload's command line (``qmatmul run <name>``) trains, quantizes, runs its products
on the core and writes ``results.json`` plus PNGs under ``--out``; these helpers keep
those steps the same everywhere:

- `mean_std` and `paired_comparison`: means over seeds, and a paired t-test plus a
  Wilcoxon signed-rank test over the same (split, seed) cells, with a verdict that
  says "no significant difference" unless the t-test says otherwise at `SIGNIFICANCE`;
- `cache_key`: a digest of a config dataclass, a seed and the source files the cached
  artefact depends on (a code change retrains; no hand-kept field list);
- `write_json` and `pyplot`: results files and a headless matplotlib;
- `int_list`: the argparse type of options such as ``--sizes 16,32,64``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SIGNIFICANCE = 0.05


def mean_std(values: Iterable[float]) -> dict:
    """``{"mean", "std" (ddof=1, 0 for one value), "n"}``."""
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        raise ValueError("mean_std needs at least one value")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"mean": float(values.mean()), "std": std, "n": int(values.size)}


def paired_test(first: Sequence[float], second: Sequence[float], *, names=("first", "second")):
    """Paired comparison of two equally long samples (cell i of each belongs together).

    Returns the mean and std of ``first - second``, wins/ties/losses, the paired
    t-test and Wilcoxon p-values (1.0 when every difference is zero or there is one
    pair: no evidence either way) and a verdict.
    """
    from scipy import stats

    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired samples must be 1-D and equally long, got {a.shape}, {b.shape}")
    diff = a - b
    if diff.size > 1 and np.any(diff != 0):
        t_p = float(stats.ttest_rel(a, b).pvalue)
        w_p = float(stats.wilcoxon(diff, zero_method="zsplit").pvalue)
    else:
        t_p = w_p = 1.0
    mean = float(diff.mean())
    verdict = "no significant difference"
    if diff.size > 1 and t_p < SIGNIFICANCE:
        verdict = f"{names[0]} better" if mean > 0 else f"{names[1]} better"
    return {
        "mean_difference": mean,
        "std_difference": float(diff.std(ddof=1)) if diff.size > 1 else 0.0,
        "wins": int(np.sum(diff > 0)),
        "ties": int(np.sum(diff == 0)),
        "losses": int(np.sum(diff < 0)),
        "pairs": int(diff.size),
        "t_test_p": t_p,
        "wilcoxon_p": w_p,
        "verdict": verdict,
    }


def paired_comparison(
    runs: Sequence[dict],
    *,
    key: str,
    pair_by: Callable[[dict], Hashable],
    first: Callable[[dict], bool],
    second: Callable[[dict], bool],
    names=("first", "second"),
) -> dict | None:
    """`paired_test` of ``run[key]`` between the runs ``first`` and ``second`` select,
    matched by ``pair_by(run)`` (e.g. ``(split, seed)``); None when no cell has both."""
    a = {pair_by(r): r[key] for r in runs if first(r)}
    b = {pair_by(r): r[key] for r in runs if second(r)}
    cells = sorted(set(a) & set(b), key=repr)
    if not cells:
        return None
    return paired_test([a[c] for c in cells], [b[c] for c in cells], names=names)


def cache_key(config, *, seed: int | None = None, sources: Sequence[str] = (), extra=None) -> str:
    """16 hex digits over a config (a dataclass or JSON-able value), the seed, ``extra``
    and the bytes of ``sources`` (files or folders of ``*.py``, relative to the repo)."""
    digest = hashlib.sha256()
    settings = asdict(config) if is_dataclass(config) else config
    digest.update(json.dumps([settings, seed, extra], sort_keys=True, default=str).encode())
    for source in sources:
        path = REPO / source
        if not path.exists():
            raise FileNotFoundError(f"cache_key source {source!r} does not exist")
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(REPO)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def write_json(path: Path, data) -> Path:
    """Write ``data`` as indented JSON (numpy scalars and arrays converted), return the path."""

    def convert(value):
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=convert) + "\n")
    return path


def pyplot():
    """matplotlib's pyplot on the headless Agg backend (no display on a server or in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def format_table(headers: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A plain aligned text table for the terminal."""
    cells = [[str(h) for h in headers]] + [
        [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def int_list(text: str) -> tuple[int, ...]:
    """``"2,3,4"`` -> ``(2, 3, 4)``, as an argparse ``type`` (a bad list is a usage error)."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers"
        ) from error
    if not values:
        raise argparse.ArgumentTypeError("the list is empty")
    return values
