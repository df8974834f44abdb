"""Which torch ops the compiler knows, by category, and how errors name them.

`category(node, module)` sorts an fx node (``call_module``, ``call_function`` or
``call_method``) into one of:

``core``      Linear, Conv1d, Conv2d (on the core)
``norm``      BatchNorm1d/2d (folded into the core layer it follows)
``embedding`` Embedding (gather from a quantized table)
``relu``      ReLU: folded into a requantization, else max(q, 0) on the host
``move``      data movement and max pooling (exact; the scale passes through)
``cast``      .float(), .to(), ... (values stay float64; indices may become reals)
``dropout``   dropout (identity at inference)
``average``   average pooling and mean (an exact sum, one rounding division)
``sum``       sum over dimensions (requantized)
``concat``    cat/stack (requantized to one scale)
``add``/``sub``/``mul``/``div``/``neg``  arithmetic (constants fold into scales;
              activation x activation is a float step)
``float``     sigmoid, tanh, softmax, log-softmax, GELU, matmul/bmm (float64 on the host)
``meta``      sizes and shapes (Python values)

None means the op is not supported.
"""

from __future__ import annotations

import builtins
import operator

import torch
from torch import fx, nn

F = nn.functional

MODULE_CATEGORIES: tuple[tuple[tuple[type, ...], str], ...] = (
    ((nn.Linear, nn.Conv1d, nn.Conv2d), "core"),
    ((nn.BatchNorm1d, nn.BatchNorm2d), "norm"),
    ((nn.Embedding,), "embedding"),
    ((nn.ReLU,), "relu"),
    ((nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout), "dropout"),
    (
        (
            nn.Flatten,
            nn.Unflatten,
            nn.Identity,
            nn.MaxPool1d,
            nn.MaxPool2d,
            nn.AdaptiveMaxPool1d,
            nn.AdaptiveMaxPool2d,
        ),
        "move",
    ),
    ((nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d), "average"),
    ((nn.Sigmoid, nn.Tanh, nn.Softmax, nn.LogSoftmax, nn.GELU), "float"),
)


def _table(**groups) -> dict:
    return {op: name for name, ops in groups.items() for op in ops}


FUNCTION_CATEGORIES = _table(
    relu=(torch.relu, F.relu),
    move=(
        torch.flatten,
        torch.reshape,
        torch.transpose,
        torch.permute,
        torch.squeeze,
        torch.unsqueeze,
        torch.split,
        torch.chunk,
        torch.unbind,
        torch.narrow,
        torch.movedim,
        torch.t,
        operator.getitem,
        F.max_pool1d,
        F.max_pool2d,
        torch.max_pool1d,
        torch.max_pool2d,
        F.adaptive_max_pool1d,
        F.adaptive_max_pool2d,
    ),
    dropout=(F.dropout,),
    average=(F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, torch.mean),
    sum=(torch.sum,),
    concat=(torch.cat, torch.concat, torch.stack),
    add=(operator.add, torch.add),
    sub=(operator.sub, torch.sub),
    mul=(operator.mul, torch.mul),
    div=(operator.truediv, torch.div),
    neg=(operator.neg, torch.neg),
    float=(
        torch.sigmoid,
        F.sigmoid,
        torch.tanh,
        F.tanh,
        torch.softmax,
        F.softmax,
        torch.log_softmax,
        F.log_softmax,
        F.gelu,
        torch.matmul,
        operator.matmul,
        torch.bmm,
    ),
)
METHOD_CATEGORIES = _table(
    relu=("relu",),
    move=(
        "view",
        "reshape",
        "flatten",
        "unflatten",
        "permute",
        "transpose",
        "unsqueeze",
        "squeeze",
        "contiguous",
        "t",
        "split",
        "chunk",
        "unbind",
        "narrow",
        "expand",
        "repeat",
        "clone",
        "detach",
        "movedim",
    ),
    cast=("float", "double", "to", "long", "int"),
    average=("mean",),
    sum=("sum",),
    add=("add",),
    sub=("sub",),
    mul=("mul",),
    div=("div",),
    neg=("neg",),
    float=("sigmoid", "tanh", "softmax", "log_softmax", "matmul", "bmm"),
    meta=("size", "dim", "numel"),
)
# Functions that also compute on Python values (sizes, shape entries).
META_FUNCTIONS = {
    builtins.getattr,
    builtins.len,
    operator.getitem,
    operator.add,
    operator.sub,
    operator.mul,
    operator.floordiv,
    operator.truediv,
    operator.mod,
    operator.neg,
}
# Tensor attributes a forward may read (as Python values).
META_ATTRIBUTES = ("shape", "ndim", "dtype")


def category(node: fx.Node, module: nn.Module | None = None) -> str | None:
    """The category of a call node (see the module doc); None when unsupported."""
    if node.op == "call_module":
        for types, name in MODULE_CATEGORIES:
            if isinstance(module, types):
                return name
        return None
    if node.op == "call_function":
        if node.target is builtins.getattr:
            return "meta" if node.args[1] in META_ATTRIBUTES else None
        return FUNCTION_CATEGORIES.get(node.target)
    if node.op == "call_method":
        return METHOD_CATEGORIES.get(node.target)
    return None


def is_relu(node: fx.Node, modules: dict) -> bool:
    module = modules.get(node.target) if node.op == "call_module" else None
    return node.op in ("call_module", "call_function", "call_method") and (
        category(node, module) == "relu"
    )


def describe(node: fx.Node, module: nn.Module | None = None) -> str:
    """How an error names a node's op: "Conv2d module 'features.0'", "function torch.cat"."""
    if node.op == "call_module":
        return f"{type(module).__name__} module {node.target!r}"
    if node.op == "call_function":
        owner = getattr(node.target, "__module__", None) or ""
        name = getattr(node.target, "__name__", str(node.target))
        owner = {"_operator": "operator", "torch._C._nn": "torch.nn.functional"}.get(owner, owner)
        if owner.startswith("torch._C"):
            owner = "torch"
        return f"function {owner + '.' if owner else ''}{name}"
    if node.op == "call_method":
        return f"method .{node.target}()"
    if node.op == "placeholder":
        return f"input {node.target!r}"
    if node.op == "get_attr":
        return f"attribute {node.target!r}"
    return node.op


def callable_of(node: fx.Node, module: nn.Module | None):
    """What computes the node as written: the module, the function or the method."""
    if module is not None:
        return module
    if node.op == "call_function":
        return node.target
    name = node.target

    def method(value, *args, **kwargs):
        return getattr(value, name)(*args, **kwargs)

    method.__name__ = name
    return method
