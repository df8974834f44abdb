"""`compile_model`: a torch model to a `Program` of core layers and host steps.

A `Program` is a frozen `QuantizedModel` plus, per core layer, what the device runs
(`FrozenCoreLayer`: the kernel `LayerSpec`, the weight codes, the requantization).
`Program.run(accelerator, inputs)` evaluates the graph with every core layer's product
computed by the accelerator through `run_product` (any size: split by K, by channels
and by the load frame's bytes); `Program.fake_quant(inputs)` evaluates the same graph
with torch computing those products. Both use the same host steps on the same
integers, so they agree bit for bit unless the device does not.

A core layer whose input is wider than the device's 8-bit activations (a 12- or
16-bit program input, or a 16-bit value that also feeds a float step) runs one raw
product per activation digit (balanced base 256, `sw.kernel.exact`'s digit sets,
stacked into one `run_product`); the host sums them in int64 and requantizes with the
kernel's `requantize`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.fx.node import map_aggregate

from sw.kernel import AccumulatorOverflowError, ProductReport, check_depth
from sw.kernel.spec import ACC_BITS_RANGE, signed_range

from .graph import CompileError
from .layers import FrozenCoreLayer
from .quantized import QuantizedModel, as_tensors, prepare_qat, resolve_scheme
from .steps import INT, CoreStep, Execution, Ref, StepError, refs_in


@dataclass
class RunReport:
    """What the device did in one `Program.run`: a `ProductReport` per core layer."""

    batch: int
    layers: dict[str, ProductReport] = field(default_factory=dict)
    # Chains of layers run as one network, by first layer. The device counts a chain's
    # cycles together; each layer's report holds the cycle model's share of them.
    chains: dict[str, list[str]] = field(default_factory=dict)
    whole: dict[str, bool] = field(default_factory=dict)  # by first layer: on chip or not

    @property
    def cycles(self) -> dict[str, int]:
        return {name: report.cycles for name, report in self.layers.items()}

    @property
    def total_cycles(self) -> int:
        return sum(report.cycles for report in self.layers.values())

    @property
    def loads(self) -> int:
        return sum(report.loads for report in self.layers.values())


def _check_layer_fits(step: CoreStep, layer: FrozenCoreLayer) -> None:
    """Refuse a layer whose accumulator could overflow (`check_depth`), naming the node."""
    try:
        check_depth(layer.k, layer.spec)
        if layer.wide:
            # The host sums the digit products in int64 and requantizes with the kernel's
            # `requantize`, which is exact while |acc + bias| < 2**(ACC_BITS_RANGE[1] - 1).
            low, high = signed_range(layer.input_bits)
            worst_input = max(-low, high)
            worst_weight = int(np.abs(layer.fit.ints).max(initial=0))
            bias = max((abs(b) for b in layer.requant.bias or ()), default=0)
            bound = layer.k * worst_input * worst_weight + bias
            limit = 1 << (ACC_BITS_RANGE[1] - 1)
            if bound >= limit:
                raise AccumulatorOverflowError(
                    f"K={layer.k} with {layer.input_bits}-bit inputs could reach {bound}, "
                    f"beyond the host's exact range {limit}"
                )
    except ValueError as error:
        raise CompileError(f"node {step.name!r} ({step.description}): {error}") from error


class Program:
    """A compiled model: core layers on an accelerator, host steps in between.

    ``core_layers``: per core layer in graph order a `FrozenCoreLayer` (``.name``,
    ``.k``, ``.n``, ``.macs_per_sample``, ``.rows_per_sample``, ``.spec``, ``.codes``).
    ``last_run``: the `RunReport` of the latest `run`.
    """

    def __init__(self, model: QuantizedModel, layers: dict[str, FrozenCoreLayer]):
        self.model = model
        self.layers = layers
        self.core_layers = tuple(layers[step.name] for step in model.core_steps())
        # By step name (what the execution looks up), and by layer name (for people).
        self._chain_steps = network_chains(model, layers)
        self.chains = {
            layers[head].name: [layers[step].name for step in chain]
            for head, chain in self._chain_steps.items()
        }
        self.last_run: RunReport | None = None

    @property
    def scheme(self):
        return self.model.scheme

    @property
    def act_bits(self) -> int:
        return self.model.act_bits

    @property
    def input_scales(self) -> tuple[float | None, ...]:
        """The host's quantization step of each input (None for index inputs)."""
        steps = {step.name: step for step in self.model.steps}
        return tuple(
            steps[name].scale.scale if steps[name].kind == INT else None
            for name in self.model.input_names
        )

    @property
    def output_scales(self):
        """One output step per output (None for a float output), shaped like the outputs."""
        steps = {step.name: step for step in self.model.steps}

        def scale(item):
            step = steps[item.name]
            return step.scale.scale if step.kind == INT else None

        return map_aggregate(self.model.outputs, lambda v: scale(v) if isinstance(v, Ref) else v)

    @property
    def macs_per_sample(self) -> int:
        return sum(layer.macs_per_sample for layer in self.core_layers)

    @property
    def weight_memory_bits(self) -> int:
        return sum(layer.weight_memory_bits for layer in self.core_layers)

    def _numpy(self, outputs):
        return map_aggregate(outputs, lambda v: v.detach().numpy() if torch.is_tensor(v) else v)

    def _evaluate(self, inputs, execution: Execution):
        tensors = as_tensors(inputs, len(self.model.input_names))
        with torch.no_grad():
            outputs = self.model.evaluate(tensors, execution)
        outputs = self._numpy(outputs)
        return tuple(outputs) if isinstance(outputs, list) else outputs

    def run(self, accelerator, inputs, *, measure_cycles: bool = True, whole_network: bool = True):
        """``(outputs, cycles)``: the outputs (float64 numpy, dequantized; a tuple for
        several) with every core product on ``accelerator``, and the device cycles per
        core layer for the whole batch (0 unless ``measure_cycles``).

        With ``whole_network`` each chain in `chains`, cut to the device's layer banks,
        goes to the accelerator as one network (`Accelerator.load_network`): on chip when
        the device holds it (each layer then reports its share of the chain's measured
        cycles, `Accelerator.last_network_layers`); else layer by layer."""
        chains = {}
        if whole_network and hasattr(accelerator, "run_network"):
            chains = cut_chains(self._chain_steps, accelerator.identify().layer_banks)
        execution = Execution(
            accelerator=accelerator,
            frozen=self.layers,
            measure_cycles=measure_cycles,
            acc_bits=self.model.settings.acc_bits,
            chains=chains,
        )
        tensors = as_tensors(inputs, len(self.model.input_names))
        outputs = self._evaluate(tensors, execution)
        report = RunReport(
            batch=int(tensors[0].shape[0]) if tensors[0].ndim else 1,
            chains={
                self.layers[head].name: [self.layers[step].name for step in chain]
                for head, chain in chains.items()
            },
            whole=execution.whole,
        )
        for layer in self.core_layers:
            report.layers[layer.name] = execution.reports.get(layer.name, ProductReport())
        self.last_run = report
        return outputs, report.cycles

    def fake_quant(self, inputs):
        """The same program with torch computing the core products (numpy outputs)."""
        execution = Execution(frozen=self.layers, acc_bits=self.model.settings.acc_bits)
        return self._evaluate(inputs, execution)

    def summary(self) -> list[dict]:
        """Per core layer: name, kind, K, N, rows and MACs per sample, widths, weight bits."""
        return [
            {
                "name": layer.name,
                "kind": layer.kind,
                "k": layer.k,
                "n": layer.n,
                "rows_per_sample": layer.rows_per_sample,
                "macs_per_sample": layer.macs_per_sample,
                "input_bits": layer.input_bits,
                "output_bits": layer.output_bits,
                "relu": layer.requant.relu,
                "weight_memory_bits": layer.weight_memory_bits,
            }
            for layer in self.core_layers
        ]


def network_chains(
    model: QuantizedModel, layers: dict[str, FrozenCoreLayer]
) -> dict[str, list[str]]:
    """Chains of fully connected core steps, by first step: each one's only input is the
    previous one's int result and nothing else reads that result, so a device can run
    the chain as one network, the values between its layers never leaving the chip.
    Chains are as long as the graph allows (`Program.run` cuts them to the device)."""
    readers: dict[str, int] = {}
    for step in model.steps:
        for name in step.inputs():
            readers[name] = readers.get(name, 0) + 1
    outputs = set(refs_in(model.outputs))
    chains: dict[str, list[str]] = {}
    chain_of: dict[str, str] = {}  # step -> the first step of its chain
    for step in model.core_steps():
        (source,) = step.args
        name = getattr(source, "name", None)
        first, second = layers.get(name), layers[step.name]
        if (
            first is not None
            and readers.get(name) == 1
            and name not in outputs
            and step.input_quantizer is None
            and not (first.wide or second.wide)
            and first.geometry is None
            and second.geometry is None
        ):
            head = chain_of.get(name, name)
            chains.setdefault(head, [head]).append(step.name)
            chain_of[step.name] = head
    return chains


def cut_chains(chains: dict[str, list[str]], longest: int) -> dict[str, list[str]]:
    """``chains`` cut into pieces of at most ``longest`` steps (a device's layer banks),
    by first step; a piece of one step is no chain."""
    pieces = {}
    for chain in chains.values():
        for start in range(0, len(chain), longest):
            piece = chain[start : start + longest]
            if len(piece) > 1:
                pieces[piece[0]] = piece
    return pieces


def compile_model(
    model,
    example_inputs,
    scheme=None,
    *,
    weight_bits: int | None = None,
    act_bits: int | None = None,
    calibration_inputs=None,
    acc_bits: int = 32,
    input_bits=None,
) -> Program:
    """The `Program` of a trained model (see the module doc and `docs/workloads.md`).

    ``model``: a float ``nn.Module`` (eval-mode statistics; quantized here: post-training
    quantization calibrated on ``calibration_inputs``, default the examples), or what
    `prepare_qat` returned (its frozen quantizers are used as they are; give
    ``calibration_inputs`` to re-freeze first). ``scheme``: a `WeightScheme` or its name
    (default ``"sp2"``; for a `QuantizedModel`, its own); ``weight_bits`` (default 4) and
    ``act_bits`` (default 8) likewise. ``acc_bits``: the core accumulator (32).
    ``input_bits``: width of real inputs, up to 16 (default ``act_bits``).

    Raises `CompileError` (a ``ValueError``) naming the node for an unsupported op, a
    grouped convolution, or a layer whose accumulator could overflow ``acc_bits``.
    """
    if isinstance(model, QuantizedModel):
        settings = model.settings
        asked = {
            "scheme": None
            if scheme is None
            else resolve_scheme(scheme, weight_bits or settings.scheme.bits),
            "weight_bits": weight_bits,
            "act_bits": act_bits,
        }
        have = {
            "scheme": settings.scheme,
            "weight_bits": settings.scheme.bits,
            "act_bits": settings.act_bits,
        }
        for key, value in asked.items():
            if value is not None and value != have[key]:
                raise ValueError(
                    f"{key}={value!r} differs from the QAT model's {have[key]!r}; a QuantizedModel "
                    f"compiles with the settings it was prepared with"
                )
        if acc_bits != settings.acc_bits:
            settings = copy.copy(settings)
            settings.acc_bits = acc_bits
        quantized = copy.deepcopy(model)
        quantized.settings = settings
        if calibration_inputs is not None:
            quantized.freeze(calibration_inputs)
    else:
        quantized = prepare_qat(
            model,
            example_inputs,
            "sp2" if scheme is None else scheme,
            4 if weight_bits is None else weight_bits,
            8 if act_bits is None else act_bits,
            calibration_inputs,
            input_bits=input_bits,
            acc_bits=acc_bits,
        )
    quantized.eval()
    layers = {}
    for step in quantized.core_steps():
        try:
            layer = step.layer.frozen(step.input_bits, step.input_scale.scale, acc_bits)
        except (ValueError, StepError) as error:
            raise CompileError(f"node {step.name!r} ({step.description}): {error}") from error
        _check_layer_fits(step, layer)
        layers[step.name] = layer
    return Program(quantized, layers)
