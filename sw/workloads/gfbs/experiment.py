"""The sweep: every criterion x MAC budget x seed (x rounding) on every network of a task.

For each seed and each network of the task:

1. train the network (cached under ``build/cache/gfbs``), score it in float and on
   the core (compiled, run on ``ref``): the unpruned baseline;
2. for every criterion, budget and rounding: copy the trained network, prune it to the
   budget with torch-pruning (`prune_to_macs`; the gradient criteria differentiate
   the loss on one batch of ``gradient_batch`` training samples drawn under the
   seed), score it (before fine-tuning), fine-tune it, score it again in float and
   on the core, with its MACs, parameters and device cycles per image.

A cell's record and its fine-tuned network are cached by a digest of the settings
and of the source files they depend on, so an interrupted sweep resumes where it
stopped and a code change recomputes.

Seeds: seed s sets the network's initialization, its mini-batch order (training and
fine-tuning), the gradient batch, the random criterion's draws and, for the digits,
the stratified train/test split; the other data sets are fixed. Every criterion of
one seed starts from the same trained network, so criteria pair up by (budget, seed).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from sw.workloads.common import REPO, cache_key

from .core import QuantConfig, compile_network, run_on_core
from .importance import CRITERIA, GRADIENT_CRITERIA, check_criterion
from .models import output_layers
from .prune import DEFAULT_STEPS, check_budget, count_macs, layer_widths, prune_to_macs
from .tasks import (
    ARCHITECTURES,
    QUICK_TRAIN_CONFIGS,
    TASKS,
    TRAIN_CONFIGS,
    TaskData,
    TrainConfig,
    build_network,
    fit,
    float_outputs,
    load_task,
)

DEFAULT_BUDGETS = (0.25, 0.5, 0.7)
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_ROUNDED = ("gfbs", "l1")
DEFAULT_CACHE = REPO / "build" / "cache" / "gfbs"
# What a trained base network depends on, and what a pruned cell depends on.
BASE_SOURCES = ("sw/workloads/gfbs/models.py", "sw/workloads/gfbs/tasks.py", "sw/nn", "sw/data")
CELL_SOURCES = (
    *(f"sw/workloads/gfbs/{name}.py" for name in ("models", "tasks", "scores", "importance")),
    *(f"sw/workloads/gfbs/{name}.py" for name in ("prune", "core", "experiment")),
    "sw/nn",
    "sw/quant",
    "sw/kernel",
    "sw/data",
)


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep's numbers depend on (the cache keys digest it)."""

    task: str = "digits"
    archs: tuple[str, ...] = ("vgg", "resnet")
    criteria: tuple[str, ...] = tuple(CRITERIA)
    budgets: tuple[float, ...] = DEFAULT_BUDGETS
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    rounded_criteria: tuple[str, ...] = DEFAULT_ROUNDED  # also pruned with round_to = array width
    train: TrainConfig = field(default_factory=TrainConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    gradient_batch: int = 128  # samples in the one batch GFBS differentiates
    prune_steps: int = DEFAULT_STEPS
    test_images: int | None = None  # test inputs run on the core per network (None: all)
    quick: bool = False  # the quick data sizes (denoising patches)
    train_limit: int | None = None  # keep only this many training samples

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose from {', '.join(TASKS)}")
        for arch in self.archs:
            if arch not in ARCHITECTURES[self.task]:
                raise ValueError(
                    f"unknown network {arch!r} for task {self.task}; choose from "
                    f"{', '.join(ARCHITECTURES[self.task])}"
                )
        if not self.archs or not self.criteria or not self.budgets or not self.seeds:
            raise ValueError("a sweep needs at least one network, criterion, budget and seed")
        for criterion in (*self.criteria, *self.rounded_criteria):
            check_criterion(criterion)
        for budget in self.budgets:
            check_budget(budget)
        if min(self.seeds) < 0 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct non-negative integers, got {self.seeds}")
        if self.gradient_batch < 2:
            raise ValueError(f"gradient_batch must be at least 2, got {self.gradient_batch}")
        if self.test_images is not None and self.test_images < 1:
            raise ValueError(f"test_images must be at least 1, got {self.test_images}")

    @classmethod
    def for_task(cls, task: str, *, quick: bool = False, **overrides) -> SweepConfig:
        """The defaults of ``task`` (all its networks, its training settings)."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
        train = (QUICK_TRAIN_CONFIGS if quick else TRAIN_CONFIGS)[task]
        settings = {"archs": tuple(ARCHITECTURES[task]), "train": train, "quick": quick}
        settings.update(overrides)
        return cls(task=task, **settings)

    def cells(self) -> list[tuple[str, float, bool]]:
        """``(criterion, budget, rounded)`` of one network and seed, in run order."""
        cells = []
        for budget in self.budgets:
            for criterion in self.criteria:
                cells.append((criterion, budget, False))
            for criterion in self.rounded_criteria:
                cells.append((criterion, budget, True))
        return cells


def _base_network(data: TaskData, arch: str, seed: int, config: SweepConfig, cache: Path | None):
    """The trained network of ``arch`` on ``data`` under ``seed`` (cached state dict)."""
    model = build_network(data.task, arch, seed)
    key = cache_key(
        {"data": data.name, "arch": arch, "train": asdict(config.train), "quick": config.quick,
         "train_limit": config.train_limit},
        seed=seed,
        sources=BASE_SOURCES,
    )  # fmt: skip
    path = None if cache is None else cache / f"base-{data.name}-{arch}-s{seed}-{key}.pt"
    if path is not None and path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
        return model
    fit(model, data, epochs=config.train.epochs, lr=config.train.lr, config=config.train, seed=seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    return model


def _core_fields(model, data: TaskData, config: SweepConfig, ref, seed: int) -> dict:
    program = compile_network(model, data, config.quant, seed=seed)
    run = run_on_core(program, ref, data, images=config.test_images)
    return {
        "core_score": run.score,
        "core_images": run.images,
        "cycles_per_image": run.cycles_per_image,
        "layer_cycles_per_image": run.layer_cycles_per_image,
        "core_macs_per_image": run.core_macs_per_image,
        # the array's throughput on this network: R*C (16 on a 4x4 array) at best
        "macs_per_cycle": run.core_macs_per_image / run.cycles_per_image,
        "layer_shapes": run.layer_shapes,
        "layer_utilization": run.layer_utilization,
    }


def baseline_record(model, data: TaskData, arch: str, seed: int, config: SweepConfig, ref) -> dict:
    """The unpruned network: float and core scores, MACs, parameters, cycles."""
    macs, params = count_macs(model, data.x_test)
    return {
        "dataset": data.name,
        "arch": arch,
        "seed": seed,
        "metric": data.metric,
        "score": data.score(float_outputs(model, data.x_test)),
        "macs": macs,
        "params": params,
        "widths": layer_widths(model),
        **_core_fields(model, data, config, ref, seed),
    }


def prune_cell(
    base,
    data: TaskData,
    criterion: str,
    budget: float,
    seed: int,
    config: SweepConfig,
    *,
    round_to: int | None,
):
    """Prune a copy of ``base`` and fine-tune it: ``(model, PruneResult, score before)``."""
    model = copy.deepcopy(base)
    gradient_batch = None
    if criterion in GRADIENT_CRITERIA:
        gradient_batch = data.gradient_batch(config.gradient_batch, seed)
    result = prune_to_macs(
        model,
        data.x_test[:1],
        criterion,
        budget,
        ignored_layers=output_layers(model),
        gradient_batch=gradient_batch,
        loss_fn=data.loss_fn,
        round_to=round_to,
        seed=seed,
        steps=config.prune_steps,
    )
    before = data.score(float_outputs(model, data.x_test))
    train = config.train
    fit(model, data, epochs=train.finetune_epochs, lr=train.finetune_lr, config=train, seed=seed)
    return model, result, before


def cell_record(
    base, baseline: dict, data, arch, criterion, budget, seed, rounded, config, ref
) -> tuple[dict, torch.nn.Module]:
    """One (criterion, budget, seed, rounding) cell: prune, fine-tune, score, run on the core."""
    start = time.perf_counter()
    round_to = ref.info.cols if rounded else None
    model, result, before = prune_cell(
        base, data, criterion, budget, seed, config, round_to=round_to
    )
    core = _core_fields(model, data, config, ref, seed)
    record = {
        "dataset": data.name,
        "arch": arch,
        "criterion": criterion,
        "label": CRITERIA[criterion] + (" (rounded)" if rounded else ""),
        "budget": budget,
        "seed": seed,
        "rounded": rounded,
        "round_to": round_to,
        "metric": data.metric,
        "score_before_finetune": before,
        "score_after_finetune": data.score(float_outputs(model, data.x_test)),
        "macs": result.macs_after,
        "params": result.params_after,
        "macs_saved": 1.0 - result.macs_after / baseline["macs"],
        "cycles_saved": 1.0 - core["cycles_per_image"] / baseline["cycles_per_image"],
        "widths": result.widths_after,
        "prune_steps": result.steps,
        **core,
    }
    record["seconds"] = time.perf_counter() - start
    return record, model


def _cell_key(data, arch, criterion, budget, seed, rounded, config, info) -> str:
    settings = {
        "data": data.name,
        "arch": arch,
        "criterion": criterion,
        "budget": budget,
        "rounded": rounded,
        "device": [info.rows, info.cols, info.k_max, info.m_max, info.channels],
        "config": {k: v for k, v in asdict(config).items() if k not in ("criteria", "budgets",
                   "seeds", "rounded_criteria", "archs")},
    }  # fmt: skip
    return cache_key(settings, seed=seed, sources=CELL_SOURCES)


def _cached_cell(path: Path | None):
    if path is None or not path.exists() or not path.with_suffix(".pt").exists():
        return None
    return json.loads(path.read_text()), torch.load(path.with_suffix(".pt"), weights_only=False)


def _store_cell(path: Path | None, record: dict, model) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model, path.with_suffix(".pt"))
    path.write_text(json.dumps(record) + "\n")  # last: its presence marks a complete cell


@dataclass
class SweepResult:
    config: SweepConfig
    baselines: list[dict]
    runs: list[dict]
    # The first seed's networks, for a check on another backend:
    # (dataset, arch, seed, criterion, budget, rounded) -> fine-tuned network;
    # (dataset, arch, seed, None, None, None) -> the unpruned one.
    networks: dict[tuple, torch.nn.Module]
    seconds: float


def run_sweep(
    config: SweepConfig, ref, *, path=None, cache: Path | None = DEFAULT_CACHE
) -> SweepResult:
    """Run every cell of ``config`` on ``ref`` (an open `Accelerator`); see the module doc.

    ``path``: the CIFAR-10 directory. ``cache=None`` computes everything afresh.
    """
    start = time.perf_counter()
    baselines, runs, networks = [], [], {}
    cells = config.cells()
    bar = tqdm(desc=f"gfbs {config.task}", unit="cell")
    for seed in config.seeds:
        sets = load_task(
            config.task, seed=seed, path=path, train_limit=config.train_limit, quick=config.quick
        )
        bar.total = len(config.seeds) * len(sets) * len(config.archs) * (len(cells) + 1)
        bar.refresh()
        keep = seed == config.seeds[0]
        for data in sets:
            for arch in config.archs:
                bar.set_postfix_str(f"{data.name} {arch} seed {seed}: training")
                base = _base_network(data, arch, seed, config, cache)
                baseline = baseline_record(base, data, arch, seed, config, ref)
                baselines.append(baseline)
                bar.update()
                if keep:
                    networks[(data.name, arch, seed, None, None, None)] = base
                for criterion, budget, rounded in cells:
                    bar.set_postfix_str(
                        f"{data.name} {arch} seed {seed}: {criterion} {budget:.0%}"
                        + (" rounded" if rounded else "")
                    )
                    key = _cell_key(data, arch, criterion, budget, seed, rounded, config, ref.info)
                    file = None if cache is None else cache / "cells" / f"{key}.json"
                    cached = _cached_cell(file)
                    if cached is None:
                        record, model = cell_record(
                            base, baseline, data, arch, criterion, budget, seed, rounded,
                            config, ref,
                        )  # fmt: skip
                        _store_cell(file, record, model)
                    else:
                        record, model = cached
                    runs.append(record)
                    if keep:
                        networks[(data.name, arch, seed, criterion, budget, rounded)] = model
                    bar.update()
    bar.close()
    return SweepResult(
        config=config,
        baselines=baselines,
        runs=runs,
        networks=networks,
        seconds=time.perf_counter() - start,
    )


def save_networks(result: SweepResult, path: Path, *, data_path=None) -> Path:
    """The first seed's networks and the sweep's settings, for a later `check_backend`
    (``qmatmul run gfbs --check-only``): a torch pickle of whole modules."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": result.config, "data_path": data_path, "networks": result.networks}, path)
    return path


def load_networks(path: Path) -> tuple[SweepConfig, object, dict[tuple, torch.nn.Module]]:
    """``(config, data_path, networks)`` saved by `save_networks` (a file this tool wrote:
    it holds pickled modules)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run the sweep with the same --out first (it saves the "
            "networks to check there)"
        )
    saved = torch.load(path, weights_only=False)
    return saved["config"], saved["data_path"], saved["networks"]


def check_backend(
    config: SweepConfig,
    networks: dict[tuple, torch.nn.Module],
    ref,
    backend,
    *,
    images: int,
    budget: float | None = None,
    data_path=None,
) -> dict:
    """Run saved networks on ``backend`` and on ``ref``: identical outputs? equal cycles?

    Checks every unpruned network and, at ``budget`` (the sweep's middle budget by
    default), every pruned one, on the first ``images`` test inputs (the data of the
    networks' seed, loaded again). Outputs must agree to the bit. Cycles are compared
    per core layer: ``ref`` reports the cycle model's count, ``backend`` its own
    counters (on ``sim``, the RTL's); layers where they differ are listed.
    """
    budgets = sorted(config.budgets)
    budget = budgets[len(budgets) // 2] if budget is None else budget
    chosen = {k: m for k, m in networks.items() if k[4] is None or k[4] == budget}
    datasets = {}
    for seed in sorted({key[2] for key in chosen}):
        for data in load_task(
            config.task, seed=seed, path=data_path, train_limit=config.train_limit,
            quick=config.quick,
        ):  # fmt: skip
            datasets[(data.name, seed)] = data
    checks = []
    for (name, arch, seed, criterion, cell_budget, rounded), model in tqdm(
        chosen.items(), desc=f"check on {backend.target}", unit="net"
    ):
        data = datasets[(name, seed)]
        program = compile_network(model, data, config.quant, seed=seed)
        on_ref = run_on_core(program, ref, data, images=images)
        on_backend = run_on_core(program, backend, data, images=images)
        differing = {
            layer: {
                "ref": cycles,
                "backend": on_backend.layer_cycles_per_image[layer],
                "k": on_ref.layer_shapes[layer][0],
                "n": on_ref.layer_shapes[layer][1],
            }
            for layer, cycles in on_ref.layer_cycles_per_image.items()
            if on_backend.layer_cycles_per_image[layer] != cycles
        }
        checks.append(
            {
                "dataset": name,
                "arch": arch,
                "seed": seed,
                "criterion": criterion or "unpruned",
                "budget": cell_budget,
                "rounded": bool(rounded),
                "images": on_ref.images,
                "outputs_identical": bool((on_ref.outputs == on_backend.outputs).all()),
                "score_ref": on_ref.score,
                "score_backend": on_backend.score,
                "cycles_per_image_ref": on_ref.cycles_per_image,
                "cycles_per_image_backend": on_backend.cycles_per_image,
                "layers_with_different_cycles": differing,
            }
        )
    return {
        "backend": backend.target,
        "networks": len(checks),
        "images_per_network": images,
        "outputs_identical": all(c["outputs_identical"] for c in checks),
        "cycles_identical": all(not c["layers_with_different_cycles"] for c in checks),
        "checks": checks,
    }
