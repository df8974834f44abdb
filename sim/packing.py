"""Pack and unpack Amaranth data layouts to and from the flat integers a simulator sees."""

from __future__ import annotations

from amaranth import Shape
from amaranth.lib import data


class Packer:
    """Flat-integer view of a `data.Layout`: nested fields are dicts, arrays are lists."""

    def __init__(self, layout):
        self.layout = layout
        self.size = Shape.cast(layout).width

    def pack(self, value) -> int:
        return _pack(self.layout, value) & ((1 << self.size) - 1)

    def unpack(self, word: int):
        return _unpack(self.layout, int(word))


def _pack(shape, value) -> int:
    if isinstance(shape, data.ArrayLayout):
        elem = Shape.cast(shape.elem_shape).width
        return sum(_pack(shape.elem_shape, v) << (i * elem) for i, v in enumerate(value))
    if isinstance(shape, data.Layout):
        word = 0
        for name, field in shape:
            if name in value:
                word |= _pack(field.shape, value[name]) << field.offset
        return word
    width = Shape.cast(shape).width
    value = int(value)
    shape_ = Shape.cast(shape)
    lo = -(1 << (width - 1)) if shape_.signed else 0
    hi = (1 << (width - 1)) - 1 if shape_.signed else (1 << width) - 1
    if not lo <= value <= hi:
        raise ValueError(f"{value} does not fit {shape_}")
    return value & ((1 << width) - 1)


def _unpack(shape, word: int):
    if isinstance(shape, data.ArrayLayout):
        elem = Shape.cast(shape.elem_shape).width
        return [_unpack(shape.elem_shape, word >> (i * elem)) for i in range(shape.length)]
    if isinstance(shape, data.Layout):
        return {name: _unpack(field.shape, word >> field.offset) for name, field in shape}
    shape_ = Shape.cast(shape)
    value = word & ((1 << shape_.width) - 1)
    if shape_.signed and value >> (shape_.width - 1):
        value -= 1 << shape_.width
    return value
