"""The side-by-side comparison: every model on the same splits over several seeds.

A seed fixes one cell of the comparison: the synthetic sample and its split (or, for
Ali-CCP, the validation split when the files have none), the models' initialization
and their batch order. Every model sees the same cell, so the tests are paired by
seed (`sw.workloads.common.paired_test`).

`summarize` gives per model the mean and spread of each step's AUC, the end-to-end
(last-step) AUC, the funnel violations; paired tests of AITM against every other
model (end-to-end AUC and each step); the calibrator's effect on violations (AITM
against AITM without the calibrator); for synthetic data the oracle AUC (the true
probabilities), the ceiling of every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sw.workloads.common import SIGNIFICANCE, mean_std, paired_test

from .data import FunnelSplit, SyntheticConfig, split_funnel, synthetic_funnel
from .models import MODELS, ModelConfig, build_model
from .train import TrainConfig, funnel_metrics, predict, train_model

REFERENCE_MODEL = "aitm"
CALIBRATOR_ABLATION = "aitm_no_calibrator"
VAL_FRACTION = 0.1


@dataclass(frozen=True)
class DataConfig:
    """Which data: ``synthetic`` (drawn per seed) or ``aliccp`` (files in ``path``)."""

    name: str = "synthetic"
    steps: int = 4
    # synthetic: impressions per seed in each part. Training is small so that the last
    # step has few positives (the regime where information transfer matters); the
    # validation and test parts are large so that the rare steps' AUCs are steady.
    train_samples: int = 10_000
    val_samples: int = 10_000
    test_samples: int = 100_000
    dependence: float = 0.9  # synthetic: rho, see `synthetic_funnel`
    path: Path | None = None  # aliccp: the directory
    max_samples: int | None = None  # aliccp: at most this many samples per file
    min_count: int = 10  # aliccp raw layout: rarer feature ids become id 0

    def __post_init__(self):
        if self.name not in ("synthetic", "aliccp"):
            raise ValueError(f"data must be 'synthetic' or 'aliccp', got {self.name!r}")
        if self.name == "aliccp" and self.path is None:
            raise ValueError("--data aliccp needs --path DIR (the Ali-CCP files)")
        if self.name == "aliccp" and self.steps != 2:
            raise ValueError(f"Ali-CCP has 2 steps (click, purchase); --steps {self.steps} asked")
        if not 0.0 <= self.dependence <= 1.0:
            raise ValueError(f"--dependence must be in [0, 1], got {self.dependence}")
        for name in ("train_samples", "val_samples", "test_samples"):
            if getattr(self, name) < 100:
                raise ValueError(f"{name} must be at least 100, got {getattr(self, name)}")

    @property
    def samples(self) -> int:
        return self.train_samples + self.val_samples + self.test_samples


class SplitSource:
    """The `FunnelSplit` of each seed (Ali-CCP files are read once)."""

    def __init__(self, config: DataConfig):
        self.config = config
        self.loaded = None
        if config.name == "aliccp":
            from .aliccp import load_aliccp

            self.loaded = load_aliccp(
                config.path,
                steps=config.steps,
                max_samples=config.max_samples,
                min_count=config.min_count,
            )
        else:
            self.synthetic = SyntheticConfig(
                samples=config.samples, steps=config.steps, dependence=config.dependence
            )
            self.fractions = {
                "val_fraction": config.val_samples / config.samples,
                "test_fraction": config.test_samples / config.samples,
            }

    def split(self, seed: int) -> FunnelSplit:
        if self.loaded is None:
            data = synthetic_funnel(self.synthetic, seed)
            return split_funnel(data, seed, **self.fractions)
        loaded = self.loaded
        if loaded.val is not None:
            return FunnelSplit(loaded.train, loaded.val, loaded.test)
        # The raw release has no validation file: 10% of training, as the authors do.
        rows = np.random.default_rng(seed).permutation(loaded.train.samples)
        n_val = max(1, int(round(VAL_FRACTION * loaded.train.samples)))
        return FunnelSplit(
            loaded.train.subset(np.sort(rows[n_val:])),
            loaded.train.subset(np.sort(rows[:n_val])),
            loaded.test,
        )

    def describe(self, split: FunnelSplit) -> dict:
        info = {
            "name": self.config.name,
            "steps": split.test.steps,
            "step_names": list(split.test.step_names),
            "categorical_features": dict(
                zip(split.test.categorical_names, split.test.vocab_sizes, strict=True)
            ),
            "numeric_features": list(split.test.numeric_names),
            "samples": {
                "train": split.train.samples,
                "val": split.val.samples,
                "test": split.test.samples,
            },
            "test_positive_rates": split.test.positive_rates(),
            "test_positives": [int(v) for v in split.test.labels.sum(axis=0)],
        }
        if self.loaded is None:
            info |= {
                "dependence": self.config.dependence,
                "target_rates": list(self.synthetic.checked_rates()),
                "signal": self.synthetic.signal,
            }
        else:
            info |= {
                "layout": self.loaded.layout,
                "path": str(self.config.path),
                "dropped_purchase_without_click": self.loaded.dropped_purchase_without_click,
            }
        return info


def model_names(requested, steps: int) -> list[str]:
    """The requested models (default: every model that supports ``steps``); AITM first.

    A model asked for by name that cannot model ``steps`` steps (ESMM beyond two) is
    an error, not a silent omission.
    """
    if requested is None:
        names = [name for name, spec in MODELS.items() if spec.supports(steps)]
    else:
        names = list(requested)
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    unsupported = [name for name in names if not MODELS[name].supports(steps)]
    if unsupported:
        spec = MODELS[unsupported[0]]
        raise ValueError(f"model {spec.name!r} supports {spec.steps} steps, not --steps {steps}")
    if REFERENCE_MODEL in names:
        names.remove(REFERENCE_MODEL)
    return [REFERENCE_MODEL, *names]


def run_cell(
    name: str,
    split: FunnelSplit,
    seed: int,
    train_config: TrainConfig,
    model_config: ModelConfig,
):
    """Train one model on one seed's split; its run record and the trained model."""
    spec = MODELS[name]
    model = build_model(name, split.train, model_config, seed)
    alpha = train_config.alpha if spec.uses_calibrator else 0.0
    result = train_model(model, split.train, split.val, train_config, alpha=alpha, seed=seed)
    metrics = funnel_metrics(predict(result.model, split.test), split.test.labels)
    run = {
        "model": name,
        "seed": seed,
        **metrics,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "train_seconds": result.seconds,
    }
    return run, result.model


def oracle_metrics(split: FunnelSplit) -> dict | None:
    if split.test.oracle is None:
        return None
    return funnel_metrics(split.test.oracle, split.test.labels)


def summarize(runs: list[dict], names: list[str], steps: int, oracle_runs=None) -> dict:
    """Means and spreads per model, paired tests of AITM against every other model."""

    def of(name):
        return sorted((r for r in runs if r["model"] == name), key=lambda r: r["seed"])

    models = {}
    for name in names:
        cells = of(name)
        if not cells:
            continue
        spec = MODELS[name]
        models[name] = {
            "label": spec.label,
            "family": spec.family,
            "description": spec.description,
            "uses_calibrator": spec.uses_calibrator,
            "auc": [mean_std(r["auc"][t] for r in cells) for t in range(steps)],
            "end_to_end_auc": mean_std(r["end_to_end_auc"] for r in cells),
            "logloss": [mean_std(r["logloss"][t] for r in cells) for t in range(steps)],
            "violation_share": mean_std(r["violation_share"] for r in cells),
            "violation_mean": mean_std(r["violation_mean"] for r in cells),
            "epochs": mean_std(r["epochs"] for r in cells),
            "train_seconds": mean_std(r["train_seconds"] for r in cells),
        }

    def paired(first, second, key, step=None, lower_is_better=False):
        a = {r["seed"]: r[key] if step is None else r[key][step] for r in of(first)}
        b = {r["seed"]: r[key] if step is None else r[key][step] for r in of(second)}
        seeds = sorted(set(a) & set(b))
        if not seeds:
            return None
        names_ = (MODELS[first].label, MODELS[second].label)
        sign = -1.0 if lower_is_better else 1.0  # the verdict names the better model
        test = paired_test([sign * a[s] for s in seeds], [sign * b[s] for s in seeds], names=names_)
        test["difference"] = (
            f"{names_[1]} minus {names_[0]} (positive: {names_[0]} lower)"
            if lower_is_better
            else f"{names_[0]} minus {names_[1]}"
        )
        return test

    reference = REFERENCE_MODEL
    comparisons = {}
    for name in names:
        if name == reference or name not in models or reference not in models:
            continue
        comparisons[name] = {
            "end_to_end_auc": paired(reference, name, "end_to_end_auc"),
            "auc": [paired(reference, name, "auc", t) for t in range(steps)],
        }
    summary = {"models": models, "paired_tests": comparisons}
    if reference in models and CALIBRATOR_ABLATION in models:
        share = paired(reference, CALIBRATOR_ABLATION, "violation_share", lower_is_better=True)
        size = paired(reference, CALIBRATOR_ABLATION, "violation_mean", lower_is_better=True)
        significant = share["t_test_p"] < SIGNIFICANCE
        summary["calibrator"] = {
            "violation_share_with": models[reference]["violation_share"],
            "violation_share_without": models[CALIBRATOR_ABLATION]["violation_share"],
            "violation_mean_with": models[reference]["violation_mean"],
            "violation_mean_without": models[CALIBRATOR_ABLATION]["violation_mean"],
            "violation_share_paired": share,
            "violation_mean_paired": size,
            "end_to_end_auc_paired": paired(reference, CALIBRATOR_ABLATION, "end_to_end_auc"),
            "finding": (
                "no significant difference in the share of funnel violations"
                if not significant
                else "the calibrator lowers the share of funnel violations"
                if share["mean_difference"] > 0
                else "the calibrator raises the share of funnel violations"
            ),
        }
    if oracle_runs:
        summary["oracle"] = {
            "auc": [mean_std(o["auc"][t] for o in oracle_runs) for t in range(steps)],
            "violation_share": 0.0,
        }
    return summary


def beats(summary: dict, baseline: str) -> str:
    """One line: does AITM beat ``baseline`` on the end-to-end AUC, with the statistics."""
    test = summary["paired_tests"].get(baseline, {}).get("end_to_end_auc")
    if test is None:
        return f"{baseline}: not compared"
    return (
        f"AITM - {MODELS[baseline].label}: {test['mean_difference']:+.4f} "
        f"(wins {test['wins']}/{test['pairs']}, t-test p={test['t_test_p']:.3g}, "
        f"Wilcoxon p={test['wilcoxon_p']:.3g}): {test['verdict']}"
    )
