"""From torch models to the core: graph capture, quantization, QAT, compiled programs.

    program = compile_model(model, example_inputs, "sp2", weight_bits=4, act_bits=8)
    outputs, cycles = program.run(accelerator, inputs)     # products on the device
    program.fake_quant(inputs)                             # the same in torch

- `compile_model` -> `Program` (`sw.nn.program`): core layers (Linear, Conv1d, Conv2d
  with BatchNorm and ReLU folded) and host steps (`sw.nn.graph` lists them).
- `prepare_qat` -> `QuantizedModel` (`sw.nn.quantized`): the fake-quant copy to train
  with a plain torch loop (or `train_qat`); `compile_model` takes it.
- `run_product` (from `sw.kernel`): one product of any size on a device.
- `sw.nn.sizing`: MACs, cycles and array utilization per layer; `round_channels`.
- `make_mlp`, `train`, `train_classifier`, `outputs`, `predict`: float models in torch.
"""

from sw.kernel import run_product

from .graph import CompileError
from .layers import WIDE_BITS, FrozenCoreLayer
from .mlp import make_mlp, outputs, predict, train, train_classifier
from .program import Program, RunReport, compile_model
from .quantized import QuantizedModel, prepare_qat, train_qat
from .sizing import LayerSizing, layer_sizing, measure_layers, round_channels

__all__ = [
    "WIDE_BITS",
    "CompileError",
    "FrozenCoreLayer",
    "LayerSizing",
    "Program",
    "QuantizedModel",
    "RunReport",
    "compile_model",
    "layer_sizing",
    "make_mlp",
    "measure_layers",
    "outputs",
    "predict",
    "prepare_qat",
    "round_channels",
    "run_product",
    "train",
    "train_classifier",
    "train_qat",
]
