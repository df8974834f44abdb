"""Torch models for the core: float MLPs, their fake-quant twins (PTQ/QAT), compilation.

- `make_mlp`, `train_classifier`: a float ``Linear``/``ReLU`` MLP and its training.
- `QuantMLP`: the fake-quant forward (post-training quantization with `from_float`,
  quantization-aware training with `qat`).
- `compile_mlp` -> `CoreProgram`: kernel layers (spec + codes) with derived requantization;
  `CoreProgram.run(accelerator, x)` / `execute` runs it through the driver, integer
  outputs of one layer feeding the next.
"""

from .compiler import CoreLayer, CoreProgram, ProgramRun, compile_mlp, execute
from .mlp import linear_layers, make_mlp, outputs, predict, train, train_classifier
from .quant_mlp import QuantMLP

__all__ = [
    "CoreLayer",
    "CoreProgram",
    "ProgramRun",
    "QuantMLP",
    "compile_mlp",
    "execute",
    "linear_layers",
    "make_mlp",
    "outputs",
    "predict",
    "train",
    "train_classifier",
]
