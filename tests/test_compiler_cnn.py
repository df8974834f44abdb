"""`qmatmul run cnn`: the CNNs compile, run bit-identically and report per-layer sizing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sw.nn import compile_model
from sw.workloads import cnn
from sw.workloads.cnn.models import build_model


def test_signal_cnn_compiles_to_four_core_layers(ref):
    model = build_model("mnist1d", 8, seed=1).eval()
    x = torch.randn(12, 1, 40, generator=torch.Generator().manual_seed(0))
    program = compile_model(model, x, "uniform")
    shapes = [
        (layer.kind, layer.k, layer.n, layer.rows_per_sample) for layer in program.core_layers
    ]
    assert shapes == [
        ("conv1d", 5, 8, 40),
        ("conv1d", 24, 16, 20),
        ("conv1d", 48, 16, 10),
        ("linear", 160, 10, 1),
    ]
    outputs, cycles = program.run(ref, x)
    np.testing.assert_array_equal(outputs, program.fake_quant(x))
    assert list(cycles) == ["features.0", "features.3", "features.6", "classifier"]


def test_cnn_command_on_ref(tmp_path):
    out = tmp_path / "out"
    argv = [
        "--backend", "ref", "--epochs", "3", "--qat-epochs", "1", "--schemes", "sp2",
        "--out", str(out), "--cache", str(tmp_path / "cache"),
    ]  # fmt: skip
    assert cnn.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"] == "digits" and results["test_samples"] == 360
    assert [row["scheme"] for row in results["table"]] == ["sp2-4"]
    for row, check in zip(results["table"], results["targets"], strict=True):
        assert row["ref_identical_images"] == 1.0 and row["fake_quant_identical_images"] == 1.0
        assert row["core_accuracy"] == row["fake_quant_accuracy"] > 0.5
        assert check["fake_quant_vs_core"] == 0.0
        names = [layer["name"] for layer in row["layers"]]
        assert names == ["conv1", "conv2", "classifier"]
        conv2 = row["layers"][1]
        assert (conv2["k"], conv2["n"], conv2["rows_per_image"]) == (144, 16, 64)
        # K = 144 beats per tile hide the 16-cycle drain: the array is nearly always busy.
        assert conv2["utilization"] > 0.9
        total = sum(layer["cycles_per_image"] for layer in row["layers"])
        assert total == pytest.approx(row["cycles_per_image"])
    assert (out / "cnn_digits.png").stat().st_size > 10_000
    assert list((tmp_path / "cache").glob("cnn-digits-*.pt"))  # the float model is cached


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "cifar"], "invalid choice"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--schemes", "sp2", "--bits", "9"], r"sp2 weights need bits in \[2, 8\]"),
    ],
)
def test_bad_arguments_get_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cnn.main(argv)
    assert exit_info.value.code == 2
    assert message.replace("\\", "") in capsys.readouterr().err
