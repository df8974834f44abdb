"""PRR-FL: PFA, DET, client data, Flower strategies, a Ray simulation with a crashing
client, a real SuperLink with SuperNodes, and the personalized model on the core."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sw.workloads.prrfl import as_matrix, from_matrix, low_frequency_mask, pfa_aggregate, pfa_ratio
from sw.workloads.prrfl.client import (
    ShardTensors,
    new_models,
    outgoing_arrays,
    receive,
    train_round,
)
from sw.workloads.prrfl.config import FederationConfig
from sw.workloads.prrfl.data import (
    DEVICES,
    ClientShard,
    ShardError,
    apply_device,
    load_shard,
    make_client_shards,
    save_shard,
)
from sw.workloads.prrfl.det import DETStage, det_losses, next_det_stage
from sw.workloads.prrfl.model import (
    batchnorm_keys,
    exchanged_keys,
    get_arrays,
    make_model,
)

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
APP = REPO / "sw" / "workloads" / "prrfl" / "app"


def _weights(rng, clients=3):
    # a conv weight, a linear weight and a bias per client
    return [
        [rng.normal(size=(6, 3, 3, 3)), rng.normal(size=(10, 7)), rng.normal(size=10)]
        for _ in range(clients)
    ]


def _spectrum(matrix):
    return np.fft.fftshift(np.fft.fft2(matrix))


# --------------------------------------------------------------------------- PFA


def test_pfa_with_ratio_zero_keeps_each_clients_weights_and_averages_biases():
    rng = np.random.default_rng(0)
    weights, counts = _weights(rng), [10, 30, 60]
    out = pfa_aggregate(weights, counts, ratio=0.0)
    mean_bias = sum(c * w[2] for c, w in zip(counts, weights, strict=True)) / 100
    for mine, theirs in zip(out, weights, strict=True):
        np.testing.assert_allclose(mine[0], theirs[0], atol=1e-12)
        np.testing.assert_allclose(mine[1], theirs[1], atol=1e-12)
        np.testing.assert_allclose(mine[2], mean_bias, atol=1e-12)


def test_pfa_identical_clients_are_a_fixed_point():
    rng = np.random.default_rng(1)
    client = _weights(rng, clients=1)[0]
    for block in ("symmetric", "authors"):
        out = pfa_aggregate([client, client, client], [5, 1, 2], ratio=0.83, block=block)
        for mine in out:
            for got, want in zip(mine, client, strict=True):
                np.testing.assert_allclose(got, want, atol=1e-12)


def test_pfa_low_frequency_amplitude_is_the_weighted_mean_and_the_rest_is_kept():
    rng = np.random.default_rng(2)
    weights, counts, ratio = _weights(rng), np.array([10.0, 30.0, 60.0]), 0.7
    out = pfa_aggregate(weights, counts, ratio)
    share = counts / counts.sum()
    for layer in (0, 1):
        spectra = [_spectrum(as_matrix(w[layer])) for w in weights]
        mean_amplitude = sum(s * np.abs(f) for s, f in zip(share, spectra, strict=True))
        mask = low_frequency_mask(spectra[0].shape, ratio)
        assert 0 < mask.sum() < mask.size
        for index, spectrum in enumerate(spectra):
            result = _spectrum(as_matrix(out[index][layer]))
            np.testing.assert_allclose(np.abs(result)[mask], mean_amplitude[mask], atol=1e-10)
            np.testing.assert_allclose(np.abs(result)[~mask], np.abs(spectrum)[~mask], atol=1e-10)
            # every client keeps its own phase everywhere
            phase_change = np.angle(result * np.conj(spectrum))
            np.testing.assert_allclose(phase_change, 0.0, atol=1e-8)
        # and the clients really differ from each other after aggregation
        assert not np.allclose(out[0][layer], out[1][layer])


def test_the_authors_block_does_not_give_the_mean_amplitude():
    # Their half-open block breaks the spectrum's symmetry and np.real drops the rest:
    # the result's low-frequency amplitude is far from the mean (docs/prrfl.md).
    rng = np.random.default_rng(2)
    weights, counts, ratio = _weights(rng), [10, 30, 60], 0.7
    out = pfa_aggregate(weights, counts, ratio, block="authors")
    share = np.array(counts) / 100
    matrix_spectra = [_spectrum(as_matrix(w[1])) for w in weights]
    mean_amplitude = sum(s * np.abs(f) for s, f in zip(share, matrix_spectra, strict=True))
    mask = low_frequency_mask(matrix_spectra[0].shape, ratio, "authors")
    result = np.abs(_spectrum(as_matrix(out[0][1])))
    deviation = np.abs(result - mean_amplitude)[mask].max() / mean_amplitude[mask].mean()
    assert deviation > 0.2


def test_low_frequency_block_symmetric_and_as_the_authors_index_it():
    # 24 columns, ratio 0.7: the authors keep indices [12 - 8, 12 + 8) = 4..19, the
    # symmetric block adds the +8 frequency (index 20) so that it is closed under k -> -k.
    authors = low_frequency_mask((1, 24), 0.7, "authors")[0] | False
    symmetric = low_frequency_mask((3, 24), 0.7, "symmetric")[1]
    assert np.flatnonzero(low_frequency_mask((24, 24), 0.7, "authors")[12]).tolist() == list(
        range(4, 20)
    )
    assert np.flatnonzero(symmetric).tolist() == list(range(4, 21))
    assert not authors.any()  # one row: floor(1 * 0.7 / 2) = 0, an empty block
    assert not low_frequency_mask((7, 9), 0.0).any()


def test_conv_weights_are_viewed_in_the_authors_layout_and_restored():
    rng = np.random.default_rng(3)
    conv = rng.normal(size=(5, 4, 3, 2))  # (out N, in C, D1, D2)
    authors = conv.transpose(1, 2, 3, 0).reshape(4 * 3, 2 * 5)
    np.testing.assert_array_equal(as_matrix(conv), authors)
    for weight in (conv, rng.normal(size=(6, 2, 5)), rng.normal(size=(3, 4))):
        np.testing.assert_array_equal(from_matrix(as_matrix(weight), weight.shape), weight)


def test_pfa_ratio_grows_linearly_from_0_7_towards_0_95():
    ratios = [pfa_ratio(r, 10) for r in range(1, 11)]
    assert ratios[0] == pytest.approx(0.7)
    assert ratios[-1] == pytest.approx(0.95 - 0.25 / 10)  # the authors' last round
    np.testing.assert_allclose(np.diff(ratios), 0.025)
    with pytest.raises(ValueError, match="server_round=0"):
        pfa_ratio(0, 10)


def test_pfa_refuses_inconsistent_input():
    rng = np.random.default_rng(4)
    weights = _weights(rng, clients=2)
    with pytest.raises(ValueError, match="one per client"):
        pfa_aggregate(weights, [1, 2, 3], 0.7)
    with pytest.raises(ValueError, match=r"ratio=1.5 is outside \[0, 1\]"):
        pfa_aggregate(weights, [1, 2], 1.5)
    with pytest.raises(ValueError, match="not all zero"):
        pfa_aggregate(weights, [0, 0], 0.7)
    weights[1][0] = weights[1][0][:, :2]
    with pytest.raises(ValueError, match="layer 0: client 1 has shape"):
        pfa_aggregate(weights, [1, 2], 0.7)


# --------------------------------------------------------------------------- DET


@pytest.mark.parametrize(
    "previous, f1_deputy, expected",
    [
        (DETStage.START, 99.0, DETStage.RECOVER),  # a round always starts with Recover
        (DETStage.RECOVER, 60.0, DETStage.RECOVER),  # 60 < 0.7 * 100
        (DETStage.RECOVER, 75.0, DETStage.EXCHANGE),
        (DETStage.RECOVER, 95.0, DETStage.EXCHANGE),  # never straight to Sublimate
        (DETStage.EXCHANGE, 85.0, DETStage.EXCHANGE),
        (DETStage.EXCHANGE, 90.0, DETStage.SUBLIMATE),  # 90 >= 0.9 * 100
        (DETStage.SUBLIMATE, 89.0, DETStage.EXCHANGE),
        (DETStage.SUBLIMATE, 50.0, DETStage.RECOVER),
        (DETStage.SUBLIMATE, 97.0, DETStage.SUBLIMATE),
    ],
)
def test_det_stage_transitions(previous, f1_deputy, expected):
    assert next_det_stage(previous, f1_deputy, 100.0, 0.7, 0.9) == expected


def test_det_losses_teach_in_the_right_direction():
    rng = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 2, 1])
    for stage, personal_learns, deputy_learns in (
        (DETStage.RECOVER, False, True),
        (DETStage.EXCHANGE, True, True),
        (DETStage.SUBLIMATE, True, False),
    ):
        personal = torch.randn(4, 3, generator=rng, requires_grad=True)
        deputy = torch.randn(4, 3, generator=rng, requires_grad=True)
        personal_loss, deputy_loss = det_losses(personal, deputy, labels, stage)
        ce_p = torch.nn.functional.cross_entropy(personal, labels)
        ce_d = torch.nn.functional.cross_entropy(deputy, labels)
        assert bool(personal_loss > ce_p) == personal_learns  # KL(teacher || student) > 0
        assert bool(deputy_loss > ce_d) == deputy_learns
        # the teacher is held fixed: a loss never moves the other model's logits
        for loss, other in ((personal_loss, deputy), (deputy_loss, personal)):
            grad = torch.autograd.grad(loss, other, retain_graph=True, allow_unused=True)[0]
            assert grad is None or torch.count_nonzero(grad) == 0


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def shards():
    return make_client_shards("digits", clients=4, alpha=1.0, seed=3)


def test_clients_have_their_own_device_and_class_mix(shards):
    assert [s.device for s in shards] == list(DEVICES)
    again = make_client_shards("digits", clients=4, alpha=1.0, seed=3)
    for a, b in zip(shards, again, strict=True):
        np.testing.assert_array_equal(a.x_train, b.x_train)
    other = make_client_shards("digits", clients=4, alpha=1.0, seed=4)
    assert not np.array_equal(shards[0].y_train, other[0].y_train[: len(shards[0].y_train)])
    mixes = np.array([np.bincount(s.y_train, minlength=10) / len(s.y_train) for s in shards])
    distances = [0.5 * np.abs(mixes[i] - mixes[j]).sum() for i in range(4) for j in range(i)]
    assert min(distances) > 0.1  # label skew: every pair of clients differs
    for shard in shards:
        for part in ("train", "val", "test"):
            x = getattr(shard, f"x_{part}")
            assert len(x) > 0 and x.shape[1:] == (1, 8, 8)
            assert 0.0 <= x.min() and x.max() <= 1.0


def test_a_medmnist_file_makes_colour_clients(tmp_path):
    from sw.data.medmnist import write_medmnist

    rng = np.random.default_rng(8)
    splits = {}
    for split, n in (("train", 90), ("val", 20), ("test", 30)):
        labels = np.arange(n) % 7  # DermaMNIST has 7 classes
        images = rng.integers(0, 256, size=(n, 28, 28, 3), dtype=np.uint8)
        splits[split] = (images, labels.reshape(-1, 1))
    path = write_medmnist(tmp_path / "dermamnist.npz", splits)
    clients = make_client_shards("medmnist", clients=2, alpha=100.0, seed=0, path=path)
    assert [c.device for c in clients] == ["blur", "gamma"]
    assert clients[0].image_shape == (3, 28, 28) and clients[0].classes == 7
    assert sum(len(c.y_train) + len(c.y_val) + len(c.y_test) for c in clients) == 140
    config, models, tensors = _models("prr", clients[1])
    stats = train_round(models, tensors, config.with_(local_epochs=1), 1)
    assert stats["det_recover"] == 1
    with pytest.raises(ValueError, match="needs --path"):
        make_client_shards("medmnist", clients=2)


def test_each_device_changes_the_images_its_own_way():
    rng = np.random.default_rng(0)
    image = np.zeros((1, 1, 8, 8))
    image[0, 0, 2:6, 3] = 1.0  # a vertical bar
    seen = {d: apply_device(image, d, 1.0, rng)[0, 0] for d in DEVICES}
    assert seen["blur"][3, 2] > 0 and seen["blur"][3, 3] < 1  # spread out
    assert np.all(seen["gamma"] < 1.0) and np.all(seen["gamma"] > 0.0)  # flatter contrast
    assert np.count_nonzero(seen["noise"][image[0, 0] == 0]) > 10  # background noise
    columns = np.arange(8)
    centroid = [(seen["shear"][row] * columns).sum() / seen["shear"][row].sum() for row in (2, 5)]
    assert abs(centroid[0] - centroid[1]) > 0.5  # the bar leans
    with pytest.raises(ValueError, match="unknown device"):
        apply_device(image, "xray", 1.0, rng)


def test_signal_clients_train_and_compile_in_one_dimension():
    from sw.workloads.prrfl.core import core_scores

    # mnist1d-like signals (n, 1, 40): each class a bump at its own position
    rng = np.random.default_rng(9)
    labels = np.arange(240) % 4
    time_axis = np.arange(40)
    clean = np.exp(-0.5 * ((time_axis[None, :] - 6 - 9 * labels[:, None]) / 2.0) ** 2)
    signals = (0.2 + 0.6 * clean + 0.05 * rng.normal(size=clean.shape))[:, None, :]
    signals = np.clip(signals, 0, 1)
    for device in DEVICES:
        seen = apply_device(signals[:3], device, 1.0, rng)
        assert seen.shape == (3, 1, 40) and not np.allclose(seen, signals[:3])
    stretched = apply_device(signals[:1], "shear", 1.0, rng)[0, 0]
    assert abs(int(stretched.argmax()) - 19.5) > abs(int(signals[0, 0].argmax()) - 19.5)
    parts = [signals[i::3].astype(np.float32) for i in range(3)]
    ys = [labels[i::3] for i in range(3)]
    shard = ClientShard(0, "noise", parts[0], ys[0], parts[1], ys[1], parts[2], ys[2], 4)
    config, models, tensors = _models("prr", shard)
    assert isinstance(models.personal.features.block1.conv, torch.nn.Conv1d)
    for server_round in (1, 2):
        train_round(models, tensors, config, server_round)
    report = core_scores(models.personal, shard, config.with_(core_qat_epochs=1))
    assert report["core_fake_quant_identical"] == 1.0
    assert report["core_test_f1"] > 50.0  # four well separated classes


def test_shard_files_round_trip(tmp_path, shards):
    path = save_shard(shards[2], tmp_path / "client2.npz")
    loaded = load_shard(path)
    assert loaded.client == 2 and loaded.device == shards[2].device
    np.testing.assert_array_equal(loaded.x_test, shards[2].x_test)
    np.testing.assert_array_equal(loaded.y_val, shards[2].y_val)


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            lambda s: {"x_train": s.x_train[:0], "y_train": s.y_train[:0]},
            "the train split is empty",
        ),
        (lambda s: {"y_val": np.array(0)}, r"y_val has shape \(\)"),
        (lambda s: {"y_test": s.y_test + 5}, r"outside \[0, 9\]"),
        (lambda s: {"x_val": np.where(s.x_val > 0.5, np.nan, s.x_val)}, "NaN or infinite"),
        (
            lambda s: {"x_test": s.x_test.reshape(len(s.x_test), -1)},
            r"expected \(n, channels, height, width\)",
        ),
        (lambda s: {"x_val": s.x_val[:, :, :4]}, r"x_val images are \(1, 4, 8\)"),
    ],
)
def test_empty_or_malformed_shards_get_a_clear_error(tmp_path, shards, changes, message):
    shard = shards[1]
    arrays = {
        k: getattr(shard, k) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
    }
    arrays.update(changes(shard))
    path = tmp_path / "bad.npz"
    np.savez(path, classes=np.int64(10), **arrays)  # written unchecked, like a broken export
    with pytest.raises(ShardError, match=message) as error:
        load_shard(path)
    assert "bad.npz" in str(error.value)


def test_unreadable_or_incomplete_shard_files_are_named(tmp_path):
    from sw.workloads.prrfl.flower_app import client_shard

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00not a zip")
    with pytest.raises(ShardError, match="cannot read client shard .*garbage.npz"):
        client_shard(FederationConfig(), {"partition-id": 0, "shard-path": str(garbage)})
    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=np.zeros((30, 1, 8, 8)))
    with pytest.raises(ShardError, match="lacks y_train"):
        load_shard(partial)
    with pytest.raises(ShardError, match="does not exist"):
        load_shard(tmp_path / "absent.npz")


# --------------------------------------------------------------------------- model, client


def _models(method, shard, seed=0):
    config = FederationConfig(method=method, local_epochs=2, seed=seed)
    model = make_model(shard.image_shape, shard.classes, seed=seed)
    initial = get_arrays(model, exchanged_keys(model, include_batchnorm=True))
    return config, new_models(config, initial, shard), ShardTensors(shard)


def test_batchnorm_stays_local_except_in_fedavg_and_fedprox(shards):
    model = make_model((1, 8, 8), 10, seed=0)
    bn = batchnorm_keys(model)
    assert "features.block1.bn.running_mean" in bn and "fc1.bn.weight" in bn
    for method in ("fedbn", "pfa", "det", "prr"):
        config, models, _ = _models(method, shards[0])
        sent = set(outgoing_arrays(models, config))
        assert sent and not sent & bn
        assert "features.block1.conv.weight" in sent and "fc2.bias" in sent
    config, models, _ = _models("fedavg", shards[0])
    sent = set(outgoing_arrays(models, config))
    assert "fc1.bn.running_var" in sent
    assert not any(key.endswith("num_batches_tracked") for key in sent)
    config, models, _ = _models("local", shards[0])
    assert outgoing_arrays(models, config) == {}


def test_the_aggregate_replaces_the_model_in_fedavg_but_goes_into_the_deputy_in_det(shards):
    shard = shards[0]
    for method in ("fedavg", "det"):
        config, models, tensors = _models(method, shard)
        train_round(models, tensors, config, 1)
        personal_before = {k: v.clone() for k, v in models.personal.state_dict().items()}
        rng = np.random.default_rng(5)
        aggregate = {
            k: rng.normal(size=v.shape).astype(np.float32) * 0.3
            for k, v in outgoing_arrays(models, config).items()
        }
        report = receive(models, aggregate, tensors, config, 1)
        changed = not torch.equal(
            models.personal.state_dict()["fc2.weight"], personal_before["fc2.weight"]
        )
        assert changed == (method == "fedavg")
        if method == "det":
            assert report["retrogress"] == 0.0 and report["val_f1_after"] == report["val_f1_before"]
            np.testing.assert_array_equal(
                models.deputy.state_dict()["fc2.weight"].numpy(), aggregate["fc2.weight"]
            )
        # random weights ruin the receiving model: that drop is the retrogress
        assert report["receiver_retrogress"] > 10.0
        assert report["receiver_retrogress"] == pytest.approx(
            max(0.0, report["receiver_val_f1_before"] - report["receiver_val_f1_after"])
        )


def test_local_training_repeats_exactly_and_fedprox_pulls_towards_the_anchor(shards):
    shard = shards[2]
    finals = []
    for _ in range(2):
        config, models, tensors = _models("prr", shard)
        stats = train_round(models, tensors, config, 1)
        finals.append(models.personal.state_dict()["fc2.weight"].clone())
    assert torch.equal(finals[0], finals[1])
    assert (
        stats["det_recover"] == 1
        and stats["det_recover"] + stats["det_exchange"] + stats["det_sublimate"] == 2
    )
    distances = {}
    for method in ("fedavg", "fedprox"):
        config, models, tensors = _models(method, shard)
        anchor = outgoing_arrays(models, config)
        config = config.with_(proximal_mu=5.0)
        train_round(models, tensors, config, 1, anchor=anchor)
        parameters = [name for name, _ in models.personal.named_parameters()]
        moved = get_arrays(models.personal, parameters)
        distances[method] = sum(np.sum((moved[k] - anchor[k]) ** 2) for k in parameters)
    assert distances["fedprox"] < 0.5 * distances["fedavg"]


# --------------------------------------------------------------------------- strategies


class _NodeList:
    """The one thing a strategy asks the grid for when it samples nodes."""

    def __init__(self, nodes):
        self.nodes = nodes

    def get_node_ids(self):
        return list(self.nodes)


def _replies(per_client: list[dict], counts: list[int], nodes: list[int]):
    from flwr.common import Message, MetricRecord, RecordDict

    from sw.workloads.prrfl.strategies import dict_to_arrays

    replies = []
    for client, (arrays, count, node) in enumerate(zip(per_client, counts, nodes, strict=True)):
        instruction = Message(RecordDict(), dst_node_id=node, message_type="train")
        content = RecordDict(
            {
                "arrays": dict_to_arrays(arrays),
                "metrics": MetricRecord({"num-examples": count, "client": client}),
            }
        )
        replies.append(Message(content, reply_to=instruction))
    return replies


def test_replies_are_aggregated_in_client_order_whatever_their_arrival():
    from sw.workloads.prrfl.strategies import SortedFedAvg, arrays_to_dict

    rng = np.random.default_rng(6)
    per_client = [{"w": rng.normal(size=(50,)).astype(np.float32) * 10**k} for k in range(5)]
    replies = _replies(per_client, [3, 5, 7, 11, 13], nodes=[91, 17, 55, 3, 70])
    results = []
    for order in ([0, 1, 2, 3, 4], [4, 2, 0, 3, 1], [3, 1, 4, 0, 2]):
        strategy = SortedFedAvg(min_available_nodes=5)
        arrays, _ = strategy.aggregate_train(1, [replies[i] for i in order])
        results.append(arrays_to_dict(arrays)["w"])
        assert [r["client"] for r in strategy.records] == [0, 1, 2, 3, 4]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])  # bit for bit


def test_pfa_strategy_sends_every_node_its_own_model():
    from flwr.common import ArrayRecord, ConfigRecord

    from sw.workloads.prrfl.strategies import PFAStrategy, arrays_to_dict

    rng = np.random.default_rng(7)
    per_client = [
        {"conv": rng.normal(size=(4, 2, 3, 3)).astype(np.float32), "bias": rng.normal(size=4)}
        for _ in range(3)
    ]
    counts, nodes = [20, 30, 50], [501, 502, 503]
    config = FederationConfig(method="prr", clients=3, rounds=5)
    strategy = PFAStrategy(config, min_available_nodes=3, min_train_nodes=3)
    mean, _ = strategy.aggregate_train(2, _replies(per_client, counts, nodes)[::-1])
    expected = pfa_aggregate([[c["conv"], c["bias"]] for c in per_client], counts, pfa_ratio(2, 5))
    assert strategy.ratios == {2: pytest.approx(0.75)}
    messages = strategy.configure_train(
        3,
        mean,
        ConfigRecord({}),
        _NodeList(nodes + [504]),  # 504 sent nothing
    )
    sent = {m.metadata.dst_node_id: arrays_to_dict(m.content["arrays"]) for m in messages}
    for client, node in enumerate(nodes):
        np.testing.assert_allclose(sent[node]["conv"], expected[client][0], rtol=1e-6)
        np.testing.assert_allclose(sent[node]["bias"], expected[client][1], rtol=1e-6)
    assert not np.allclose(sent[501]["conv"], sent[502]["conv"])
    np.testing.assert_array_equal(sent[504]["conv"], arrays_to_dict(mean)["conv"])
    weighted = sum(c * p["conv"] for c, p in zip(counts, per_client, strict=True)) / 100
    np.testing.assert_allclose(sent[504]["conv"], weighted, rtol=1e-5)
    assert isinstance(mean, ArrayRecord)


# --------------------------------------------------------------------------- Flower


def test_simulation_survives_a_client_crashing_mid_round(tmp_path):
    from sw.workloads.prrfl.experiment import summarize_run
    from sw.workloads.prrfl.federation import run_federation

    config = FederationConfig(
        method="prr",
        clients=2,
        rounds=3,
        local_epochs=1,
        crash="1@2",
        core_target="ref",
        core_qat_epochs=1,
    )
    result = run_federation(config)
    failures = result["failures"]
    assert len(failures) == 1
    assert failures[0]["phase"] == "train" and failures[0]["round"] == 2
    assert "client 1: injected crash in round 2" in failures[0]["reason"]
    trained = {(r["round"], r["client"]) for r in result["records"] if r["phase"] == "train"}
    assert trained == {(1, 0), (1, 1), (2, 0), (3, 0), (3, 1)}  # client 1 is back in round 3
    evaluated = {(r["round"], r["client"]) for r in result["records"] if r["phase"] == "evaluate"}
    assert evaluated == {(r, c) for r in (1, 2, 3) for c in (0, 1)}
    assert set(result["pfa_ratios"]) == {"1", "2", "3"}  # round 2: PFA of the one reply
    run = summarize_run(result)
    assert run["incomplete_clients"] == [] and [c["client"] for c in run["clients"]] == [0, 1]
    for client in run["clients"]:
        assert client["retrogress_total"] == 0.0  # the deputy receives the aggregate
        assert client["det_stages"]["det_recover"] >= 2
        assert client["core"]["core_fake_quant_identical"] == 1.0
        assert client["core"]["core_cycles_per_image"] > 0
        assert abs(client["core"]["core_test_f1"] - client["test_f1"]) < 25
    assert set(result["final_models"]) == {"0", "1"}


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free right now (all held open while they are picked)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _wait_for_port(port: int, processes, seconds: float = 60.0) -> None:
    """Wait until something listens on ``port`` (``flwr run`` fails at once otherwise)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), "a Flower process died"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


def test_the_flower_app_declares_every_setting_with_its_default():
    import tomllib
    from dataclasses import fields

    declared = tomllib.loads((APP / "pyproject.toml").read_text())["tool"]["flwr"]["app"]
    assert declared["components"]["clientapp"].endswith("flower_app:client_app")
    config = declared["config"]
    assert set(config) == {field.name for field in fields(FederationConfig)}
    deployment = {"clients", "rounds", "local_epochs", "results_path"}
    defaults = FederationConfig()
    for key, value in config.items():
        if key not in deployment:
            assert value == getattr(defaults, key), key
    FederationConfig.from_mapping(config)  # and it is a valid configuration


def test_real_superlink_and_supernodes_run_the_app(tmp_path, shards):
    """``flower-superlink`` and two ``flower-supernode`` processes on loopback, each
    SuperNode reading its own shard file; ``flwr run`` submits the app in
    ``sw/workloads/prrfl/app``; every process is stopped at the end."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, FLWR_HOME=str(tmp_path / "flwr"), PATH=f"{bin_dir}:{os.environ['PATH']}")
    names = ("serverappio", "fleet", "control", "node0", "node1")
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    (tmp_path / "flwr").mkdir()
    (tmp_path / "flwr" / "config.toml").write_text(
        '[superlink]\ndefault = "loopback"\n\n[superlink.loopback]\n'
        f'address = "127.0.0.1:{ports["control"]}"\ninsecure = true\n'
    )
    commands = [
        [
            "flower-superlink",
            "--insecure",
            "--serverappio-api-address",
            f"127.0.0.1:{ports['serverappio']}",
            "--fleet-api-address",
            f"127.0.0.1:{ports['fleet']}",
            "--control-api-address",
            f"127.0.0.1:{ports['control']}",
        ]
    ]
    for client in (0, 1):
        shard = save_shard(shards[client], tmp_path / f"client{client}.npz")
        commands.append(
            [
                "flower-supernode",
                "--insecure",
                "--superlink",
                f"127.0.0.1:{ports['fleet']}",
                "--clientappio-api-address",
                f"127.0.0.1:{ports[f'node{client}']}",
                "--node-config",
                f'partition-id={client} shard-path="{shard}"',
            ]
        )
    results = tmp_path / "results.json"
    repo_files = set(os.listdir(REPO))
    processes = []
    try:
        for number, command in enumerate(commands):
            log = (tmp_path / f"process{number}.log").open("w")
            processes.append(
                subprocess.Popen(
                    [str(bin_dir / command[0]), *command[1:]],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=tmp_path,
                    start_new_session=True,  # its own group: the ServerApp/ClientApp children too
                )
            )
        _wait_for_port(ports["control"], processes)  # the SuperLink's Control API
        overrides = (
            f'clients=2 rounds=1 local_epochs=1 image_shape="1,8,8" classes=10 '
            f'results_path="{results}"'
        )
        submitted = subprocess.run(
            [str(bin_dir / "flwr"), "run", str(APP), "loopback", "--run-config", overrides],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        deadline = time.monotonic() + 120
        while not results.is_file() and time.monotonic() < deadline:
            assert all(p.poll() is None for p in processes), "a Flower process died"
            time.sleep(0.25)
        assert results.is_file(), (tmp_path / "process0.log").read_text()[-2000:]
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, 15)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
    # every file of the deployment (logs, state, results) stays under tmp_path
    strays = {n for n in set(os.listdir(REPO)) - repo_files if n.startswith(("super", "flwr"))}
    assert not strays, f"the Flower processes wrote {sorted(strays)} into the repository"
    result = json.loads(results.read_text())
    assert result["failures"] == []
    evaluated = sorted(r["client"] for r in result["records"] if r["phase"] == "evaluate")
    assert evaluated == [0, 1]
    sizes = sorted(r["num-examples"] for r in result["records"] if r["phase"] == "train")
    assert sizes == sorted(len(shards[c].y_train) for c in (0, 1))  # each read its own file


# --------------------------------------------------------------------------- CLI, core


def test_cli_refuses_bad_arguments_before_starting_flower(tmp_path):
    from sw.workloads.prrfl.cli import main

    with pytest.raises(ValueError, match="--method 'fedsgd' is not one of"):
        main(["--method", "fedsgd", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="--seeds=0 must be at least 1"):
        main(["--seeds", "0", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="clients=1 is outside the allowed range"):
        main(["--clients", "1", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="MedMNIST file .*absent.npz does not exist"):
        main(["--data", "medmnist", "--path", str(tmp_path / "absent.npz"), "--out", str(tmp_path)])
    started = time.perf_counter()
    help_text = subprocess.run(
        [sys.executable, "-m", "sw.cli", "run", "prrfl", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert help_text.returncode == 0 and "--method" in help_text.stdout
    assert time.perf_counter() - started < 10  # no torch or Flower import for --help


def test_personalized_model_on_sim_is_bit_identical_to_ref(shards):
    from sw.workloads.prrfl.core import core_scores

    shard = shards[0]
    config, models, tensors = _models("fedbn", shard)
    train_round(models, tensors, config, 1)
    report = core_scores(models.personal, shard, config.with_(core_target="sim"))
    assert report["core_target_identical"] == 1.0
    assert report["core_fake_quant_identical"] == 1.0
    assert 0.0 < report["core_utilization"] <= 1.0
