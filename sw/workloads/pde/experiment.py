"""One `qmatmul run pde` experiment: data, models, rollouts on the host and on the core.

`run` does, for one equation:

1. the dataset (`data.load_dataset`, cached);
2. the nodal model (`model.train_nodal`, cached by a key over the data key, the training
   settings and the model's source);
3. the baselines of `baselines` on the same training pairs (the MLP cached likewise);
4. every model rolled out `HORIZON` steps from each held-out initial condition and
   scored by `evaluate.relative_l2`; each model's curve and one sample's trajectory are
   cached (``pde-eval-<key>.npz``), so a rerun with the same settings only re-plots;
5. the nodal model compiled for each input width (`core.compile_step`) and rolled out
   with every product on the backend; on any backend but ``ref`` the same rollout also
   runs on ``ref`` and the two must agree bit for bit;
6. ``results.json``, ``errors.png``, ``solutions.png`` under ``out``.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from sw.workloads.backends import open_with_ref
from sw.workloads.common import cache_key, write_json

from . import report
from .baselines import BaselineConfig, LinearStencil, PDEFind, train_full_state_mlp
from .core import INPUT_BITS, CoreConfig, compile_step, core_rollout
from .data import HORIZON, DataConfig, Dataset, data_key, load_dataset
from .equations import Equation
from .evaluate import at_step, compare, curve, relative_l2
from .model import TrainConfig, load_model, rollout, save_model, train_nodal

MODEL_SOURCES = ("sw/workloads/pde/model.py", "sw/workloads/pde/grids.py")
BASELINE_SOURCES = ("sw/workloads/pde/baselines.py", "sw/workloads/pde/model.py")
CORE_SOURCES = ("sw/workloads/pde/core.py", "sw/nn", "sw/kernel", "sw/quant")
BASELINES = ("lstsq-stencil", "pde-find", "mlp")
LINEAR_TARGET = 0.02  # float model, linear equations, at step 100
BURGERS_TARGET = 0.05  # float model, Burgers, at step 50
CORE_FACTOR = 1.5  # core-16 within 1.5x the float error


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on (from the command line)."""

    equation: Equation
    params: dict
    boundary: str
    grid: str
    width: int  # 1D stencil half-width, or 2D neighbour count
    seed: int = 0
    quick: bool = False
    bits: tuple[int, ...] = INPUT_BITS
    baselines: tuple[str, ...] = BASELINES
    backend: str = "ref"
    scheme: str = "uniform"
    cache: Path | None = Path("build/cache")
    retrain: bool = False

    def data_config(self) -> DataConfig:
        quick = {"train_samples": 40, "test_samples": 5} if self.quick else {}
        return DataConfig(
            equation=self.equation.name,
            boundary=self.boundary,
            grid=self.grid,
            width=self.width,
            params=tuple(sorted(self.params.items())),
            **quick,
        )

    def train_config(self) -> TrainConfig:
        config = TrainConfig()
        return replace(config, one_step_epochs=8, rollout_epochs=4) if self.quick else config

    def baseline_config(self) -> BaselineConfig:
        config = BaselineConfig()
        return replace(config, mlp_epochs=60) if self.quick else config

    def core_config(self) -> CoreConfig:
        config = CoreConfig(scheme=self.scheme)
        return replace(config, qat_epochs=1, qat_samples=20_000) if self.quick else config


class Cache:
    """Files under ``build/cache`` named by a key; a no-op when disabled or retraining."""

    def __init__(self, directory: Path | None, retrain: bool):
        self.directory = Path(directory) if directory is not None else None
        self.retrain = retrain

    def path(self, kind: str, key: str, suffix: str) -> Path | None:
        if self.directory is None:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / f"pde-{kind}-{key}{suffix}"

    def hit(self, path: Path | None) -> bool:
        return path is not None and path.exists() and not self.retrain


def _evaluation(cache: Cache, key: str, compute):
    """``(errors (B, T+1), sample trajectory (T+1, N, F), extra dict)``, cached."""
    path = cache.path("eval", key, ".npz")
    if cache.hit(path):
        saved = np.load(path, allow_pickle=False)
        extra = {k[6:]: saved[k].item() for k in saved.files if k.startswith("extra_")}
        return saved["errors"], saved["sample"], extra
    errors, sample, extra = compute()
    if path is not None:
        np.savez_compressed(
            path, errors=errors, sample=sample, **{f"extra_{k}": v for k, v in extra.items()}
        )
    return errors, sample, extra


def trained_model(dataset: Dataset, settings: Settings, dataset_key: str, cache: Cache):
    config = settings.train_config()
    key = cache_key(asdict(config), seed=settings.seed, sources=MODEL_SOURCES, extra=dataset_key)
    path = cache.path("model", key, ".pt")
    if cache.hit(path):
        model, training = load_model(path, dataset)
        return model, training, key, True
    model, training = train_nodal(dataset, config, settings.seed, progress="nodal model")
    if path is not None:
        save_model(model, config, training, path)
    return model, training, key, False


def prepared(settings: Settings, cache: Cache):
    """``(dataset, data key, model, training report, model key, seconds spent training)``:
    the dataset and the trained nodal model, from the cache when there."""
    data_config = settings.data_config()
    dataset_key = data_key(data_config, settings.seed)
    dataset = load_dataset(settings.equation, data_config, settings.seed, settings.cache)
    start = time.perf_counter()
    model, training, model_key, cached = trained_model(dataset, settings, dataset_key, cache)
    seconds = 0.0 if cached else time.perf_counter() - start
    return dataset, dataset_key, model, training, model_key, seconds


def _scored(prediction: np.ndarray, reference: np.ndarray):
    return relative_l2(prediction, reference), prediction[0]


def run(settings: Settings, out: Path) -> dict:
    torch.set_num_threads(1)  # small tensors; the machine is shared
    begin = time.perf_counter()
    cache = Cache(settings.cache, settings.retrain)
    equation = settings.equation
    data_config = settings.data_config()
    dataset, dataset_key, model, training, model_key, seconds = prepared(settings, cache)
    reference = dataset.test
    initial = reference[:, 0]
    timing = {"nodal_training": seconds, "data_and_training": time.perf_counter() - begin}

    errors, samples, extras = {}, {}, {}

    def record(name, key, compute):
        start = time.perf_counter()
        errors[name], samples[name], extras[name] = _evaluation(cache, key, compute)
        timing[name] = time.perf_counter() - start

    record("float", f"float-{model_key}",
           lambda: (*_scored(rollout(model, initial, HORIZON), reference), {}))  # fmt: skip

    baseline_config = settings.baseline_config()
    base_key = cache_key(asdict(baseline_config), seed=settings.seed, sources=BASELINE_SOURCES,
                         extra=dataset_key)  # fmt: skip
    pde_find_equation: list[str] = []
    for name in settings.baselines:
        if name == "lstsq-stencil":
            record(name, f"lstsq-{base_key}",
                   lambda: (*_scored(rollout(LinearStencil(dataset), initial, HORIZON),
                                     reference), {}))  # fmt: skip
        elif name == "pde-find":

            def pde_find():
                found = PDEFind(dataset, baseline_config)
                return (*_scored(found.rollout(initial, HORIZON), reference),
                        {"equation": "\n".join(found.equation())})  # fmt: skip

            record(name, f"pdefind-{base_key}", pde_find)
            pde_find_equation = str(extras[name].get("equation", "")).split("\n")
        elif name == "mlp":

            def mlp():
                network = train_full_state_mlp(dataset, baseline_config, settings.seed,
                                               progress="baseline mlp")  # fmt: skip
                return (*_scored(rollout(network, initial, HORIZON), reference), {})

            record(name, f"mlp-{base_key}", mlp)
        else:
            raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")

    core_config = settings.core_config()
    core_runs = {}
    if settings.bits:
        with ExitStack() as stack:
            ref, backend = open_with_ref(stack, settings.backend)
            info = backend.identify()
            for bits in settings.bits:
                key = cache_key(asdict(core_config), seed=settings.seed, sources=CORE_SOURCES,
                                extra=[model_key, bits, settings.backend])  # fmt: skip

                def on_core(bits=bits):
                    step = compile_step(model, dataset, bits, core_config, settings.seed,
                                        progress=f"QAT {bits}-bit inputs")  # fmt: skip
                    prediction = core_rollout(step, backend, initial, HORIZON)
                    agreement = True
                    if backend is not ref:  # the same compiled step, its cycles kept apart
                        on_ref = replace(step, cycles={})
                        agreement = bool(np.array_equal(
                            core_rollout(on_ref, ref, initial, HORIZON), prediction,
                            equal_nan=True,
                        ))  # fmt: skip
                    samples_steps = prediction.shape[0] * HORIZON
                    extra = {
                        "ref_agreement": agreement,
                        "cycles_per_step": sum(step.cycles.values()) / HORIZON,
                        "cycles_per_sample_step": sum(step.cycles.values()) / samples_steps,
                        "compiled_layers": repr(step.program.summary()) if step.program else None,
                    }
                    return (*_scored(prediction, reference), extra)

                record(f"core-{bits}", f"core-{key}", on_core)
                core_runs[bits] = extras[f"core-{bits}"]
        device = {"rows": info.rows, "cols": info.cols, "clock_hz": info.clock_hz}
    else:
        device = None

    models = {name: curve(values) for name, values in errors.items()}
    results = {
        "equation": equation.name,
        "formula": equation.formula,
        "boundary": settings.boundary,
        "grid": settings.grid,
        "params": settings.params,
        "nodes": dataset.grid.nodes,
        "stencil": {
            "kind": "shared" if settings.grid == "uniform" else "per-node",
            "size": int(dataset.grid.stencil.size),
        },
        "dt": dataset.dt,
        "horizon": HORIZON,
        "seed": settings.seed,
        "quick": settings.quick,
        "backend": settings.backend,
        "device": device,
        "data": {
            "train_samples": data_config.train_samples,
            "train_steps": data_config.train_steps,
            "test_samples": data_config.test_samples,
        },
        "training": training.to_dict() | {"config": asdict(settings.train_config())},
        "core": {
            "config": asdict(core_config),
            "runs": {str(b): core_runs[b] for b in core_runs},
        },
        "pde_find_equation": pde_find_equation,
        "models": models,
        "comparisons": comparisons(errors),
        "targets": targets(equation, models),
        "timing_seconds": timing | {"total": time.perf_counter() - begin},
    }
    out.mkdir(parents=True, exist_ok=True)
    figures = {"errors": out / "errors.png", "solutions": out / "solutions.png"}
    title = f"{equation.name}: {equation.formula} ({settings.grid} grid, {settings.boundary})"
    report.plot_errors(models, title, figures["errors"])
    shown = {n: samples[n] for n in ("float", f"core-{max(settings.bits)}" if settings.bits
                                     else None) if n in samples}  # fmt: skip
    report.plot_solutions(dataset.grid.points, dataset.dt, reference[0], shown,
                          figures["solutions"])  # fmt: skip
    results["figures"] = {k: str(v) for k, v in figures.items()}
    write_json(out / "results.json", results)
    return results


def comparisons(errors: dict) -> list[dict]:
    """Paired tests over the held-out samples: float vs each other model, at steps 50, 100."""
    if "float" not in errors:
        return []
    return [
        compare(errors["float"], errors[name], step, ("float", name))
        for name in errors
        if name != "float"
        for step in (50, HORIZON)
    ]


def targets(equation: Equation, models: dict) -> dict:
    """The issue's targets that apply to this equation, with the measured values."""
    found = {}
    if "float" not in models:
        return found
    if equation.name in ("advection", "heat"):
        value = at_step(models["float"], HORIZON)
        found["float_step100_below_2pct"] = {
            "value": value,
            "threshold": LINEAR_TARGET,
            "met": bool(value < LINEAR_TARGET),
        }
    if equation.name == "burgers":
        value = at_step(models["float"], 50)
        found["float_step50_below_5pct"] = {
            "value": value,
            "threshold": BURGERS_TARGET,
            "met": bool(value < BURGERS_TARGET),
        }
    if "core-16" in models:
        step = 50 if equation.name == "burgers" else HORIZON
        flt, core = at_step(models["float"], step), at_step(models["core-16"], step)
        found[f"core16_within_1.5x_float_step{step}"] = {
            "value": core / flt if flt > 0 else float("inf"),
            "core16": core,
            "float": flt,
            "threshold": CORE_FACTOR,
            "met": bool(core <= CORE_FACTOR * flt),
        }
    return found
