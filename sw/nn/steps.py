"""The steps of a compiled graph, and how each one computes.

Every value between steps is one of four kinds:

``int``
    A quantized tensor: integers (carried as float64, exact below 2**53) with a static
    per-tensor scale and width (`ActivationQuantizer` or `DerivedScale`).
``float``
    A real tensor (float64), after a float host step (sigmoid, softmax, ...).
``index``
    Integer indices (int64), e.g. an embedding's input.
``meta``
    Python values: sizes, shapes, tuples of them.

One `Execution` decides where the core layers' products run: in torch (the fake-quant
forward, `QuantizedModel` and `Program.fake_quant`) or on an accelerator through
`run_product` (`Program.run`). Everything else runs the same code in both, so the two
differ only if the device's product differs from torch's exact integer product.

Forward values are exact; in training, every rounding has a straight-through gradient
(`sw.quant.straight_through`) taken from the real-valued expression it rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.fx.node import map_aggregate

from sw.kernel import ProductReport, Requant, requantize, run_product
from sw.quant import common_shift_multipliers, round_half_away, straight_through

from .layers import ActivationQuantizer, CoreLayer, DerivedScale, EmbeddingTable, FrozenCoreLayer

INT, FLOAT, INDEX, META = "int", "float", "index", "meta"


class StepError(ValueError):
    """A step failed on the values it was given; the message names the node."""


@dataclass(frozen=True)
class Ref:
    """A reference to the value of another step (by its fx node name)."""

    name: str


def refs_in(structure) -> list[str]:
    found: list[str] = []
    map_aggregate(structure, lambda v: found.append(v.name) if isinstance(v, Ref) else None)
    return found


@dataclass
class Execution:
    """One evaluation: where core products run and what is recorded.

    ``accelerator`` None: products in torch (fake quantization). ``frozen``: the
    compiled layers by node name (a `Program`); None: built from the live parameters
    (a `QuantizedModel`, training or not). ``calibrating``: uncalibrated scales are set
    from the values that reach them.
    """

    accelerator: object = None
    frozen: dict[str, FrozenCoreLayer] | None = None
    training: bool = False
    calibrating: bool = False
    measure_cycles: bool = False
    acc_bits: int = 32
    reports: dict[str, ProductReport] = field(default_factory=dict)
    # Chains of core layers run as one network on the device (`Program.chains`), by
    # first step: the first one computes them all, the others take their results from
    # `chained` (None but for the last: nothing else reads the values in between).
    chains: dict[str, list[str]] = field(default_factory=dict)
    chained: dict[str, torch.Tensor | None] = field(default_factory=dict)
    whole: dict[str, bool] = field(default_factory=dict)  # ran on chip, by first layer

    def record(self, name: str, report: ProductReport) -> None:
        self.reports[name] = self.reports.get(name, ProductReport()) + report


class Step:
    """One node of the graph. ``kind`` and ``scale`` (for ``int``) are static."""

    kind: str = INT
    scale = None  # ActivationQuantizer | DerivedScale for int values

    def __init__(self, name: str, description: str, args=(), kwargs=None):
        self.name = name
        self.description = description  # e.g. "Conv2d module 'features.0'", for errors
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})

    def inputs(self) -> list[str]:
        return refs_in((self.args, self.kwargs))

    def resolve(self, env: dict, structure, dequantize: dict | None = None):
        """``structure`` with every `Ref` replaced by its value (int values as reals if
        ``dequantize`` maps their names to scales)."""

        def value(item):
            if not isinstance(item, Ref):
                return item
            v = env[item.name]
            if dequantize and item.name in dequantize:
                return v * dequantize[item.name].scale
            return v

        return map_aggregate(structure, value)

    def run(self, execution: Execution, env: dict):
        raise NotImplementedError

    def fail(self, problem: str) -> StepError:
        return StepError(f"node {self.name!r} ({self.description}): {problem}")


def _masked_gradient(exact, surrogate, low: float, high: float, relu: bool = False):
    """``exact`` forward; ``surrogate``'s gradient where the result did not saturate.

    Saturation at ``low``/``high`` passes the gradient up to half a step beyond (as
    ``clamp(round(v))`` does); a folded ReLU passes none at or below zero (as
    ``round(relu(v))`` does: a dead channel's bias must not drift).
    """
    if surrogate is None or not surrogate.requires_grad:
        return exact
    floor = surrogate > 0 if relu else surrogate > low - 0.5
    inside = floor & (surrogate < high + 0.5)
    return straight_through(exact, surrogate * inside)


# ---- inputs and constants --------------------------------------------------------------


class InputStep(Step):
    """A positional input: a real tensor quantized on the host, or indices."""

    def __init__(self, name, description, position: int, kind: str, quantizer=None):
        super().__init__(name, description)
        self.position, self.kind, self.scale = position, kind, quantizer

    def run(self, execution, env):
        value = env["__inputs__"][self.position]
        if self.kind == INDEX:
            return value
        return self.scale.quantize(value, execution.calibrating)


class ConstantStep(Step):
    """A tensor attribute of the model (``get_attr``): a real or an index constant."""

    def __init__(self, name, description, value: torch.Tensor):
        super().__init__(name, description)
        self.kind = FLOAT if value.dtype.is_floating_point else INDEX
        self.value = value.detach().to(torch.float64 if self.kind == FLOAT else torch.int64)

    def run(self, execution, env):
        return self.value


# ---- the core --------------------------------------------------------------------------


class CoreStep(Step):
    """A Linear/Conv on the core: ``requant(x @ W^T + bias)``, ReLU folded in.

    ``input_scale`` is the scale of the int input; for a float input, ``input_quantizer``
    quantizes it on the host first (``act_bits``, symmetric).
    """

    def __init__(
        self, name, description, source: Ref, layer: CoreLayer, input_scale, input_quantizer
    ):
        super().__init__(name, description, (source,))
        self.layer = layer
        self.input_quantizer = input_quantizer
        self.input_scale = input_quantizer if input_quantizer is not None else input_scale
        self.scale = layer.output

    @property
    def input_bits(self) -> int:
        return self.input_scale.bits

    def run(self, execution, env):
        if self.name in execution.chained:  # computed on chip with the layer before
            return execution.chained.pop(self.name)
        (x,) = self.resolve(env, self.args)
        if self.input_quantizer is not None:
            x = self.input_quantizer.quantize(x, execution.calibrating)
        try:
            if execution.accelerator is not None:
                return self._on_device(execution, x)
            return self._in_torch(execution, x)
        except StepError:
            raise
        except ValueError as error:
            raise self.fail(str(error)) from error

    def _product(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        geometry = self.layer.geometry
        if geometry is None:
            if x.shape[-1] != weights.shape[1]:
                raise self.fail(
                    f"input has {x.shape[-1]} features, the layer takes {weights.shape[1]}"
                )
            return nn.functional.linear(x, weights)
        return geometry.convolve(x, weights)

    def _channels_last(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.layer.geometry is None else t.movedim(1, -1)

    def _channels_back(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.layer.geometry is None else t.movedim(-1, 1)

    def _in_torch(self, execution, x):
        layer = self.layer
        in_scale = self.input_scale.scale
        if execution.frozen is not None:
            frozen = execution.frozen[self.name]
            weights, requant = frozen.integer_weights(), frozen.requant
            bias_steps = None
        else:
            weights = layer.integer_weights()
            bias_steps = layer.bias_steps(in_scale)
        acc = self._channels_last(self._product(x, weights))
        if execution.frozen is None:
            if execution.calibrating and not layer.output.calibrated:
                with torch.no_grad():
                    real = acc.detach() if bias_steps is None else acc.detach() + bias_steps
                    real = real * (in_scale * layer.weight_scales)
                    layer.output.calibrate(torch.relu(real) if layer.relu else real)
            requant = layer.requant(in_scale, layer.output.bits, execution.acc_bits)
        flat = acc.detach().reshape(-1, acc.shape[-1]).numpy().astype(np.int64)
        exact = torch.as_tensor(requantize(flat, requant), dtype=torch.float64).reshape(acc.shape)
        surrogate = None
        if torch.is_grad_enabled() and (acc.requires_grad or bias_steps is not None):
            ratio = torch.tensor(
                [m / 2.0**s for m, s in zip(requant.multiplier, requant.shift, strict=True)],
                dtype=torch.float64,
            )
            surrogate = (acc if bias_steps is None else acc + bias_steps) * ratio
        low, high = layer.output.limits
        out = _masked_gradient(exact, surrogate, low, high, relu=layer.relu)
        return self._channels_back(out)

    def _on_device(self, execution, x):
        frozen = execution.frozen[self.name]
        geometry = frozen.geometry
        if geometry is None:
            rows = x.reshape(-1, x.shape[-1])
        else:
            rows, spatial = geometry.im2col(x)
        rows = rows.numpy().astype(np.int64)
        chain = execution.chains.get(self.name)
        if chain is not None:
            # This layer and the next ones as a network: the device keeps the values
            # between them on chip (or runs them one by one when they do not fit).
            layers = [execution.frozen[name] for name in chain]
            accelerator = execution.accelerator
            accelerator.load_network([(layer.spec, layer.codes) for layer in layers])
            y = accelerator.run_network(rows, measure_cycles=execution.measure_cycles)
            for name, report in zip(chain, accelerator.last_network_layers, strict=True):
                execution.record(execution.frozen[name].name, report)
            execution.whole[frozen.name] = accelerator.network_problem is None
            execution.chained.update(dict.fromkeys(chain[1:-1]))
            y = torch.as_tensor(y, dtype=torch.float64)
            execution.chained[chain[-1]] = y.reshape(*x.shape[:-1], layers[-1].n)
            return None  # only the next layer reads this one's result
        if frozen.wide:
            acc, report = wide_product(execution, frozen, rows)
            y = requantize(acc, frozen.requant)
        else:
            y, report = run_product(
                execution.accelerator,
                frozen.spec,
                frozen.codes,
                rows,
                measure_cycles=execution.measure_cycles,
            )
        execution.record(frozen.name, report)
        y = torch.as_tensor(y, dtype=torch.float64)
        if geometry is None:
            return y.reshape(*x.shape[:-1], frozen.n)
        return geometry.fold_output(y, x.shape[0], spatial)


def wide_product(execution, frozen: FrozenCoreLayer, rows: np.ndarray):
    """Raw accumulators of a layer whose inputs are wider than the device's activations.

    The inputs are written in balanced base-256 digits (`sw.kernel.exact`'s digit sets,
    digits -128..127), the digits are stacked along M and run raw through one
    `run_product`, and the host recombines ``sum_i 256**i * (digit_i @ W)`` in int64
    (the compiler checked the full sum's bound).
    """
    from sw.kernel.exact import digit_set

    low, high = frozen.spec.act_range
    digits = digit_set(range(low, high + 1)).split(rows)
    stacked, report = run_product(
        execution.accelerator,
        frozen.spec,
        frozen.codes,
        np.concatenate(digits, axis=0),
        measure_cycles=execution.measure_cycles,
    )
    blocks = stacked.reshape(len(digits), rows.shape[0], frozen.n)
    base = high - low + 1
    acc = np.zeros((rows.shape[0], frozen.n), dtype=np.int64)
    for block in blocks[::-1]:
        acc = acc * base + block
    return acc, report


class EmbeddingStep(Step):
    """Rows of a quantized table gathered by index: exact."""

    def __init__(self, name, description, source: Ref, table: EmbeddingTable):
        super().__init__(name, description, (source,))
        self.table = table
        self.scale = table.output

    def run(self, execution, env):
        (indices,) = self.resolve(env, self.args)
        try:
            return self.table.gather(indices)
        except ValueError as error:
            raise self.fail(str(error)) from error


# ---- host steps in the integer domain ----------------------------------------------------


class DirectStep(Step):
    """An op applied as written: data movement and max pooling on int values (exact, the
    scale passes through), a float op on real values, index arithmetic, or meta values.

    ``dequantize`` maps the names of int inputs to their scales for a float op: those
    are multiplied out first (the precision lost is their quantization step).
    """

    def __init__(
        self, name, description, function, args, kwargs, kind, scale=None, dequantize=None
    ):
        super().__init__(name, description, args, kwargs)
        self.function = function
        self.kind, self.scale = kind, scale
        self.dequantize = dequantize or {}

    def run(self, execution, env):
        args, kwargs = self.resolve(env, (self.args, self.kwargs), self.dequantize)
        try:
            return self.function(*args, **kwargs)
        except (RuntimeError, ValueError, TypeError, IndexError) as error:
            raise self.fail(str(error)) from error


class DropoutStep(Step):
    """Identity at inference. In training, dropout that keeps int values on their grid
    (the survivors scaled by 1/(1-p), rounded and saturated)."""

    def __init__(self, name, description, source: Ref, p: float, kind, scale):
        super().__init__(name, description, (source,))
        self.p, self.kind, self.scale = p, kind, scale

    def run(self, execution, env):
        (x,) = self.resolve(env, self.args)
        if not execution.training or self.p == 0:
            return x
        dropped = nn.functional.dropout(x, self.p, training=True)
        if self.kind != INT:
            return dropped
        low, high = self.scale.limits
        return torch.clamp(straight_through(torch.round(dropped), dropped), low, high)


class ScaleStep(Step):
    """Multiplication by a constant ``factor`` folded into the scale: exact.

    The integers stay (negated for a negative factor, saturated to ``±qmax`` so the
    negation of the most negative value fits); the scale becomes ``scale * |factor|``.
    """

    def __init__(self, name, description, source: Ref, factor: float, parent_scale):
        super().__init__(name, description, (source,))
        if factor == 0:
            raise self.fail("multiplication by 0 is not supported on quantized values")
        self.negate = factor < 0
        self.scale = DerivedScale(parent_scale, abs(factor))

    def run(self, execution, env):
        (x,) = self.resolve(env, self.args)
        if not self.negate:
            return x
        low, high = self.scale.limits
        return torch.clamp(-x, -high, high)


def divide_round(sums: torch.Tensor, counts) -> torch.Tensor:
    """``round_half_away(sums / counts)`` exactly, for integer sums and positive counts.

    Computed as ``sign(s) * floor((2|s| + n) / (2n))``: the quotient of two exact
    integers is correctly rounded, so its floor is exact while ``|s| < 2**52``.
    """
    twice = 2 * sums.abs() + counts
    return torch.sign(sums) * torch.floor(twice / (2 * counts))


class AverageStep(Step):
    """Average pooling and mean at the input's scale: an exact sum, then one rounding
    division by the count (half away from zero; the precision lost is that rounding)."""

    def __init__(self, name, description, source: Ref, window_sums, parent_scale):
        super().__init__(name, description, (source,))
        self.window_sums = window_sums  # x -> (sums, counts): exact integer sums
        self.scale = DerivedScale(parent_scale, 1.0)

    def run(self, execution, env):
        (x,) = self.resolve(env, self.args)
        try:
            sums, counts = self.window_sums(x)
        except (RuntimeError, ValueError) as error:
            raise self.fail(str(error)) from error
        exact = divide_round(sums.detach(), counts)
        surrogate = sums / counts if sums.requires_grad else None
        return _masked_gradient(exact, surrogate, -np.inf, np.inf)


@dataclass(frozen=True)
class Term:
    """``coefficient * value`` of an int input, in a `RescaleStep`."""

    source: Ref
    coefficient: float
    scale: object  # the input's ActivationQuantizer | DerivedScale


class RescaleStep(Step):
    """Residual add/subtract, sum over dimensions, concat and stack: exact integer sums,
    requantized once to a calibrated output scale.

    Every input ``q_i`` (scale ``s_i``) enters as ``q_i * m_i`` with
    ``m_i / 2**shift ~= c_i * s_i / s_out`` (`common_shift_multipliers`: at least the
    device's 15 bits each); the int64 sum is rounded by the kernel's own `requantize`
    (half away from zero, ReLU if folded, saturation to the output's bits). For
    concat/stack each input is rescaled alone, then joined. The precision lost: one
    rounding to the output step, and the multipliers' 2**-15 relative error.
    """

    def __init__(
        self,
        name,
        description,
        mode: str,
        terms,
        quantizer: ActivationQuantizer,
        *,
        constant=0.0,
        relu=False,
        options=None,
    ):
        super().__init__(name, description, tuple(t.source for t in terms))
        self.mode = mode  # "add", "sum", "cat" or "stack"
        self.terms = tuple(terms)
        self.constant = float(constant)
        self.relu = relu
        self.options = dict(options or {})  # dims for sum, dim for cat/stack
        self.scale = quantizer

    def run(self, execution, env):
        values = list(self.resolve(env, self.args))
        summed = 1  # elements added into each output (bounds the int64 sum)
        if self.mode == "sum":
            total = torch.sum(values[0], **self.options)
            summed = max(1, values[0].numel() // max(1, total.numel()))
            values = [total]
        out = self.scale
        if execution.calibrating and not out.calibrated:
            with torch.no_grad():
                reals = [
                    v * t.coefficient * t.scale.scale
                    for v, t in zip(values, self.terms, strict=True)
                ]
                if self.mode in ("add", "sum"):
                    real = sum(reals[1:], reals[0]) + self.constant
                else:
                    real = torch.cat([r.flatten() for r in reals])
                out.calibrate(torch.relu(real) if self.relu else real)
        try:
            if self.mode in ("add", "sum"):
                return self._rescale(values, self.terms, self.constant, summed)
            parts = [
                self._rescale([v], [t], 0.0, 1) for v, t in zip(values, self.terms, strict=True)
            ]
            join = torch.cat if self.mode == "cat" else torch.stack
            return join(parts, **self.options)
        except (RuntimeError, ValueError) as error:
            raise self.fail(str(error)) from error

    def _rescale(self, values, terms, constant: float, summed: int) -> torch.Tensor:
        out_scale = self.scale.scale
        ratios = [t.coefficient * t.scale.scale / out_scale for t in terms]
        bounds = [summed * max(abs(x) for x in t.scale.limits) for t in terms]
        multipliers, shift = common_shift_multipliers(ratios, bounds)
        values = torch.broadcast_tensors(*values) if len(values) > 1 else values
        acc = np.zeros(tuple(values[0].shape), dtype=np.int64)
        for value, multiplier in zip(values, multipliers, strict=True):
            acc += value.detach().numpy().astype(np.int64) * multiplier
        acc += int(round_half_away(constant / out_scale * 2.0**shift))
        requant = Requant(multiplier=(1,), shift=(shift,), relu=self.relu, out_bits=self.scale.bits)
        exact = requantize(acc.reshape(-1, 1), requant).reshape(acc.shape)
        exact = torch.as_tensor(exact, dtype=torch.float64)
        surrogate = None
        if any(v.requires_grad for v in values):
            surrogate = (
                sum(v * r for v, r in zip(values, ratios, strict=True)) + constant / out_scale
            )
        low, high = self.scale.limits
        return _masked_gradient(exact, surrogate, low, high, relu=self.relu)
