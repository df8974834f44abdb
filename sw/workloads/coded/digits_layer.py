"""Integer operands from a quantized ML layer: the digits MLP's first layer, coded.

A 64-32-10 MLP is trained on scikit-learn's 8x8 digits (scikit-learn's own
`MLPClassifier`: a second of CPU, no torch), its first layer quantized like the
digits workload's (`sw.quant`: SP2 4-bit weights per output channel, 8-bit inputs,
a fixed-point requantization to 8-bit outputs). The coded product of the test
images' integer inputs with the layer's integer weights must equal the kernel's raw
accumulators bit for bit (and so its requantized outputs too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.kernel import LayerSpec, decode, matmul, requantize


@dataclass(frozen=True)
class QuantizedLayer:
    """One core layer and its test inputs: ``y = requant(x @ decode(codes))``."""

    spec: LayerSpec
    codes: np.ndarray  # (K, N)
    x: np.ndarray  # (M, K) int8 test inputs
    labels: np.ndarray  # (M,) digit labels of those inputs
    float_accuracy: float  # the float MLP on the test images
    second_layer: tuple[np.ndarray, np.ndarray]  # float (W, b) of the output layer
    output_scale: float  # real value of one step of the first layer's outputs

    @property
    def weights(self) -> np.ndarray:
        """The integer weights (K, N) the codes stand for."""
        return decode(self.codes, self.spec)

    def raw(self) -> np.ndarray:
        """The kernel's raw accumulators (the reference), (M, N) int64."""
        return matmul(self.x, self.codes, self.spec.with_requant(None))

    def accuracy(self, accumulators: np.ndarray) -> float:
        """Test accuracy with the first layer's accumulators given, the rest in float."""
        hidden = requantize(accumulators, self.spec.requant) * self.output_scale
        w, b = self.second_layer
        return float(np.mean((hidden @ w + b).argmax(axis=1) == self.labels))


def quantized_digits_layer(*, hidden: int = 32, scheme: str = "sp2", seed: int = 0):
    """Train the MLP (seeded) and quantize its first layer (see the module docstring)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from sw.data import load_digits_dataset
    from sw.quant import WeightScheme, build_requant, calibrate_scale, quantize, quantize_weights

    data = load_digits_dataset()
    model = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=300, random_state=seed)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.x_train, data.y_train)
    w1, b1 = model.coefs_[0], model.intercepts_[0]  # (64, hidden), (hidden,)

    act_bits = 8
    in_scale = calibrate_scale(data.x_train, act_bits)
    fit = quantize_weights(w1.T, WeightScheme(scheme, 4))
    hidden_train = np.maximum(data.x_train @ w1 + b1, 0.0)
    out_scale = calibrate_scale(hidden_train, act_bits)
    requant = build_requant(
        in_scale=in_scale,
        weight_scales=fit.scales,
        out_scale=out_scale,
        bias=b1,
        relu=True,
        out_bits=act_bits,
    )
    spec = fit.layer_spec(act_bits=act_bits, requant=requant)
    return QuantizedLayer(
        spec=spec,
        codes=fit.codes(),
        x=quantize(data.x_test, in_scale, act_bits),
        labels=data.y_test,
        float_accuracy=float(model.score(data.x_test, data.y_test)),
        second_layer=(model.coefs_[1], model.intercepts_[1]),
        output_scale=out_scale,
    )
