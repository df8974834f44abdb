"""`qmatmul run digits`: data loaders (8x8 digits, MNIST IDX files) and the command."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest

from sw.data import DataFormatError, load_dataset, load_digits_dataset
from sw.data.mnist import load_mnist, read_idx, write_idx
from sw.workloads import digits

CHANCE = 0.1  # ten classes
SANITY_FLOOR = 3 * CHANCE


def synthetic_mnist(rng, count: int):
    """28x28 images whose class sets which 6x6 block is bright (a learnable toy MNIST)."""
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels, strict=True):
        row, col = divmod(int(label), 4)
        image[2 + 8 * row : 8 + 8 * row, 2 + 6 * col : 8 + 6 * col] = 230
    return images, labels


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    directory = tmp_path / "mnist"
    directory.mkdir()
    for part, count in (("train", 300), ("t10k", 60)):
        images, labels = synthetic_mnist(rng, count)
        write_idx(directory / f"{part}-images-idx3-ubyte", images)
        write_idx(directory / f"{part}-labels-idx1-ubyte", labels)
    return directory


def test_digits_split_is_fixed_and_stratified():
    a, b = load_digits_dataset(), load_digits_dataset()
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert len(a.y_test) == 360 and len(a.y_train) == 1437
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1
    assert set(np.bincount(a.y_test)) <= {35, 36, 37}  # about 36 per class
    np.testing.assert_array_equal(a.resplit(0).y_test, a.y_test)  # split 0 is the fixed one
    assert not np.array_equal(a.resplit(1).y_test, a.y_test)


def test_mnist_loader_reads_idx_files(mnist_dir):
    data = load_mnist(mnist_dir)
    assert data.x_train.shape == (300, 784) and data.x_test.shape == (60, 784)
    assert data.image_shape == (28, 28) and data.features == 784
    assert 0 <= data.x_train.min() and data.x_train.max() <= 1
    raw = read_idx(mnist_dir / "train-images-idx3-ubyte")
    np.testing.assert_allclose(data.x_train[5], raw[5].ravel() / 255)
    # gzipped files are read too
    path = mnist_dir / "t10k-labels-idx1-ubyte"
    (mnist_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    np.testing.assert_array_equal(load_mnist(mnist_dir).y_test, data.y_test)
    assert load_dataset("mnist", mnist_dir).name == "mnist"


def test_missing_mnist_files_are_named(tmp_path, mnist_dir):
    with pytest.raises(DataFormatError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    (mnist_dir / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataFormatError, match="MNIST file missing in .*t10k-images-idx3-ubyte"):
        load_mnist(mnist_dir)
    with pytest.raises(ValueError, match="needs --path"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        load_dataset("cifar")


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda raw: b"\x12\x34" + raw[2:], "is not an IDX file"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "type 0x0d"),
        (lambda raw: raw[:-5], "needs"),
        (lambda raw: raw[:3], "too short"),
        (lambda raw: raw[:6], "ends inside its IDX header"),
    ],
    ids=["magic", "dtype", "truncated", "tiny", "header"],
)
def test_malformed_idx_files_are_refused(mnist_dir, corrupt, message):
    path = mnist_dir / "train-images-idx3-ubyte"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(DataFormatError, match=message):
        load_mnist(mnist_dir)


def test_inconsistent_mnist_sets_are_refused(mnist_dir):
    write_idx(mnist_dir / "train-labels-idx1-ubyte", np.zeros(299, dtype=np.uint8))
    with pytest.raises(DataFormatError, match="300 images but 299 labels"):
        load_mnist(mnist_dir)
    write_idx(mnist_dir / "train-labels-idx1-ubyte", np.full(300, 12, dtype=np.uint8))
    with pytest.raises(DataFormatError, match="labels must be 0..9"):
        load_mnist(mnist_dir)
    write_idx(mnist_dir / "train-labels-idx1-ubyte", np.zeros((300, 2), dtype=np.uint8))
    with pytest.raises(DataFormatError, match="labels must be 1-D"):
        load_mnist(mnist_dir)


def test_digits_command_quick(tmp_path):
    out = tmp_path / "out"
    argv = [
        "--backend", "ref", "--quick", "--epochs", "30", "--qat-epochs", "2",
        "--sweep-bits", "2", "--schemes", "uniform,sp2,codebook", "--out", str(out),
    ]  # fmt: skip
    assert digits.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    table = {row["scheme"]: row for row in results["table"]}
    assert list(table) == ["float", "uniform-4", "sp2-4", "codebook-4"]
    for name in ("uniform-4", "sp2-4", "codebook-4"):
        row = table[name]
        assert row["ref_agreement"] == 1.0
        # The fake-quant forward is the same integer program: every logit is equal.
        assert row["fake_quant_agreement"] == row["fake_quant_output_match"] == 1.0
        assert row["accuracy"] > SANITY_FLOOR and row["ptq_accuracy"] > SANITY_FLOOR
        assert row["cycles_per_inference"] > 0
        assert row["weight_memory_bits"] >= 4 * (64 * 64 + 64 * 10)
    assert table["sp2-4"]["pe_multipliers"] == 0 < table["uniform-4"]["pe_multipliers"]
    assert table["float"]["accuracy"] > SANITY_FLOOR
    sweep = results["sweep"]
    assert len(sweep["runs"]) == 1 * 1 * 1 * 3
    # At 2 bits uniform (symmetric) and SP2 have the same levels {-1, 0, 1}: same models.
    two = sweep["paired_sp2_vs_uniform"]["2"]["accuracy"]
    assert two["ties"] == two["pairs"] == 1
    assert two["verdict"] == "no significant difference (identical level sets)"
    for figure in results["figures"].values():
        assert (tmp_path / "out" / figure.split("/")[-1]).stat().st_size > 10_000


def test_mnist_command_runs_deep_layers_on_ref(tmp_path, mnist_dir):
    # 784 inputs exceed the device's K <= 256: the compiler splits the first layer.
    out = tmp_path / "out"
    argv = [
        "--data", "mnist", "--path", str(mnist_dir), "--backend", "ref", "--no-sweep",
        "--epochs", "20", "--qat-epochs", "1", "--schemes", "sp2", "--out", str(out),
    ]  # fmt: skip
    assert digits.main(argv) == 0
    row = json.loads((out / "results.json").read_text())["table"][1]
    assert row["scheme"] == "sp2-4" and row["ref_agreement"] == 1.0
    assert row["accuracy"] > SANITY_FLOOR


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "mnist"], "needs --path"),
        (["--data", "mnist", "--path", "/nonexistent-qmatmul"], "does not exist"),
        (["--splits", "0"], "--splits must be at least 1"),
        (["--schemes", "sp7"], "not one of"),
        (["--bits", "5", "--schemes", "sp1"], r"sp1 weights need bits in \[2, 4\]"),
        (["--act-bits", "9"], "--act-bits=9 is out of range"),
        (["--sweep-bits", "x"], "not a comma-separated list"),
    ],
)
def test_bad_arguments_get_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        digits.main(argv)
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_unreachable_backend_is_reported_before_training():
    with pytest.raises(SystemExit, match="cannot open backend 'serial:/dev/nonexistent-qmatmul'"):
        digits.main(["--backend", "serial:/dev/nonexistent-qmatmul", "--no-sweep"])


def test_only_the_schemes_a_device_decodes_run_on_it(capsys):
    """The fixed-SPx iCEBreaker design decodes SP2 4-bit only: the default list keeps SP2
    (with a note for the others); asking for uniform by name is refused."""
    from sw.driver import Accelerator
    from sw.quant import parse_schemes

    with Accelerator.open("ref:icebreaker") as device:
        kept = digits.schemes_on_device(
            parse_schemes(digits.DEFAULT_SCHEMES, 4), device.info, 8, asked=False
        )
        assert [s.kind for s in kept] == ["sp2"]
        assert "uniform 4-bit left out" in capsys.readouterr().out.lower()
        with pytest.raises(ValueError, match="cannot run on this device"):
            digits.schemes_on_device(parse_schemes("uniform", 4), device.info, 8, asked=True)
    with Accelerator.open("ref") as device:
        every = parse_schemes(digits.DEFAULT_SCHEMES, 4)
        assert digits.schemes_on_device(every, device.info, 8, asked=False) == every


@pytest.mark.parametrize(
    ("target", "reference"),
    [
        ("sim", "ref"),
        ("sim:icebreaker", "ref:icebreaker"),
        ("sim:ulx3s-85f,stall=0.5,seed=3", "ref:ulx3s-85f"),
        ("ref:icebreaker", "ref:icebreaker"),
        ("serial:/dev/ttyUSB1,3000000", "ref"),
    ],
)
def test_workloads_compare_a_device_with_the_reference_of_the_same_device(target, reference):
    from sw.workloads.backends import reference_target

    assert reference_target(target) == reference
