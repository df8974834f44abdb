"""Rollout errors: relative L2 error against the reference, per sample and step.

The error of a prediction at step ``n`` is ``||u_pred(n) - u_ref(n)|| / ||u_ref(n)||`` over
all nodes and fields of one held-out initial condition; the curve in ``results.json`` is
its mean over the held-out initial conditions at every step ``1 .. HORIZON``. A rollout
that diverged carries ``inf`` from then on (JSON: ``Infinity``), never a made-up number.
"""

from __future__ import annotations

import numpy as np

from sw.workloads.common import mean_std, paired_test


def relative_l2(prediction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(B, T+1)`` errors of ``(B, T+1, N, F)`` predictions (inf where not finite)."""
    if prediction.shape != reference.shape:
        raise ValueError(
            f"prediction shape {prediction.shape} differs from reference {reference.shape}"
        )
    samples, steps = reference.shape[:2]
    difference = (prediction - reference).reshape(samples, steps, -1)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.linalg.norm(difference, axis=2) / np.linalg.norm(
            reference.reshape(samples, steps, -1), axis=2
        )
    return np.where(np.isfinite(error), error, np.inf)


def curve(errors: np.ndarray) -> dict:
    """The results entry of one model: steps ``1..T`` and the mean error at each."""
    steps = errors.shape[1] - 1
    with np.errstate(invalid="ignore"):  # inf - inf in the std of a diverged step
        spread = errors[:, 1:].std(axis=0, ddof=1) if len(errors) > 1 else 0 * errors[0, 1:]
    return {
        "horizon_steps": list(range(1, steps + 1)),
        "relative_l2": [float(v) for v in errors[:, 1:].mean(axis=0)],
        "relative_l2_std": [float(v) if np.isfinite(v) else float("inf") for v in spread],
        "per_sample_final": [float(v) for v in errors[:, -1]],
    }


def at_step(entry: dict, step: int) -> float:
    """The mean error of a results entry at ``step``."""
    return entry["relative_l2"][entry["horizon_steps"].index(step)]


def compare(first: np.ndarray, second: np.ndarray, step: int, names: tuple[str, str]) -> dict:
    """Paired test of the per-sample errors at ``step`` (lower is better: the test is on
    ``second - first``, so "first better" means ``first`` has the smaller error)."""
    a, b = first[:, step], second[:, step]
    finite = np.isfinite(a) & np.isfinite(b)
    result = {
        "step": step,
        "first": names[0],
        "second": names[1],
        "diverged": {
            names[0]: int(np.sum(~np.isfinite(a))),
            names[1]: int(np.sum(~np.isfinite(b))),
        },
    }
    if finite.sum() >= 1:
        result.update(paired_test(b[finite], a[finite], names=names))
        result[names[0]] = mean_std(a[finite])
        result[names[1]] = mean_std(b[finite])
    return result
