"""Capture a torch model with torch.fx and turn its graph into steps (`sw.nn.steps`).

`trace` captures the model (`torch.fx.symbolic_trace`) and runs it once on the
example inputs to learn every value's shape and dtype; `GraphBuilder` maps each
node to a step (the categories of `sw.nn.ops`):

- core: ``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d`` (groups=1); a ``BatchNorm1d/2d``
  that alone consumes one is folded into its weights and bias, and a ReLU that alone
  consumes the result into its requantization;
- host, integer and exact: data movement (view, reshape, flatten, permute, transpose,
  squeeze, unsqueeze, indexing, split, ...), max pooling, ReLU, dropout (identity at
  inference), multiplication or division by a constant (folded into the scale),
  average pooling and mean (exact division), add/subtract, sum, concat and stack
  (requantized to a calibrated scale; a ReLU that alone follows an add is folded in),
  embedding gather;
- host, float64, after the int inputs are dequantized: sigmoid, tanh, softmax,
  log-softmax, GELU, and products of two activations (``*``, ``/``, ``@``, matmul,
  bmm);
- index arithmetic on integer inputs, and Python values (sizes, shapes).

Anything else raises `CompileError` naming the node and its op. After the steps exist,
`mark_wide_values` decides which requantized values are 16-bit: the program's outputs
and whatever feeds a float step, through the steps that only move or combine values.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import fx, nn

from sw.kernel.spec import ACT_BITS_RANGE, OUT_BITS_RANGE
from sw.quant import WeightScheme

from .im2col import ConvGeometry
from .layers import (
    WIDE_BITS,
    WIDE_HEADROOM,
    ActivationQuantizer,
    CoreLayer,
    EmbeddingTable,
    fold_batch_norm,
)
from .ops import META_FUNCTIONS, callable_of, category, describe, is_relu
from .pooling import function_window_sums, module_window_sums
from .steps import (
    FLOAT,
    INDEX,
    INT,
    META,
    AverageStep,
    ConstantStep,
    CoreStep,
    DirectStep,
    DropoutStep,
    EmbeddingStep,
    InputStep,
    Ref,
    RescaleStep,
    ScaleStep,
    Step,
    Term,
)


class CompileError(ValueError):
    """A model the compiler cannot put on the core; the message names the node and op."""


@dataclass
class Settings:
    """What the compiler was asked for (see `compile_model`)."""

    scheme: WeightScheme
    act_bits: int
    input_bits: tuple[int | None, ...]  # per positional input (None: act_bits)
    acc_bits: int


def as_input_tuple(inputs) -> tuple:
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs)
    return (inputs,)


def trace(model: nn.Module, example_inputs: tuple) -> fx.GraphModule:
    """The model's graph (torch.fx), with every value's shape from one run on the examples."""
    if not isinstance(model, nn.Module):
        raise CompileError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model).eval()
    if fx.Tracer().is_leaf_module(model, ""):
        # A bare torch layer (e.g. an nn.Linear) would be traced into its functional form.
        model = nn.Sequential(model)
    try:
        graph_module = fx.symbolic_trace(model)
    except Exception as error:  # fx raises many types for untraceable Python
        raise CompileError(f"torch.fx cannot capture the model's graph: {error}") from error
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    example_inputs = _examples_for(model, example_inputs)
    if len(placeholders) != len(example_inputs):
        raise CompileError(
            f"the model's forward takes {len(placeholders)} inputs "
            f"({', '.join(p.target for p in placeholders)}), "
            f"got {len(example_inputs)} example inputs"
        )
    for node, value in zip(placeholders, example_inputs, strict=True):
        if not torch.is_tensor(value):
            raise CompileError(
                f"example input {node.target!r} must be a tensor, got {type(value).__name__}"
            )
    with torch.no_grad():
        try:
            _ShapeRecorder(graph_module).run(*example_inputs)
        except Exception as error:
            raise CompileError(f"the model fails on its example inputs: {error}") from error
    return graph_module


@dataclass(frozen=True)
class TensorInfo:
    """What the compiler needs of a value from the example run: its shape and dtype."""

    shape: tuple[int, ...]
    dtype: torch.dtype


class _ShapeRecorder(fx.Interpreter):
    """Runs the graph once and leaves ``node.meta["tensor_meta"]`` on every node whose
    value holds tensors (a `TensorInfo`, or a tuple of them). torch's ``ShapeProp`` does
    the same but imports sympy (seconds) on first use."""

    def run_node(self, node):
        result = super().run_node(node)
        found = []

        def info(value):
            if torch.is_tensor(value):
                found.append(value)
                return TensorInfo(tuple(value.shape), value.dtype)
            return value

        meta = fx.node.map_aggregate(result, info)
        if found:
            node.meta["tensor_meta"] = meta
        return result


def _examples_for(model: nn.Module, example_inputs: tuple) -> tuple:
    """Arrays as tensors; real inputs in the model's own float dtype (for the shape run)."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    dtype = dtype or torch.get_default_dtype()
    converted = []
    for value in example_inputs:
        if not torch.is_tensor(value) and isinstance(value, (np.ndarray, list)):
            value = torch.as_tensor(np.asarray(value))
        if torch.is_tensor(value) and value.is_floating_point():
            value = value.to(dtype)
        converted.append(value)
    return tuple(converted)


def _tensor_meta(node: fx.Node):
    return node.meta.get("tensor_meta")


def _sole_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    if len(users) == 1 and users[0].args and users[0].args[0] is node:
        return users[0]
    return None


class GraphBuilder:
    """Walks the traced graph once, in order, and makes one step per value."""

    def __init__(self, graph_module: fx.GraphModule, settings: Settings):
        self.gm = graph_module
        self.settings = settings
        self.modules = dict(graph_module.named_modules())
        self.steps: list[Step] = []
        self.by_name: dict[str, Step] = {}
        self.folded: set[str] = set()  # BatchNorm and ReLU nodes folded into a producer
        self.core_layers: dict[str, CoreLayer] = {}
        self.embeddings: dict[str, EmbeddingTable] = {}
        self.host_modules: dict[str, nn.Module] = {}
        self.input_quantizers: list[ActivationQuantizer] = []
        self.float_quantizers: dict[str, ActivationQuantizer] = {}
        self.outputs = None
        self.input_names: list[str] = []

    # ---- helpers ---------------------------------------------------------------------

    def error(self, node: fx.Node, problem: str) -> CompileError:
        return CompileError(f"node {node.name!r} ({describe(node, self.module(node))}): {problem}")

    def module(self, node: fx.Node) -> nn.Module | None:
        return self.modules.get(node.target) if node.op == "call_module" else None

    def refs(self, structure):
        return fx.node.map_arg(structure, lambda n: Ref(n.name))

    def kind_of(self, value) -> str:
        return self.by_name[value.name].kind if isinstance(value, fx.Node) else META

    def scale_of(self, node: fx.Node):
        return self.by_name[node.name].scale

    def tensor_nodes(self, structure) -> list[fx.Node]:
        """The nodes in ``structure`` whose values are tensors (not Python values)."""
        found: list[fx.Node] = []
        fx.node.map_arg(structure, found.append)
        return [n for n in found if self.by_name[n.name].kind != META]

    def add(self, step: Step) -> None:
        self.steps.append(step)
        self.by_name[step.name] = step

    def direct(self, node, kind, scale=None, dequantize=None) -> None:
        """A step that applies the node's own op (see `DirectStep`)."""
        module = self.module(node)
        if module is not None:
            self.host_modules[node.name] = module
        self.add(
            DirectStep(
                node.name,
                describe(node, module),
                callable_of(node, module),
                self.refs(node.args),
                self.refs(node.kwargs),
                kind,
                scale,
                dequantize,
            )
        )

    def fold_relu(self, node: fx.Node) -> tuple[bool, str]:
        """A ReLU that alone consumes ``node`` joins its requantization; the step's name."""
        user = _sole_user(node)
        if user is not None and is_relu(user, self.modules):
            self.folded.add(user.name)
            return True, user.name
        return False, node.name

    # ---- the walk --------------------------------------------------------------------

    def build(self) -> None:
        for node in self.gm.graph.nodes:
            if node.name in self.folded:
                continue
            if node.op == "placeholder":
                self.placeholder(node)
            elif node.op == "get_attr":
                self.attribute(node)
            elif node.op == "output":
                for producer in _nodes_in(node.args[0]):
                    if self.kind_of(producer) == META:
                        raise self.error(producer, "a program output must be a tensor")
                self.outputs = self.refs(node.args[0])
            else:
                self.call(node)

    def placeholder(self, node: fx.Node) -> None:
        position = len(self.input_names)
        self.input_names.append(node.name)
        dtype = _tensor_meta(node).dtype
        if dtype.is_floating_point:
            bits = self.settings.input_bits[position] or self.settings.act_bits
            quantizer = ActivationQuantizer(bits, symmetric=True)
            self.input_quantizers.append(quantizer)
            self.add(InputStep(node.name, describe(node), position, INT, quantizer))
        elif dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            self.add(InputStep(node.name, describe(node), position, INDEX))
        else:
            raise self.error(node, f"inputs must be real or integer tensors, got {dtype}")

    def attribute(self, node: fx.Node) -> None:
        value = self.gm
        for part in node.target.split("."):
            value = getattr(value, part)
        if not torch.is_tensor(value):
            kind = type(value).__name__
            raise self.error(node, f"only tensor attributes are supported, got {kind}")
        self.add(ConstantStep(node.name, describe(node), value))

    def call(self, node: fx.Node) -> None:
        module = self.module(node)
        kind = category(node, module)
        tensors = self.tensor_nodes((node.args, node.kwargs))
        if not tensors and node.op == "call_function" and node.target in META_FUNCTIONS:
            kind = "meta"  # arithmetic on sizes
        if kind is None:
            supported = "module" if module is not None else "op"
            raise self.error(node, f"this {supported} is not supported by the compiler")
        kinds = {self.kind_of(n) for n in tensors}
        if kind == "meta":
            return self.direct(node, META)
        handler = getattr(self, f"on_{kind}")
        return handler(node, kinds)

    # ---- the categories (see `sw.nn.ops`) --------------------------------------------

    def on_norm(self, node, kinds) -> None:
        raise self.error(
            node,
            "a BatchNorm is folded into the Linear/Conv it directly follows (as that "
            "layer's only user); standing alone it is not supported",
        )

    def on_core(self, node: fx.Node, kinds) -> None:
        module = self.module(node)
        last, norm_node, relu = node, None, False
        user = _sole_user(last)
        if user is not None and category(user, self.module(user)) == "norm":
            norm_node = last = user
        user = _sole_user(last)
        if user is not None and is_relu(user, self.modules):
            relu, last = True, user
        source = node.args[0]
        kind = self.kind_of(source)
        if kind not in (INT, FLOAT):
            raise self.error(node, f"a core layer needs real or quantized inputs, not {kind}")
        try:
            geometry = None if isinstance(module, nn.Linear) else ConvGeometry.from_module(module)
        except ValueError as error:
            raise self.error(node, str(error)) from error
        weight = module.weight.detach().to(torch.float64)
        bias = None if module.bias is None else module.bias.detach().to(torch.float64)
        if norm_node is not None:
            try:
                weight, bias = fold_batch_norm(weight, bias, self.module(norm_node))
            except ValueError as error:
                raise self.error(norm_node, str(error)) from error
            self.folded.add(norm_node.name)
        if relu:
            self.folded.add(last.name)
        shape = _tensor_meta(last).shape
        rows = math.prod(shape[1:-1]) if geometry is None else math.prod(shape[2:])
        layer = CoreLayer(
            name=node.target,
            node=last.name,
            weight=weight,
            bias=bias,
            geometry=geometry,
            relu=relu,
            scheme=self.settings.scheme,
            rows_per_sample=int(rows),
        )
        self.core_layers[last.name] = layer
        input_quantizer = None
        if kind == FLOAT:  # one host quantizer per real value, however many layers read it
            if source.name not in self.float_quantizers:
                quantizer = ActivationQuantizer(self.settings.act_bits, symmetric=True)
                self.float_quantizers[source.name] = quantizer
            input_quantizer = self.float_quantizers[source.name]
        self.add(
            CoreStep(
                last.name,
                describe(node, module),
                Ref(source.name),
                layer,
                self.scale_of(source),
                input_quantizer,
            )
        )

    def on_embedding(self, node: fx.Node, kinds) -> None:
        module = self.module(node)
        if kinds != {INDEX}:
            raise self.error(node, "an embedding needs integer indices")
        if module.max_norm is not None:
            raise self.error(node, "max_norm renormalizes rows at lookup; not supported")
        table = EmbeddingTable(
            node.target, module.weight, self.settings.act_bits, module.padding_idx
        )
        self.embeddings[node.name] = table
        source = Ref(node.args[0].name)
        self.add(EmbeddingStep(node.name, describe(node, module), source, table))

    def on_move(self, node: fx.Node, kinds) -> None:
        """Data movement, max pooling: exact on int values; the scale passes through."""
        moved = node.args[0]
        others = self.tensor_nodes((node.args[1:], node.kwargs))
        if any(self.kind_of(n) != INDEX for n in others):
            raise self.error(node, "only index tensors may accompany the moved tensor")
        kind = self.kind_of(moved)
        self.direct(node, kind, self.scale_of(moved) if kind == INT else None)

    on_relu = on_move  # a ReLU that could not be folded: max(q, 0), exact

    def on_cast(self, node: fx.Node, kinds) -> None:
        kind = self.kind_of(node.args[0])
        real = _tensor_meta(node).dtype.is_floating_point
        if kind == INDEX:
            return self.direct(node, FLOAT if real else INDEX)  # indices read as numbers
        if not real:
            raise self.error(node, "casting activations to integers is not supported")
        # Values stay float64 (int values are exact there): the cast is the identity.
        scale = self.scale_of(node.args[0]) if kind == INT else None
        description = describe(node)
        self.add(
            DirectStep(node.name, description, _identity, self.refs(node.args[:1]), {}, kind, scale)
        )

    def on_dropout(self, node: fx.Node, kinds) -> None:
        module = self.module(node)
        if module is not None:
            p = module.p
        else:
            p = node.kwargs.get("p", node.args[1] if len(node.args) > 1 else 0.5)
        source = node.args[0]
        kind = self.kind_of(source)
        scale = self.scale_of(source) if kind == INT else None
        description = describe(node, module)
        self.add(DropoutStep(node.name, description, Ref(source.name), float(p), kind, scale))

    def on_average(self, node: fx.Node, kinds) -> None:
        if kinds == {FLOAT}:
            return self.direct(node, FLOAT)
        if kinds != {INT}:
            raise self.error(node, f"averaging {sorted(kinds)} values is not supported")
        module = self.module(node)
        try:
            if module is not None:
                window_sums = module_window_sums(module)
            else:
                window_sums = function_window_sums(node.target, node.args, node.kwargs)
        except ValueError as error:
            raise self.error(node, str(error)) from error
        source = node.args[0]
        self.add(
            AverageStep(
                node.name,
                describe(node, module),
                Ref(source.name),
                window_sums,
                self.scale_of(source),
            )
        )

    def on_float(self, node: fx.Node, kinds) -> None:
        """A float host step: int inputs are dequantized (16-bit: see `mark_wide_values`)."""
        if INDEX in kinds:
            raise self.error(node, "a float op on index tensors is not supported")
        tensors = self.tensor_nodes((node.args, node.kwargs))
        dequantize = {n.name: self.scale_of(n) for n in tensors if self.kind_of(n) == INT}
        self.direct(node, FLOAT, dequantize=dequantize)

    def new_quantizer(self) -> ActivationQuantizer:
        return ActivationQuantizer(self.settings.act_bits)

    def on_add(self, node: fx.Node, kinds, sign: int = 1) -> None:
        """Add/subtract of int values (and constants): requantized to a calibrated scale."""
        if kinds <= {INDEX}:
            return self.direct(node, INDEX)
        if INDEX in kinds:
            raise self.error(node, "adding indices and activations is not supported")
        unknown = set(node.kwargs) - {"alpha"}
        if unknown:
            raise self.error(node, f"unsupported arguments {sorted(unknown)}")
        if FLOAT in kinds or len(node.args) != 2:
            return self.on_float(node, kinds)
        alpha = node.kwargs.get("alpha", 1)
        terms, constant = [], 0.0
        for position, value in enumerate(node.args):
            coefficient = 1.0 if position == 0 else float(sign * alpha)
            if isinstance(value, fx.Node):
                terms.append(Term(Ref(value.name), coefficient, self.scale_of(value)))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                constant += coefficient * value
            else:
                raise self.error(node, f"cannot add a {type(value).__name__}")
        relu, name = self.fold_relu(node)
        quantizer = self.new_quantizer()
        self.add(
            RescaleStep(name, describe(node), "add", terms, quantizer, constant=constant, relu=relu)
        )

    def on_sub(self, node: fx.Node, kinds) -> None:
        self.on_add(node, kinds, sign=-1)

    def on_mul(self, node: fx.Node, kinds, divide: bool = False) -> None:
        """Times/over a constant: folded into the scale (exact). Activation x activation,
        or a constant over an activation: a float step."""
        if kinds <= {INDEX} and not divide:
            return self.direct(node, INDEX)
        if INDEX in kinds:
            raise self.error(node, "multiplying indices and activations is not supported")
        if len(node.args) != 2 or node.kwargs:
            raise self.error(node, "expected two operands")
        a, b = node.args
        constants = [v for v in (a, b) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if FLOAT in kinds or not constants or (divide and not isinstance(a, fx.Node)):
            return self.on_float(node, kinds)
        factor = float(constants[0])
        if divide:
            if factor == 0:
                raise self.error(node, "division by zero")
            factor = 1.0 / factor
        self.scale(node, a if isinstance(a, fx.Node) else b, factor, kinds)

    def on_div(self, node: fx.Node, kinds) -> None:
        self.on_mul(node, kinds, divide=True)

    def on_neg(self, node: fx.Node, kinds) -> None:
        self.scale(node, node.args[0], -1.0, kinds)

    def scale(self, node: fx.Node, tensor: fx.Node, factor: float, kinds) -> None:
        if FLOAT in kinds:
            return self.on_float(node, kinds)
        if INDEX in kinds:
            return self.direct(node, INDEX)
        if factor == 0:
            raise self.error(node, "multiplication by 0 is not supported on quantized values")
        parent = self.scale_of(tensor)
        self.add(ScaleStep(node.name, describe(node), Ref(tensor.name), factor, parent))

    def on_sum(self, node: fx.Node, kinds) -> None:
        source = node.args[0]
        kind = self.kind_of(source)
        if kind == INDEX:
            return self.direct(node, INDEX)
        if kind == FLOAT:
            return self.on_float(node, kinds)
        options = dict(node.kwargs)
        for position, name in ((1, "dim"), (2, "keepdim")):
            if len(node.args) > position:
                options[name] = node.args[position]
        unknown = set(options) - {"dim", "keepdim"}
        if unknown:
            raise self.error(node, f"unsupported arguments {sorted(unknown)}")
        term = Term(Ref(source.name), 1.0, self.scale_of(source))
        quantizer = self.new_quantizer()
        self.add(RescaleStep(node.name, describe(node), "sum", [term], quantizer, options=options))

    def on_concat(self, node: fx.Node, kinds) -> None:
        tensors = node.args[0] if node.args else node.kwargs.get("tensors")
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        if not isinstance(tensors, (list, tuple)) or not all(
            isinstance(t, fx.Node) for t in tensors
        ):
            raise self.error(node, "expected a list of tensors")
        if kinds == {INDEX}:
            return self.direct(node, INDEX)
        if INDEX in kinds:
            raise self.error(node, "joining indices and activations is not supported")
        if FLOAT in kinds:
            return self.on_float(node, kinds)
        mode = "stack" if node.target is torch.stack else "cat"
        terms = [Term(Ref(t.name), 1.0, self.scale_of(t)) for t in tensors]
        quantizer = self.new_quantizer()
        self.add(
            RescaleStep(node.name, describe(node), mode, terms, quantizer, options={"dim": dim})
        )


def _identity(value, *args, **kwargs):
    return value


def _nodes_in(structure) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg(structure, found.append)
    return found


# ---- which values are 16-bit ------------------------------------------------------------


def mark_wide_values(steps: list[Step], outputs, act_bits: int) -> set[str]:
    """Set the width of every requantized value; return the names of the wide ones.

    Wide (16-bit, `WIDE_HEADROOM`): the program's outputs and the inputs of float steps,
    followed back through steps that move, scale, average, add or join values. Core
    layers, embeddings and host quantizers break the chain (a core layer reading a wide
    value runs one product per activation digit). Everything else: ``act_bits``.
    """
    from .steps import refs_in

    wide = set(refs_in(outputs))
    for step in reversed(steps):
        if step.kind == FLOAT and isinstance(step, DirectStep):
            wide.update(step.dequantize)
        passes = isinstance(step, (DropoutStep, ScaleStep, AverageStep, RescaleStep)) or (
            isinstance(step, DirectStep) and step.kind == INT
        )
        if passes and step.name in wide:
            wide.update(step.inputs())
    for step in steps:
        quantizer = None
        if isinstance(step, CoreStep):
            quantizer = step.layer.output
        elif isinstance(step, RescaleStep):
            quantizer = step.scale
        if quantizer is not None:
            quantizer.bits = WIDE_BITS if step.name in wide else act_bits
            quantizer.headroom = WIDE_HEADROOM if step.name in wide else 1.0
    return wide


def check_settings(settings: Settings) -> None:
    low, high = ACT_BITS_RANGE
    if (
        isinstance(settings.act_bits, bool)
        or not isinstance(settings.act_bits, int)
        or not low <= settings.act_bits <= high
    ):
        raise ValueError(
            f"act_bits={settings.act_bits!r} is out of range; allowed range is [{low}, {high}]"
        )
    for bits in settings.input_bits:
        if bits is not None and (
            isinstance(bits, bool)
            or not isinstance(bits, int)
            or not low <= bits <= OUT_BITS_RANGE[1]
        ):
            raise ValueError(
                f"input_bits={bits!r} is out of range; allowed range is "
                f"[{low}, {OUT_BITS_RANGE[1]}]"
            )
