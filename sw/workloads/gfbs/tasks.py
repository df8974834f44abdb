"""The pruning tasks: their data (as torch tensors), networks, losses, scores and training.

=========  ===================================================  ==============  =========
task       data                                                 networks        score
=========  ===================================================  ==============  =========
digits     scikit-learn's 8x8 digits, (1, 8, 8), a stratified    ``vgg``,        accuracy
           split per seed (1437 train / 360 test)                ``resnet``
mnist1d    mnist1d's own generator (default arguments),          ``vgg``,        accuracy
           (1, 40), 4000 train / 1000 test                       ``resnet``      (Conv1d)
denoise    patches of scikit-image's bundled grayscale images    ``dncnn``       PSNR (dB)
           with Gaussian noise, sigma 15 and 25 (0..255 scale)
cifar10    CIFAR-10 python batches from ``--path``, (3, 32, 32)  ``vgg``,        accuracy
                                                                 ``resnet``
=========  ===================================================  ==============  =========

Networks train with Adam (`sw.nn.train`); the classifiers on cross-entropy, the
denoiser on the mean squared error between its output and the clean patch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sw.data import load_digits_dataset
from sw.data.images import NOISE_SIGMAS, load_denoising_set, psnr
from sw.data.mnist1d import load_mnist1d

from .models import DnCNN, ResNet, VGGNet

TASKS = ("digits", "mnist1d", "denoise", "cifar10")


@dataclass(frozen=True)
class TaskData:
    """One data set ready for torch: inputs (N, C, ...) float32, targets, and how to score."""

    name: str  # "digits", "mnist1d", "denoise-sigma15", "cifar10"
    task: str  # the key in TASKS
    metric: str  # "accuracy" (fraction) or "psnr_db"
    x_train: torch.Tensor
    y_train: torch.Tensor  # labels (int64) or clean patches
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def loss_fn(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        return nn.functional.mse_loss if self.metric == "psnr_db" else nn.functional.cross_entropy

    def score(self, outputs: np.ndarray) -> float:
        """Accuracy (fraction correct) or mean PSNR in dB of the test outputs."""
        outputs = np.asarray(outputs)
        if self.metric == "psnr_db":
            clean = self.y_test.numpy()
            return float(np.mean(psnr(clean[:, 0], outputs.reshape(clean.shape)[:, 0])))
        return float(np.mean(outputs.argmax(axis=1) == self.y_test.numpy()))

    def gradient_batch(self, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` training samples drawn under ``seed``: the one batch GFBS differentiates."""
        generator = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(self.x_train), generator=generator)[:size]
        return self.x_train[pick], self.y_train[pick]


def _tensor(x: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(-1, *shape))


def _classification(name: str, task: str, dataset, shape) -> TaskData:
    return TaskData(
        name,
        task,
        "accuracy",
        _tensor(dataset.x_train, shape),
        torch.as_tensor(dataset.y_train, dtype=torch.long),
        _tensor(dataset.x_test, shape),
        torch.as_tensor(dataset.y_test, dtype=torch.long),
    )


def load_task(
    task: str, *, seed: int = 0, path=None, train_limit: int | None = None, quick: bool = False
) -> list[TaskData]:
    """The data sets of ``task`` (denoise gives one per noise level).

    ``seed`` picks the digits split (the other sets are fixed); ``path`` is the CIFAR-10
    directory; ``train_limit`` keeps the first that many training samples (CIFAR-10 on a
    laptop); ``quick`` denoises at sigma 25 only, with fewer patches.
    """
    if task == "digits":
        sets = [_classification("digits", task, load_digits_dataset(seed), (1, 8, 8))]
    elif task == "mnist1d":
        sets = [_classification("mnist1d", task, load_mnist1d(), (1, 40))]
    elif task == "denoise":
        sets = []
        for sigma in NOISE_SIGMAS[-1:] if quick else NOISE_SIGMAS:
            data = load_denoising_set(
                sigma,
                train_patches=800 if quick else 2000,
                test_patches_per_image=6 if quick else 12,
            )
            shape = (1, *data.clean_train.shape[1:])
            test_shape = (1, *data.clean_test.shape[1:])
            sets.append(
                TaskData(
                    data.name,
                    task,
                    "psnr_db",
                    _tensor(data.noisy_train, shape),
                    _tensor(data.clean_train, shape),
                    _tensor(data.noisy_test, test_shape),
                    _tensor(data.clean_test, test_shape),
                )
            )
    elif task == "cifar10":
        if path is None:
            raise ValueError("--task cifar10 needs --path DIR with the CIFAR-10 python batches")
        from sw.data.cifar10 import CIFAR10_IMAGE_SHAPE, load_cifar10

        sets = [_classification("cifar10", task, load_cifar10(path), CIFAR10_IMAGE_SHAPE)]
    else:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if train_limit is not None:
        if train_limit < 2:
            raise ValueError(f"train_limit must be at least 2 samples, got {train_limit}")
        sets = [
            TaskData(
                d.name,
                d.task,
                d.metric,
                d.x_train[:train_limit],
                d.y_train[:train_limit],
                d.x_test,
                d.y_test,
            )  # fmt: skip
            for d in sets
        ]
    return sets


# ---- networks ------------------------------------------------------------------------------

ARCHITECTURES: dict[str, dict[str, Callable[[], nn.Module]]] = {
    "digits": {
        "vgg": lambda: VGGNet(2, 1, 8, 10, stages=((16, 16), (32, 32))),
        "resnet": lambda: ResNet(2, 1, 8, 10, widths=(16, 16, 32)),
    },
    "mnist1d": {
        "vgg": lambda: VGGNet(1, 1, 40, 10, stages=((16, 16), (32, 32)), kernel=5),
        "resnet": lambda: ResNet(1, 1, 40, 10, widths=(16, 16, 32), kernel=5),
    },
    "denoise": {"dncnn": lambda: DnCNN(channels=1, width=16, depth=6)},
    "cifar10": {
        "vgg": lambda: VGGNet(2, 3, 32, 10, stages=((16, 16), (32, 32), (64, 64))),
        "resnet": lambda: ResNet(2, 3, 32, 10, widths=(16, 16, 32, 64)),
    },
}


def build_network(task: str, arch: str, seed: int) -> nn.Module:
    """A freshly initialized ``arch`` network for ``task`` (torch's default init under ``seed``)."""
    if task not in ARCHITECTURES:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if arch not in ARCHITECTURES[task]:
        raise ValueError(
            f"unknown network {arch!r} for task {task}; choose from "
            f"{', '.join(ARCHITECTURES[task])}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHITECTURES[task][arch]()


@dataclass(frozen=True)
class TrainConfig:
    """Training and fine-tuning hyper-parameters (Adam, mini-batches)."""

    epochs: int = 30
    lr: float = 3e-3
    finetune_epochs: int = 8
    finetune_lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 1e-4


TRAIN_CONFIGS = {
    "digits": TrainConfig(epochs=25, finetune_epochs=5),
    "mnist1d": TrainConfig(epochs=25, finetune_epochs=5),
    "denoise": TrainConfig(epochs=12, lr=2e-3, finetune_epochs=3, finetune_lr=5e-4),
    "cifar10": TrainConfig(epochs=20, finetune_epochs=5, batch_size=128),
}
QUICK_TRAIN_CONFIGS = {
    "digits": TrainConfig(epochs=15, finetune_epochs=4),
    "mnist1d": TrainConfig(epochs=12, finetune_epochs=3),
    "denoise": TrainConfig(epochs=8, lr=2e-3, finetune_epochs=2, finetune_lr=5e-4),
    "cifar10": TrainConfig(epochs=5, finetune_epochs=2, batch_size=128),
}


def fit(
    model: nn.Module,
    data: TaskData,
    *,
    epochs: int,
    lr: float,
    config: TrainConfig,
    seed: int,
    progress: str | None = None,
) -> list[float]:
    """Train (or fine-tune) ``model`` on ``data``'s training set; returns the loss per epoch."""
    from sw.nn import train

    return train(
        model,
        data.x_train,
        data.y_train,
        data.loss_fn,
        epochs=epochs,
        batch_size=config.batch_size,
        lr=lr,
        seed=seed,
        weight_decay=config.weight_decay,
        progress=progress,
    )


@torch.no_grad()
def float_outputs(model: nn.Module, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    """The model's float outputs (eval mode) as float64 numpy, in batches."""
    model.eval()
    parts = [model(x[i : i + batch]).double().numpy() for i in range(0, len(x), batch)]
    return np.concatenate(parts)
