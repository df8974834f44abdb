"""Flower strategies (message API, ``flwr.serverapp.strategy``) for every method.

- FedAvg, FedProx, FedBN and DET's averaging use Flower's own `FedAvg` / `FedProx`
  (FedBN and DET differ only in what the clients send: no BatchNorm arrays);
- `PFAStrategy` (PFA alone and PRR-FL) computes one model per client with
  `pfa_aggregate` and sends each node its own in ``configure_train`` and
  ``configure_evaluate``: Flower's loop hands the strategy one "global" ArrayRecord,
  so the strategy keeps the per-node results and swaps them into each node's message;
- `LocalOnly` sends the initial model once and never aggregates.

Every strategy here sorts the replies by client number before aggregating: Flower
hands them over in arrival order, and a floating-point sum in a different order gives
a (slightly) different model, so runs would not repeat. Each also records every
client's reply metrics and every failure (`records`, `failures`) for the results.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from flwr.common import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp.strategy import FedAvg, FedProx
from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

from .config import FederationConfig
from .pfa import pfa_aggregate, pfa_ratio

CLIENT_KEY = "client"  # every reply's MetricRecord names its client (partition id)


def reply_metrics(message: Message) -> dict:
    """The (single) MetricRecord of a reply as a plain dict."""
    return dict(next(iter(message.content.metric_records.values())))


def arrays_to_dict(record: ArrayRecord) -> dict[str, np.ndarray]:
    return {key: value.numpy() for key, value in record.items()}


def dict_to_arrays(arrays: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({key: Array(np.ascontiguousarray(value)) for key, value in arrays.items()})


class RecordingMixin:
    """Sorts replies by client and keeps every client's metrics and every failure."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records: list[dict] = []
        self.failures: list[dict] = []
        # client -> the personalized model a client sent back with its last evaluation
        self.returned_models: dict[int, dict[str, np.ndarray]] = {}

    def _sorted_valid(self, phase: str, server_round: int, replies: Iterable[Message]):
        valid = []
        for message in replies:
            if message.has_error():
                self.failures.append(
                    {
                        "phase": phase,
                        "round": server_round,
                        "node": int(message.metadata.src_node_id),
                        "reason": str(message.error.reason),
                    }
                )
            else:
                valid.append(message)
        valid.sort(key=lambda m: (reply_metrics(m).get(CLIENT_KEY, 0), m.metadata.src_node_id))
        for message in valid:
            metrics = reply_metrics(message)
            self.records.append({"phase": phase, "round": server_round, **metrics})
            if phase == "evaluate" and message.content.array_records:
                record = next(iter(message.content.array_records.values()))
                self.returned_models[int(metrics[CLIENT_KEY])] = arrays_to_dict(record)
        return valid

    def aggregate_train(self, server_round: int, replies: Iterable[Message]):
        replies = list(replies)
        errors = [m for m in replies if m.has_error()]
        return self._aggregate_sorted_train(
            server_round, self._sorted_valid("train", server_round, replies), errors
        )

    def _aggregate_sorted_train(self, server_round, valid, errors):
        # Flower's aggregation (it skips the error replies itself) in client order.
        return super().aggregate_train(server_round, valid + errors)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]):
        replies = list(replies)
        errors = [m for m in replies if m.has_error()]
        valid = self._sorted_valid("evaluate", server_round, replies)
        return super().aggregate_evaluate(server_round, valid + errors)


class SortedFedAvg(RecordingMixin, FedAvg):
    """Flower's FedAvg (also FedBN and DET: what is averaged is what clients send)."""


class SortedFedProx(RecordingMixin, FedProx):
    """Flower's FedProx; the clients add ``proximal_mu / 2 * ||w - w_global||^2``."""


class PerNodeArraysMixin:
    """Sends each node the arrays computed for it (``node_arrays``), else the global ones."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.node_arrays: dict[int, ArrayRecord] = {}

    def _personalize(self, messages: Iterable[Message]) -> list[Message]:
        out = []
        for message in messages:
            node = message.metadata.dst_node_id
            content = message.content
            if node in self.node_arrays:
                # A new RecordDict per node: Flower builds one shared payload for all.
                content = RecordDict(
                    {
                        self.arrayrecord_key: self.node_arrays[node],
                        self.configrecord_key: content[self.configrecord_key],
                    }
                )
            out.append(
                Message(
                    content=content,
                    dst_node_id=node,
                    message_type=message.metadata.message_type,
                )
            )
        return out

    def configure_train(self, server_round, arrays, config, grid):
        return self._personalize(super().configure_train(server_round, arrays, config, grid))

    def configure_evaluate(self, server_round, arrays, config, grid):
        return self._personalize(super().configure_evaluate(server_round, arrays, config, grid))


class PFAStrategy(PerNodeArraysMixin, RecordingMixin, FedAvg):
    """Progressive Fourier Aggregation: one model per client (`pfa_aggregate`).

    A node that sent nothing this round (it failed) gets the plain weighted mean of the
    others' arrays, which is also what the strategy reports as its "global" arrays.
    """

    def __init__(self, config: FederationConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.ratios: dict[int, float] = {}

    def _aggregate_sorted_train(self, server_round, valid, errors):
        self.node_arrays = {}
        if not valid:
            return None, None
        contents = [m.content for m in valid]
        keys = list(next(iter(contents[0].array_records.values())).keys())
        per_client = []
        for content in contents:
            record = next(iter(content.array_records.values()))
            if list(record.keys()) != keys:
                raise ValueError("PFA needs every client to send the same arrays")
            per_client.append([record[key].numpy() for key in keys])
        counts = [float(reply_metrics(m)[self.weighted_by_key]) for m in valid]
        ratio = pfa_ratio(
            server_round, self.config.rounds, self.config.pfa_start, self.config.pfa_end
        )
        self.ratios[server_round] = ratio
        mixed = pfa_aggregate(per_client, counts, ratio, block=self.config.pfa_block)
        for message, arrays in zip(valid, mixed, strict=True):
            self.node_arrays[message.metadata.src_node_id] = dict_to_arrays(
                dict(zip(keys, arrays, strict=True))
            )
        mean = aggregate_arrayrecords(contents, self.weighted_by_key)
        metrics = self.train_metrics_aggr_fn(contents, self.weighted_by_key)
        return mean, metrics


class LocalOnly(RecordingMixin, FedAvg):
    """No federation: the initial model goes out in round 1, nothing is aggregated."""

    def configure_train(self, server_round, arrays, config, grid):
        return super().configure_train(
            server_round, arrays if server_round == 1 else ArrayRecord(), config, grid
        )

    def configure_evaluate(self, server_round, arrays, config, grid):
        return super().configure_evaluate(server_round, ArrayRecord(), config, grid)

    def _aggregate_sorted_train(self, server_round, valid, errors):
        if not valid:
            return None, None
        contents = [m.content for m in valid]
        return None, self.train_metrics_aggr_fn(contents, self.weighted_by_key)


def make_strategy(config: FederationConfig):
    """The strategy of ``config.method``, waiting for all ``config.clients`` nodes."""
    nodes = {
        "min_available_nodes": config.clients,
        "min_train_nodes": config.clients,
        "min_evaluate_nodes": config.clients,
    }
    server = config.method_spec.server
    if server == "fedavg":
        return SortedFedAvg(**nodes)
    if server == "fedprox":
        return SortedFedProx(proximal_mu=config.proximal_mu, **nodes)
    if server == "pfa":
        return PFAStrategy(config, **nodes)
    return LocalOnly(**nodes)


def config_record(config: FederationConfig) -> ConfigRecord:
    return ConfigRecord(config.to_record())
