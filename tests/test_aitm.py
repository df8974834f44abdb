"""AITM multi-step conversion modelling: calibrator, model, data, Ali-CCP loader, baselines."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from sw.data import DataFormatError
from sw.workloads.aitm import aliccp
from sw.workloads.aitm.data import (
    FunnelData,
    SyntheticConfig,
    split_funnel,
    synthetic_funnel,
)
from sw.workloads.aitm.model import AITM, AdaptiveInformationTransfer, calibrator_loss, funnel_loss
from sw.workloads.aitm.models import MODELS, ModelConfig, build_model
from sw.workloads.aitm.train import TrainConfig, funnel_metrics, predict, train_model

torch.set_num_threads(1)
TINY = ["--train-samples", "1000", "--val-samples", "500", "--test-samples", "1500"]
SMALL = ModelConfig(tower_dims=(16, 8), dropouts=(0.0, 0.0), baseline_tower_dims=(8,))


# ---- the calibrator --------------------------------------------------------------------


def test_calibrator_is_the_mean_of_summed_rises():
    probs = torch.tensor([[0.5, 0.7, 0.2, 0.6], [0.9, 0.1, 0.05, 0.01], [0.3, 0.3, 0.3, 0.4]])
    # Row by row: rises 0.2 + 0.4, none, 0.1 -> mean over three samples.
    expected = (0.2 + 0.4 + 0.0 + 0.1) / 3
    assert calibrator_loss(probs).item() == pytest.approx(expected, abs=1e-7)
    monotone = torch.tensor([[0.9, 0.5], [0.2, 0.2], [1.0, 0.0]])
    assert calibrator_loss(monotone).item() == 0.0


def test_calibrator_gradient_only_on_violating_pairs():
    probs = torch.tensor([[0.2, 0.6, 0.1]], requires_grad=True)
    calibrator_loss(probs).backward()
    # d/dy of max(y2 - y1, 0) + max(y3 - y2, 0): only the first pair rises.
    assert probs.grad.tolist() == [[-1.0, 1.0, 0.0]]


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (torch.tensor([[0.2, 1.2]]), r"\[0, 1\]"),
        (torch.tensor([[-0.1, 0.2]]), r"\[0, 1\]"),
        (torch.tensor([[float("nan"), 0.2]]), r"\[0, 1\]"),
        (torch.tensor([0.2, 0.1]), r"\(batch, T\)"),
        (torch.tensor([[0.2], [0.1]]), r"T >= 2"),
        (torch.zeros(2, 2, 2), r"\(batch, T\)"),
        (torch.zeros(0, 2), r"batch >= 1"),
    ],
)
def test_calibrator_rejects_bad_probabilities(probs, message):
    with pytest.raises(ValueError, match=message):
        calibrator_loss(probs)


def test_funnel_loss_rejects_a_wrong_number_of_label_columns():
    probs = torch.full((4, 2), 0.5)
    with pytest.raises(ValueError, match="one column per step"):
        funnel_loss(probs, torch.zeros(4, 3), alpha=0.6)
    bce = 2 * math.log(2)  # two steps at p = 0.5
    assert funnel_loss(probs, torch.zeros(4, 2), alpha=0.6).item() == pytest.approx(bce)


# ---- the model ---------------------------------------------------------------------------


def test_ait_module_matches_the_formula_and_torch_rechub():
    from torch_rechub.models.multi_task.aitm import AttentionLayer

    torch.manual_seed(0)
    ait = AdaptiveInformationTransfer(8)
    tower, transferred = torch.randn(5, 8), torch.randn(5, 8)
    z = ait(tower, transferred)
    for row in range(5):
        inputs = [tower[row], transferred[row]]
        scores = torch.stack(
            [ait.h2.weight @ u @ (ait.h3.weight @ u) / math.sqrt(8) for u in inputs]
        )
        weights = torch.softmax(scores, dim=0)
        expected = sum(w * (ait.h1.weight @ u) for w, u in zip(weights, inputs, strict=True))
        torch.testing.assert_close(z[row], expected)
    # torch-rechub's AttentionLayer (q, k, v) with the same weights gives the same z.
    rechub = AttentionLayer(8)
    rechub.q_layer.weight.data = ait.h2.weight.data.clone()
    rechub.k_layer.weight.data = ait.h3.weight.data.clone()
    rechub.v_layer.weight.data = ait.h1.weight.data.clone()
    torch.testing.assert_close(rechub(torch.stack([tower, transferred], dim=1)), z)
    weights = ait.attention_weights(tower, transferred)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(5))


def _model(transfer: str, steps: int = 3) -> AITM:
    torch.manual_seed(0)
    model = AITM(30, 3, 2, steps, tower_dims=(16, 8), dropouts=(0.0, 0.0), transfer=transfer)
    return model.eval()


def test_information_flows_along_the_funnel_only_with_a_transfer():
    ids = torch.randint(0, 30, (6, 3))
    numeric = torch.randn(6, 2)
    for transfer, flows in (("ait", True), ("sum", True), ("none", False)):
        model = _model(transfer)
        before = model(ids, numeric)
        assert before.shape == (6, 3) and before.min() >= 0 and before.max() <= 1
        with torch.no_grad():  # change step 1's tower only
            model.towers[0][0].weight.add_(0.5)
        after = model(ids, numeric)
        changed = (after - before).abs().amax(dim=0)
        assert changed[0] > 1e-4
        assert bool(changed[2] > 1e-6) is flows, transfer


def test_transfer_weights_are_probabilities():
    model = _model("ait")
    weights = model.transfer_weights(torch.randint(0, 30, (4, 3)), torch.randn(4, 2))
    assert weights.shape == (4, 2) and weights.min() > 0 and weights.max() < 1
    with pytest.raises(ValueError, match="transfer='ait'"):
        _model("sum").transfer_weights(torch.randint(0, 30, (4, 3)), torch.randn(4, 2))


def test_aitm_rejects_bad_settings():
    with pytest.raises(ValueError, match="transfer"):
        AITM(10, 2, 1, 2, transfer="gru")
    with pytest.raises(ValueError, match="steps"):
        AITM(10, 2, 1, 1)


# ---- the synthetic funnel ------------------------------------------------------------------


@pytest.mark.parametrize("steps", [2, 4])
def test_synthetic_funnel_rates_imbalance_and_order(steps):
    config = SyntheticConfig(samples=20_000, steps=steps, dependence=0.5)
    data = synthetic_funnel(config, seed=3)
    assert data.labels.shape == (20_000, steps) and data.steps == steps
    rates = np.array(data.positive_rates())
    targets = np.array(config.checked_rates())
    # Within 5 binomial standard deviations of the targets, and sparser step by step.
    assert np.all(np.abs(rates - targets) < 5 * np.sqrt(targets * (1 - targets) / 20_000))
    assert np.all(np.diff(rates) < 0)
    assert np.all(data.labels[:, 1:] <= data.labels[:, :-1])
    assert np.all(np.diff(data.oracle, axis=1) <= 0)
    again = synthetic_funnel(config, seed=3)
    np.testing.assert_array_equal(again.labels, data.labels)
    assert not np.array_equal(synthetic_funnel(config, seed=4).labels, data.labels)


def test_dependence_ties_the_last_step_to_the_first():
    # The known answer: the stronger the dependence, the better the first step's true
    # probability ranks the last step's conversions.
    from sklearn.metrics import roc_auc_score

    def first_ranks_last(rho):
        data = synthetic_funnel(SyntheticConfig(samples=20_000, steps=4, dependence=rho), seed=0)
        return roc_auc_score(data.labels[:, -1], data.oracle[:, 0])

    scores = [first_ranks_last(rho) for rho in (0.0, 0.5, 0.9)]
    assert scores[0] < scores[1] - 0.02 < scores[2] - 0.04


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dependence": 1.5}, "dependence"),
        ({"steps": 3}, "steps"),
        ({"rates": (0.1, 0.2)}, "decreasing"),
        ({"rates": (0.1,)}, "2 values"),
        ({"samples": 10}, "samples"),
    ],
)
def test_synthetic_funnel_rejects_bad_settings(change, message):
    settings = {"samples": 1000, "steps": 2} | change
    with pytest.raises(ValueError, match=message):
        synthetic_funnel(SyntheticConfig(**settings), seed=0)


def test_split_is_disjoint_and_stratified():
    data = synthetic_funnel(SyntheticConfig(samples=5000, steps=2), seed=1)
    split = split_funnel(data, seed=2)
    sizes = [split.train.samples, split.val.samples, split.test.samples]
    assert sum(sizes) == 5000
    positives = [part.labels[:, -1].sum() for part in (split.train, split.val, split.test)]
    total = data.labels[:, -1].sum()
    assert abs(positives[2] - 0.2 * total) <= 1 and abs(positives[1] - 0.1 * total) <= 1


def test_funnel_data_rejects_labels_out_of_funnel_order():
    with pytest.raises(ValueError, match="end-to-end"):
        FunnelData(
            "toy",
            np.zeros((2, 1), dtype=np.int64),
            np.zeros((2, 0), dtype=np.float32),
            np.array([[1, 1], [0, 1]], dtype=np.int8),
            ("a",),
            (1,),
            (),
            ("click", "purchase"),
        )


# ---- every model of the comparison ---------------------------------------------------------


@pytest.mark.parametrize("steps", [2, 4])
def test_every_model_predicts_the_funnel(steps):
    data = synthetic_funnel(SyntheticConfig(samples=300, steps=steps), seed=0)
    for name, spec in MODELS.items():
        if not spec.supports(steps):
            with pytest.raises(ValueError, match="steps"):
                build_model(name, data, SMALL, seed=0)
            continue
        probs = predict(build_model(name, data, SMALL, seed=0), data)
        assert probs.shape == (300, steps), name
        assert probs.min() >= 0 and probs.max() <= 1, name
        if name == "esmm":  # pCTCVR = pCTR * pCVR can never exceed pCTR
            assert np.all(probs[:, 1] <= probs[:, 0])


def test_rechub_models_do_not_share_embedding_tables():
    data = synthetic_funnel(SyntheticConfig(samples=300, steps=2), seed=0)
    first = build_model("mmoe", data, SMALL, seed=0)
    second = build_model("mmoe", data, SMALL, seed=0)
    table = "model.embedding.embed_dict.user_segment.weight"
    assert first.state_dict()[table].data_ptr() != second.state_dict()[table].data_ptr()


def test_training_learns_and_keeps_the_best_epoch():
    data = synthetic_funnel(SyntheticConfig(samples=6000, steps=2, signal=3.0), seed=0)
    split = split_funnel(data, seed=0)
    untrained = funnel_metrics(
        predict(build_model("aitm", split.train, SMALL, seed=0), split.test), split.test.labels
    )
    config = TrainConfig(max_epochs=3, batch_size=256, lr=3e-3)
    model = build_model("aitm", split.train, SMALL, seed=0)
    result = train_model(model, split.train, split.val, config, alpha=0.6, seed=0)
    assert 1 <= result.best_epoch <= result.epochs <= 3
    assert max(result.val_auc_sums) == pytest.approx(
        sum(funnel_metrics(predict(result.model, split.val), split.val.labels)["auc"])
    )
    metrics = funnel_metrics(predict(result.model, split.test), split.test.labels)
    # About 600 test clicks: the click AUC is a steady measure of learning.
    assert metrics["auc"][0] > max(0.62, untrained["auc"][0] + 0.1)
    assert metrics["end_to_end_auc"] > untrained["end_to_end_auc"]


def test_funnel_metrics_counts_violations():
    probs = np.array([[0.5, 0.6], [0.4, 0.1], [0.3, 0.2], [0.2, 0.25]])
    labels = np.array([[1, 1], [1, 0], [0, 0], [0, 0]])
    metrics = funnel_metrics(probs, labels)
    assert metrics["violation_share"] == 0.5
    assert metrics["violation_mean"] == pytest.approx((0.1 + 0.05) / 4)
    with pytest.raises(ValueError, match="only one class"):
        funnel_metrics(probs, np.ones_like(labels))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        funnel_metrics(probs * 2, labels)


# ---- Ali-CCP by path -----------------------------------------------------------------------


def _raw_release(directory, *, train_rows=None):
    """Tiny files in the original release's format (two parts, common features shared)."""
    common = {
        "c1": {"101": ("u1", "1.0"), "121": ("g3", "1.0"), "109_14": ("x", "0.5")},
        "c2": {"101": ("u2", "1.0"), "121": ("g3", "1.0"), "109_14": ("y", "2.5")},
    }
    rows = train_rows or [
        ("1", 1, 1, "c1", {"205": ("i9", "1.0"), "508": ("a", "3.0")}),
        ("2", 0, 0, "c1", {"205": ("i8", "1.0")}),
        ("3", 1, 0, "c2", {"205": ("i9", "1.0"), "508": ("b", "1.0")}),
        ("4", 0, 1, "c2", {"205": ("i7", "1.0")}),  # purchase without click: dropped
        ("5", 0, 0, "c2", {"205": ("i9", "1.0"), "121": ("g4", "1.0")}),  # own 121 wins
    ]
    aliccp.write_raw_sample(directory, "train", rows, common)
    test_rows = [
        ("6", 1, 0, "c1", {"205": ("i9", "1.0")}),
        ("7", 0, 0, "c2", {"205": ("unseen", "1.0"), "508": ("c", "9.0")}),
    ]
    aliccp.write_raw_sample(directory, "test", test_rows, common)
    return directory


def test_raw_release_is_parsed_and_joined(tmp_path):
    loaded = aliccp.load_aliccp(_raw_release(tmp_path), min_count=1)
    assert loaded.layout == "raw" and loaded.val is None
    assert loaded.dropped_purchase_without_click == 1
    train, test = loaded.train, loaded.test
    assert train.samples == 4 and test.samples == 2
    np.testing.assert_array_equal(train.labels, [[1, 1], [0, 0], [1, 0], [0, 0]])
    column = {name: i for i, name in enumerate(train.categorical_names)}
    assert train.categorical_names == aliccp.SPARSE_FIELDS
    # Ids 1..V in sorted order of the training feature ids; 0 = missing or unseen.
    assert train.categorical[:, column["101"]].tolist() == [1, 1, 2, 2]
    assert train.categorical[:, column["121"]].tolist() == [1, 1, 1, 2]
    assert train.categorical[:, column["205"]].tolist() == [2, 1, 2, 2]
    assert test.categorical[:, column["205"]].tolist() == [2, 0]
    assert train.categorical[:, column["210"]].tolist() == [0, 0, 0, 0]
    # Dense values, min-max scaled on the training part (missing -> 0 before scaling).
    dense = {name: i for i, name in enumerate(train.numeric_names)}
    np.testing.assert_allclose(train.numeric[:, dense["D508"]], [1.0, 0.0, 1 / 3, 0.0])
    np.testing.assert_allclose(train.numeric[:, dense["D109_14"]], [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(test.numeric[:, dense["D508"]], [0.0, 1.0])  # 9.0 clipped


def test_raw_release_min_count_and_feature_selection(tmp_path):
    loaded = aliccp.load_aliccp(_raw_release(tmp_path), min_count=3, features=["205", "508"])
    assert loaded.train.categorical_names == ("205", "508")
    assert loaded.train.numeric_names == ("D508",)
    # Only i9 is seen three times in training.
    assert loaded.train.categorical[:, 0].tolist() == [1, 0, 1, 1]
    with pytest.raises(DataFormatError, match="unknown feature '999'"):
        aliccp.load_aliccp(tmp_path, features=["205", "999"])


def _corrupt(path, line_number, text):
    lines = path.read_text().split("\n")
    lines[line_number - 1] = text
    path.write_text("\n".join(lines))


@pytest.mark.parametrize(
    ("file", "line", "text", "message"),
    [
        ("sample_skeleton_train.csv", 2, "2,0,0,c1,1", "6"),
        ("sample_skeleton_train.csv", 2, "2,0,2,c1,1,205\x02i8\x031.0", "must be 0 or 1"),
        ("sample_skeleton_train.csv", 2, "2,0,0,c1,2,205\x02i8\x031.0", "declares '2' features"),
        ("sample_skeleton_train.csv", 2, "2,0,0,c1,1,205\x03i8\x021.0", "field"),
        ("sample_skeleton_train.csv", 2, "2,0,0,c9,1,205\x02i8\x031.0", "'c9' is not in"),
        ("common_features_train.csv", 1, "c1,1", "expected 3"),
    ],
)
def test_raw_release_errors_name_the_file_and_line(tmp_path, file, line, text, message):
    _raw_release(tmp_path)
    _corrupt(tmp_path / file, line, text)
    with pytest.raises(DataFormatError, match=message) as error:
        aliccp.load_aliccp(tmp_path, min_count=1)
    assert file in str(error.value)


def test_missing_files_and_wrong_steps(tmp_path):
    with pytest.raises(DataFormatError, match="does not exist"):
        aliccp.load_aliccp(tmp_path / "nowhere")
    _raw_release(tmp_path)
    (tmp_path / "common_features_test.csv").unlink()
    with pytest.raises(DataFormatError, match="common_features_test.csv"):
        aliccp.load_aliccp(tmp_path)
    with pytest.raises(ValueError, match="2 steps"):
        aliccp.load_aliccp(tmp_path, steps=4)


def _rechub_csvs(directory, header="click,purchase,101,205,D508", rows=None):
    rows = rows or ["1,1,1,2,0.5", "0,0,2,1,0.25", "1,0,1,3,1.0", "0,1,2,2,0.0", "0,0,1,1,0.75"]
    for part in ("train", "val", "test"):
        (directory / f"ali_ccp_{part}.csv").write_text("\n".join([header, *rows]) + "\n")
    return directory


def test_rechub_layout(tmp_path):
    loaded = aliccp.load_aliccp(_rechub_csvs(tmp_path))
    assert loaded.layout == "rechub" and loaded.dropped_purchase_without_click == 3
    train = loaded.train
    assert train.categorical_names == ("101", "205") and train.numeric_names == ("D508",)
    assert train.vocab_sizes == (3, 4)
    np.testing.assert_array_equal(train.labels, [[1, 1], [0, 0], [1, 0], [0, 0]])
    np.testing.assert_allclose(train.numeric[:, 0], [0.5, 0.25, 1.0, 0.75])
    assert loaded.val.samples == loaded.test.samples == 4


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("click,101,205,D508", ["1,1,2,0.5"], "2 label columns .* found 1: click"),
        ("purchase,x,101", ["1,1,2"], "found 1: purchase"),
        ("click,purchase,101", ["1,2,1"], "'purchase' line 2 .* 0 or 1"),
        ("click,purchase,101", ["1,1,a"], "'101' line 2 .* non-negative integers"),
        ("click,purchase,101", ["1,1,-3"], "non-negative integers"),
        ("click,purchase,101,D1", ["1,1,1,x"], "'D1' is not numeric"),
    ],
)
def test_rechub_layout_errors(tmp_path, header, rows, message):
    _rechub_csvs(tmp_path, header, rows)
    with pytest.raises(DataFormatError, match=message):
        aliccp.load_aliccp(tmp_path)


def test_rechub_layout_unknown_feature(tmp_path):
    _rechub_csvs(tmp_path)
    with pytest.raises(DataFormatError, match="unknown feature 'D999'"):
        aliccp.load_aliccp(tmp_path, features=["101", "D999"])


# ---- on the core ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_two_step():
    data = synthetic_funnel(SyntheticConfig(samples=6000, steps=2, signal=3.0), seed=5)
    split = split_funnel(data, seed=5)
    model = build_model("aitm", split.train, SMALL, seed=5)
    config = TrainConfig(max_epochs=4, batch_size=128, lr=3e-3)
    train_model(model, split.train, split.val, config, alpha=0.6, seed=5)
    return model.eval(), split


def test_core_program_matches_fake_quant_and_stays_close_to_float(trained_two_step, ref):
    from scipy.stats import spearmanr

    from sw.workloads.aitm.core import compile_aitm, core_report
    from sw.workloads.aitm.train import model_inputs

    model, split = trained_two_step
    report = core_report(model, split.train, split.test, ref=ref, schemes=("sp2", "uniform"))
    for scheme, entry in report["schemes"].items():
        assert entry["core_equals_fake_quant"], scheme
        names = [layer["name"] for layer in entry["layers"]]
        # Towers, the transfer network, the AIT projections and the heads are core layers.
        for part in ("towers.1.0", "transfers.0.0", "aits.0.h1", "aits.0.h2", "aits.0.h3"):
            assert part in names, (scheme, part)
        assert "heads.1" in names
        ait = next(layer for layer in entry["layers"] if layer["name"] == "aits.0.h2")
        assert ait["rows_per_sample"] == 2  # q_t and p_(t-1)
        by_part = entry["cycles_per_sample_by_part"]
        assert sum(by_part.values()) == pytest.approx(entry["cycles_per_sample"])
        assert set(by_part) == {"towers", "transfer", "AIT h1/h2/h3", "heads"}
    # 4-bit SP2 weights and 8-bit activations keep the float model's ranking of samples.
    program = compile_aitm(model, split.train, "sp2", weight_bits=4, act_bits=8)
    inputs = model_inputs(split.test)
    on_core, cycles = program.run(ref, inputs)
    floats = predict(model, split.test)
    for step in range(2):
        assert spearmanr(on_core[:, step], floats[:, step]).statistic > 0.9
    assert sum(cycles.values()) / split.test.samples == pytest.approx(
        report["schemes"]["sp2"]["cycles_per_sample"]
    )


def test_core_on_sim_is_bit_identical_to_ref(trained_two_step, ref, sim):
    from sw.workloads.aitm.core import core_report

    model, split = trained_two_step
    report = core_report(
        model, split.train, split.test, ref=ref, backend=sim, schemes=("sp2",), check_samples=12
    )
    check = report["schemes"]["sp2"]["backend_check"]
    assert check["samples"] == 12 and check["bit_identical"]
    assert check["cycles_per_sample"] > 0


# ---- the command line ----------------------------------------------------------------------


def test_cli_runs_the_comparison_and_writes_results(tmp_path):
    import json

    from sw.workloads.aitm import cli

    out = tmp_path / "out"
    argv = ["--steps", "2", "--seeds", "2", "--epochs", "1", *TINY]
    argv += ["--models", "aitm_no_calibrator,esmm", "--schemes", "sp2", "--out", str(out)]
    assert cli.main(argv) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["config"]["models"] == ["aitm", "aitm_no_calibrator", "esmm"]
    assert len(result["runs"]) == 6
    assert set(result["paired_tests"]) == {"aitm_no_calibrator", "esmm"}
    for test in result["paired_tests"].values():
        assert test["end_to_end_auc"]["pairs"] == 2 and len(test["auc"]) == 2
    aitm = result["models"]["aitm"]
    cells = [r["end_to_end_auc"] for r in result["runs"] if r["model"] == "aitm"]
    assert aitm["end_to_end_auc"]["mean"] == pytest.approx(np.mean(cells))
    assert "finding" in result["calibrator"]
    assert result["core"]["schemes"]["sp2"]["core_equals_fake_quant"]
    assert (out / "aitm_comparison.png").stat().st_size > 0
    assert (out / "aitm_core.png").stat().st_size > 0


def test_cli_reads_aliccp_files(tmp_path):
    import json

    from sw.workloads.aitm import cli

    data = synthetic_funnel(SyntheticConfig(samples=3000, steps=2), seed=1)
    split = split_funnel(data, seed=1)
    aliccp.write_csv_layout(
        tmp_path / "ccp", {"train": split.train, "val": split.val, "test": split.test}
    )
    out = tmp_path / "out"
    argv = ["--data", "aliccp", "--path", str(tmp_path / "ccp"), "--seeds", "2", "--epochs", "1"]
    assert cli.main([*argv, "--models", "aitm", "--no-core", "--out", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["data"]["layout"] == "rechub"
    assert result["data"]["samples"]["test"] == split.test.samples
    assert result["data"]["numeric_features"] == [
        "Duser_age",
        "Ditem_price",
        "Dpast_clicks",
        "Dsession_seconds",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "aliccp"], "needs --path"),
        (["--data", "aliccp", "--path", "x", "--steps", "4"], "2 steps"),
        (["--dependence", "1.5"], "dependence"),
        (["--models", "aitm,gbdt"], "unknown model 'gbdt'"),
        (["--models", "esmm", "--steps", "4"], "'esmm' supports"),
        (["--path", "somewhere"], "for --data aliccp"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys):
    from sw.cli import main

    assert main(["run", "aitm", *argv, "--seeds", "1", *TINY]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "\n" not in error
    assert re.search(message, error)


def test_summary_pairs_by_seed_and_reads_violations_lower_is_better():
    from sw.workloads.aitm.experiment import summarize

    def run(model, seed, auc, share):
        return {
            "model": model,
            "seed": seed,
            "auc": [0.8, auc],
            "end_to_end_auc": auc,
            "logloss": [0.3, 0.1],
            "violation_share": share,
            "violation_mean": share / 100,
            "epochs": 3,
            "train_seconds": 1.0,
        }

    shares = {
        "aitm": [0.10, 0.12, 0.09, 0.11, 0.10],
        "aitm_no_calibrator": [0.2, 0.25, 0.18, 0.3, 0.22],
    }
    aucs = {
        "aitm": [0.90, 0.91, 0.92, 0.93, 0.94],
        "aitm_no_calibrator": [0.89, 0.915, 0.90, 0.92, 0.95],
    }
    runs = [
        run(model, seed, aucs[model][seed], shares[model][seed])
        for model in shares
        for seed in (4, 0, 3, 1, 2)  # out of order: pairs are matched by seed
    ]
    summary = summarize(runs, ["aitm", "aitm_no_calibrator"], steps=2)
    test = summary["paired_tests"]["aitm_no_calibrator"]["end_to_end_auc"]
    differences = np.subtract(aucs["aitm"], aucs["aitm_no_calibrator"])
    assert test["mean_difference"] == pytest.approx(differences.mean())
    assert (test["wins"], test["losses"]) == (3, 2)
    calibrator = summary["calibrator"]
    assert calibrator["violation_share_with"]["mean"] == pytest.approx(np.mean(shares["aitm"]))
    fewer = calibrator["violation_share_paired"]
    assert fewer["mean_difference"] == pytest.approx(
        np.mean(shares["aitm_no_calibrator"]) - np.mean(shares["aitm"])
    )
    assert fewer["verdict"] == "AITM better" and fewer["t_test_p"] < 0.05
    assert calibrator["finding"] == "the calibrator lowers the share of funnel violations"
