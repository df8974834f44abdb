"""From a quantized MLP to a program of core layers, and running it on any backend.

`compile_mlp` turns a frozen `QuantMLP` into a `CoreProgram`: per layer a kernel
`LayerSpec` (weight mode, widths, and a `Requant` whose per-channel fixed-point
multiplier/shift carry ``s_in * s_w[n] / s_out`` and whose bias is the float bias in
accumulator units) plus the ``(K, N)`` weight codes.

`execute` runs a program on an `Accelerator` (``ref``, ``sim`` or a board): the host
quantizes the input once, then each layer is loaded and its integer outputs are the
next layer's integer inputs. Every product is computed by the device through the
driver. A layer larger than the device's buffers is split:

- more outputs than the device's ``channels``: column blocks, each with its slice of
  the requantization (exact: output channels are independent);
- more inputs than ``k_max``: row blocks run raw (no requantization) and the host adds
  their int64 accumulators, then applies the kernel's own `requantize`; the full
  depth's worst case is checked against ``acc_bits`` first (`check_depth`), so the sum
  is what one deep layer would have accumulated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sw.kernel import LayerSpec, Requant, check_depth, requantize
from sw.quant import WeightScheme, build_requant, quantize

from .quant_mlp import QuantMLP


@dataclass(frozen=True)
class CoreLayer:
    """One layer on the core: ``y = requant(x @ decode(codes))``."""

    spec: LayerSpec
    codes: np.ndarray  # (K, N) weight codes
    input_scale: float  # real value of one input step
    output_scale: float  # real value of one output step
    weight_scales: np.ndarray  # (N,) real value of one weight step, per output channel
    weight_memory_bits: int  # codes plus the codebook table, if any

    @property
    def k(self) -> int:
        return self.codes.shape[0]

    @property
    def n(self) -> int:
        return self.codes.shape[1]


@dataclass(frozen=True)
class CoreProgram:
    """A compiled MLP: quantize the input, then run the layers in order."""

    scheme: WeightScheme
    input_scale: float
    input_bits: int
    layers: tuple[CoreLayer, ...]

    @property
    def output_scale(self) -> float:
        return self.layers[-1].output_scale

    @property
    def macs_per_input(self) -> int:
        return sum(layer.k * layer.n for layer in self.layers)

    @property
    def weight_memory_bits(self) -> int:
        return sum(layer.weight_memory_bits for layer in self.layers)

    def quantize_input(self, x) -> np.ndarray:
        """Real inputs (M, K) -> int64 activations of ``input_bits``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.layers[0].k:
            raise ValueError(f"inputs must be (M, {self.layers[0].k}), got shape {x.shape}")
        return quantize(x, self.input_scale, self.input_bits)

    def dequantize_output(self, y) -> np.ndarray:
        return np.asarray(y, dtype=np.float64) * self.output_scale

    def run(self, accelerator, x, *, measure_cycles: bool = True) -> ProgramRun:
        """Quantize real inputs ``x`` and run the program on ``accelerator``."""
        return execute(self, accelerator, self.quantize_input(x), measure_cycles=measure_cycles)

    # ---- saving: a readable JSON file ---------------------------------------------

    def to_dict(self) -> dict:
        layers = []
        for layer in self.layers:
            spec, requant = layer.spec, layer.spec.requant
            layers.append(
                {
                    "act_bits": spec.act_bits,
                    "weight_bits": spec.weight_bits,
                    "weight_mode": spec.weight_mode,
                    "spx_terms": spec.spx_terms,
                    "spx_max_exp": spec.spx_max_exp,
                    "codebook": list(spec.codebook) if spec.codebook is not None else None,
                    "acc_bits": spec.acc_bits,
                    "requant": {
                        "multiplier": list(requant.multiplier),
                        "shift": list(requant.shift),
                        "bias": list(requant.bias) if requant.bias is not None else None,
                        "relu": requant.relu,
                        "out_bits": requant.out_bits,
                    },
                    "codes": layer.codes.tolist(),
                    "input_scale": layer.input_scale,
                    "output_scale": layer.output_scale,
                    "weight_scales": layer.weight_scales.tolist(),
                    "weight_memory_bits": layer.weight_memory_bits,
                }
            )
        return {
            "scheme": self.scheme.name,
            "input_scale": self.input_scale,
            "input_bits": self.input_bits,
            "layers": layers,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CoreProgram:
        layers = []
        for entry in data["layers"]:
            requant = Requant(**entry["requant"])
            spec = LayerSpec(
                act_bits=entry["act_bits"],
                weight_bits=entry["weight_bits"],
                weight_mode=entry["weight_mode"],
                spx_terms=entry["spx_terms"],
                spx_max_exp=entry["spx_max_exp"],
                codebook=entry["codebook"],
                acc_bits=entry["acc_bits"],
                requant=requant,
            )
            layers.append(
                CoreLayer(
                    spec=spec,
                    codes=np.asarray(entry["codes"], dtype=np.int64),
                    input_scale=entry["input_scale"],
                    output_scale=entry["output_scale"],
                    weight_scales=np.asarray(entry["weight_scales"], dtype=np.float64),
                    weight_memory_bits=entry["weight_memory_bits"],
                )
            )
        return cls(
            scheme=WeightScheme.parse(data["scheme"]),
            input_scale=data["input_scale"],
            input_bits=data["input_bits"],
            layers=tuple(layers),
        )

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()) + "\n")

    @classmethod
    def load(cls, path: Path) -> CoreProgram:
        return cls.from_dict(json.loads(Path(path).read_text()))


def compile_mlp(model: QuantMLP, *, acc_bits: int = 32) -> CoreProgram:
    """The core program of a frozen `QuantMLP` (PTQ'd or after QAT)."""
    if model.fits is None:
        raise ValueError("the QuantMLP is not calibrated: call freeze(calibration_x) first")
    layers = []
    in_scale = model.input_scale
    for index, (linear, fit) in enumerate(zip(model.linears, model.fits, strict=True)):
        out_scale = model.output_scales[index]
        bias = linear.bias.detach().double().numpy() if linear.bias is not None else None
        requant = build_requant(
            in_scale=in_scale,
            weight_scales=fit.scales,
            out_scale=out_scale,
            bias=bias,
            relu=model.relus[index],
            out_bits=model.layer_bits(index),
            acc_bits=acc_bits,
        )
        spec = fit.layer_spec(act_bits=model.act_bits, acc_bits=acc_bits, requant=requant)
        check_depth(fit.ints.shape[1], spec)  # refuse a layer that could overflow acc_bits
        layers.append(
            CoreLayer(
                spec=spec,
                codes=fit.codes(),
                input_scale=in_scale,
                output_scale=out_scale,
                weight_scales=fit.scales.copy(),
                weight_memory_bits=fit.memory_bits(),
            )
        )
        in_scale = out_scale
    return CoreProgram(
        scheme=model.scheme,
        input_scale=model.input_scale,
        input_bits=model.act_bits,
        layers=tuple(layers),
    )


@dataclass
class ProgramRun:
    """What `execute` returns: the integer outputs and what the device counted."""

    outputs: np.ndarray  # (M, N_last) int64, in units of the program's output_scale
    cycles: int  # device run_cycles summed over every product (0 unless measured)
    layer_cycles: list[int] = field(default_factory=list)
    products: int = 0  # device RUN sequences issued (one per loaded block)


def _column_spec(spec: LayerSpec, start: int, stop: int) -> LayerSpec:
    """The layer's spec for output channels ``start:stop`` (its slice of the requant)."""
    requant = spec.requant
    if requant is None or (start, stop) == (0, requant.channels):
        return spec
    return spec.with_requant(
        Requant(
            multiplier=requant.multiplier[start:stop],
            shift=requant.shift[start:stop],
            bias=requant.bias[start:stop] if requant.bias is not None else None,
            relu=requant.relu,
            out_bits=requant.out_bits,
        )
    )


def _run_block(accelerator, spec, codes, x, measure_cycles: bool, run: ProgramRun) -> np.ndarray:
    accelerator.load_layer(spec, codes)
    y = accelerator.matmul(x, measure_cycles=measure_cycles)
    run.cycles += accelerator.last_run_cycles if measure_cycles else 0
    run.products += 1
    return y


def run_layer(
    accelerator, layer: CoreLayer, x: np.ndarray, run: ProgramRun, *, measure_cycles: bool
) -> np.ndarray:
    """One layer on the device, split into blocks the device's buffers hold."""
    info = accelerator.identify()
    k, n = layer.k, layer.n
    column_blocks = [(s, min(s + info.channels, n)) for s in range(0, n, info.channels)]
    if k <= info.k_max:
        parts = [
            _run_block(
                accelerator,
                _column_spec(layer.spec, start, stop),
                layer.codes[:, start:stop],
                x,
                measure_cycles,
                run,
            )
            for start, stop in column_blocks
        ]
        return np.concatenate(parts, axis=1)
    # Deeper than the device: raw partial accumulators, summed here, requantized by the kernel.
    check_depth(k, layer.spec)
    raw_spec = layer.spec.with_requant(None)
    accumulators = np.zeros((x.shape[0], n), dtype=np.int64)
    for row in range(0, k, info.k_max):
        rows = slice(row, min(row + info.k_max, k))
        for start, stop in column_blocks:
            accumulators[:, start:stop] += _run_block(
                accelerator,
                raw_spec,
                layer.codes[rows, start:stop],
                x[:, rows],
                measure_cycles,
                run,
            )
    if layer.spec.requant is None:
        return accumulators
    return requantize(accumulators, layer.spec.requant)


def execute(
    program: CoreProgram, accelerator, x_int: np.ndarray, *, measure_cycles: bool = True
) -> ProgramRun:
    """Run the program's layers on ``accelerator`` for integer inputs ``x_int`` (M, K)."""
    run = ProgramRun(outputs=np.zeros((0, 0), dtype=np.int64), cycles=0)
    h = np.asarray(x_int, dtype=np.int64)
    for layer in program.layers:
        before = run.cycles
        h = run_layer(accelerator, layer, h, run, measure_cycles=measure_cycles)
        run.layer_cycles.append(run.cycles - before)
    run.outputs = h
    return run
