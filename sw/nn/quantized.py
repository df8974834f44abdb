"""`prepare_qat` and `QuantizedModel`: a model's graph, quantized, as a trainable torch module.

`QuantizedModel` holds the steps of a traced model (`sw.nn.graph`) and everything they
quantize with: per core layer the folded float weights (parameters) and the weight
quantizer (levels, per-channel scales), and per activation one calibrated scale
(buffers, so a ``state_dict`` saves and restores the whole quantized model).

Its forward is the integer program evaluated in torch (float64 tensors holding exact
integers, see `sw.nn.steps`): in eval mode it computes exactly what the core computes;
in train mode the weights are rounded afresh on every forward onto the frozen levels
and scales, with straight-through gradients, so a plain torch loop does QAT.
`freeze` re-fits the weight quantizers and recalibrates every activation scale on
calibration data, layer by layer in graph order (each scale sees the outputs of the
already quantized steps before it). `train_qat` is the usual loop (quantizers fixed,
or re-fitted every epoch).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.fx.node import map_aggregate

from sw.quant import WeightScheme

from .graph import (
    CompileError,
    GraphBuilder,
    Settings,
    as_input_tuple,
    check_settings,
    mark_wide_values,
    trace,
)
from .steps import INT, CoreStep, Execution, Ref, RescaleStep, StepError


def resolve_scheme(scheme, weight_bits: int) -> WeightScheme:
    """A `WeightScheme`, or its name at ``weight_bits`` ("sp2", or "sp2-4")."""
    if isinstance(scheme, WeightScheme):
        return scheme
    if isinstance(scheme, str):
        text = scheme.strip().lower()
        if "-" in text or ":" in text:
            return WeightScheme.parse(text)
        return WeightScheme.parse(text, weight_bits)
    raise ValueError(f"scheme must be a WeightScheme or its name, got {scheme!r}")


def as_tensors(inputs, count: int) -> tuple[torch.Tensor, ...]:
    """Inputs (tensors or arrays) as float64 (reals) or int64 (indices) tensors."""
    inputs = as_input_tuple(inputs)
    if len(inputs) != count:
        raise ValueError(f"the program takes {count} inputs, got {len(inputs)}")
    tensors = []
    for value in inputs:
        tensor = value if torch.is_tensor(value) else torch.as_tensor(np.asarray(value))
        tensor = tensor.detach()
        if tensor.dtype.is_floating_point:
            tensors.append(tensor.to(torch.float64))
        elif tensor.dtype == torch.bool:
            raise ValueError("boolean inputs are not supported")
        else:
            tensors.append(tensor.to(torch.int64))
    return tuple(tensors)


class QuantizedModel(nn.Module):
    """The fake-quant copy of a traced model (see the module doc); `prepare_qat` makes one."""

    def __init__(self, graph_module, settings: Settings):
        super().__init__()
        builder = GraphBuilder(graph_module, settings)
        builder.build()
        self.settings = settings
        self.steps = builder.steps
        self.outputs = builder.outputs
        self.input_names = tuple(builder.input_names)
        self.core = nn.ModuleDict(builder.core_layers)
        self.embeddings = nn.ModuleDict(builder.embeddings)
        self.host = nn.ModuleDict(builder.host_modules)
        self.input_quantizers = nn.ModuleList(builder.input_quantizers)
        self.float_quantizers = nn.ModuleDict(builder.float_quantizers)
        self.rescale_quantizers = nn.ModuleDict(
            {step.name: step.scale for step in self.steps if isinstance(step, RescaleStep)}
        )
        if not self.core:
            raise CompileError("the model has no Linear or Conv layer for the core")
        self._unique_layer_names()
        self.wide_values = mark_wide_values(self.steps, self.outputs, settings.act_bits)
        self._last_use = self._liveness()

    def _unique_layer_names(self) -> None:
        """A module called twice gives two core layers (weights untied): name both apart."""
        seen: dict[str, int] = {}
        for layer in self.core.values():
            seen[layer.name] = seen.get(layer.name, 0) + 1
        for layer in self.core.values():
            if seen[layer.name] > 1:
                layer.name = f"{layer.name}@{layer.node}"

    def _liveness(self) -> dict[str, int]:
        """The index of the last step reading each value (later it is dropped)."""
        last: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            for name in step.inputs():
                last[name] = index
        return last

    @property
    def scheme(self) -> WeightScheme:
        return self.settings.scheme

    @property
    def act_bits(self) -> int:
        return self.settings.act_bits

    def core_steps(self) -> list[CoreStep]:
        return [step for step in self.steps if isinstance(step, CoreStep)]

    # ---- evaluation ------------------------------------------------------------------

    def evaluate(self, inputs, execution: Execution):
        """The outputs' structure of real values (float64 tensors; dequantized int values)."""
        env = {"__inputs__": as_tensors(inputs, len(self.input_names))}
        output_names = set()
        map_aggregate(
            self.outputs, lambda v: output_names.add(v.name) if isinstance(v, Ref) else None
        )
        for index, step in enumerate(self.steps):
            env[step.name] = step.run(execution, env)
            for name in step.inputs():
                if self._last_use.get(name) == index and name not in output_names:
                    env.pop(name, None)
        by_name = {step.name: step for step in self.steps}

        def real(item):
            if not isinstance(item, Ref):
                return item
            step, value = by_name[item.name], env[item.name]
            if step.kind == INT:
                return map_aggregate(
                    value, lambda v: v * step.scale.scale if torch.is_tensor(v) else v
                )
            return value

        return map_aggregate(self.outputs, real)

    def forward(self, *inputs):
        execution = Execution(training=self.training, acc_bits=self.settings.acc_bits)
        outputs = self.evaluate(inputs, execution)
        dtype = torch.get_default_dtype()
        return map_aggregate(
            outputs,
            lambda v: v.to(dtype) if torch.is_tensor(v) and v.dtype.is_floating_point else v,
        )

    # ---- quantizers ------------------------------------------------------------------

    def activation_quantizers(self):
        yield from self.input_quantizers
        yield from self.float_quantizers.values()
        yield from self.rescale_quantizers.values()
        for layer in self.core.values():
            yield layer.output

    @torch.no_grad()
    def freeze(self, calibration_inputs) -> None:
        """Fit every weight quantizer to the current weights and recalibrate every
        activation scale on ``calibration_inputs`` (a tensor/array or a tuple of them)."""
        for layer in self.core.values():
            layer.fit_weights()
        for table in self.embeddings.values():
            table.fit_weights()
        for quantizer in self.activation_quantizers():
            quantizer.reset()
        execution = Execution(calibrating=True, acc_bits=self.settings.acc_bits)
        try:
            self.evaluate(calibration_inputs, execution)
        except StepError as error:
            raise CompileError(str(error)) from error
        missing = [q for q in self.activation_quantizers() if not q.calibrated]
        if missing:  # every step runs on every input, so this means a bug, not bad data
            raise RuntimeError(f"{len(missing)} activation scales were not reached by calibration")


def prepare_qat(
    model: nn.Module,
    example_inputs,
    scheme="sp2",
    weight_bits: int = 4,
    act_bits: int = 8,
    calibration_inputs=None,
    *,
    input_bits=None,
    acc_bits: int = 32,
) -> QuantizedModel:
    """The fake-quant copy of ``model`` for QAT (calibrated; train it with a torch loop).

    ``model``: a float ``nn.Module`` (BatchNorm statistics are taken in eval mode);
    ``example_inputs``: a tensor or a tuple of tensors (the forward's positional args);
    ``calibration_inputs`` (default: the examples) set every activation scale;
    ``input_bits``: the width of real inputs quantized on the host (an int, or one per
    input; default ``act_bits``): up to 16, a core layer reading more than 8 bits runs
    one product per activation digit. Refuses (`CompileError`, a ``ValueError``) an op
    the compiler does not support, naming the node.
    """
    example = as_input_tuple(example_inputs)
    scheme = resolve_scheme(scheme, weight_bits)
    if input_bits is None or isinstance(input_bits, int):
        per_input = (input_bits,) * len(example)
    else:
        per_input = tuple(input_bits)
        if len(per_input) != len(example):
            raise ValueError(f"input_bits has {len(per_input)} entries for {len(example)} inputs")
    settings = Settings(scheme=scheme, act_bits=act_bits, input_bits=per_input, acc_bits=acc_bits)
    check_settings(settings)
    quantized = QuantizedModel(trace(model, example), settings)
    quantized.freeze(example if calibration_inputs is None else calibration_inputs)
    quantized.train(model.training)
    return quantized


def train_qat(
    model: QuantizedModel,
    inputs,
    targets,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    calibration_inputs=None,
    refit_every_epoch: bool | None = None,
    progress: str | None = None,
) -> list[float]:
    """QAT with the straight-through estimator (a model of one input tensor).

    Every step rounds the current float weights onto the quantizers' levels and scales.
    Without ``calibration_inputs`` those stay as `prepare_qat` (or the last `freeze`)
    fitted them. With ``calibration_inputs`` (or ``refit_every_epoch=True``: on
    ``inputs``) they are re-fitted (`freeze`) before every epoch and at the end;
    ``refit_every_epoch=False`` keeps them fixed whatever is given. Returns the mean
    loss per epoch.
    """
    from .mlp import train

    if refit_every_epoch is None:
        refit_every_epoch = calibration_inputs is not None
    calibration = inputs if calibration_inputs is None else calibration_inputs
    inputs = torch.as_tensor(np.asarray(inputs), dtype=torch.float64)
    targets = torch.as_tensor(np.asarray(targets))
    if targets.is_floating_point():
        targets = targets.to(torch.get_default_dtype())
    history = train(
        model,
        inputs,
        targets,
        loss_fn,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        on_epoch_start=(lambda _epoch: model.freeze(calibration)) if refit_every_epoch else None,
        progress=progress,
    )
    if refit_every_epoch:
        model.freeze(calibration)
    model.eval()
    return history
