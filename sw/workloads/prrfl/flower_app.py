"""The Flower apps: `client_app` (a `ClientApp`) and `server_app` (a `ServerApp`).

The same two objects run in the in-process simulation (`sw.workloads.prrfl.federation`,
Flower's Ray simulation engine) and on a real SuperLink with SuperNodes (``flwr run``
with the app in ``sw/workloads/prrfl/app/``; see ``docs/prrfl.md``).

Messages (Flower's message API): in round r the **train** message carries the arrays
for this node (the initial model in round 1, then the aggregate of round r - 1) and
the `FederationConfig`; the client integrates the aggregate if it has not yet, trains,
and replies with the arrays its method shares and its metrics. The **evaluate**
message of round r carries the aggregate of round r: the client integrates it (the
moment retrogress is measured), scores its personalized model, and in the last round
also runs it on the core and sends it back.

Per-node state (``Context.state``, a RecordDict that Flower keeps on the node between
rounds): the personalized model and the deputy (ArrayRecords of their whole state
dicts, BatchNorm statistics included) and the last integrated round (ConfigRecord). A
client that raises leaves its state as it was: Flower keeps the context of a failed
call unchanged, so the node continues from its previous round.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from flwr.clientapp import ClientApp
from flwr.common import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid, ServerApp

from .client import (
    ClientModels,
    ShardTensors,
    models_from_state,
    new_models,
    outgoing_arrays,
    personal_scores,
    receive,
    train_round,
)
from .config import FederationConfig
from .data import ClientShard, load_shard, make_client_shards, source_info
from .model import exchanged_keys, get_arrays, make_model
from .strategies import CLIENT_KEY, arrays_to_dict, config_record, dict_to_arrays, make_strategy

SHARD_PATH_KEY = "shard-path"  # a SuperNode's own data file (node config)
PARTITION_KEY = "partition-id"

# --------------------------------------------------------------------------- client


@functools.lru_cache(maxsize=4)
def _generated_shards(data, data_path, clients, alpha, devices, seed) -> tuple[ClientShard, ...]:
    # Every actor process builds the shards once per configuration.
    return tuple(
        make_client_shards(
            data,
            clients=clients,
            alpha=alpha,
            devices=devices,
            seed=seed,
            path=data_path or None,
        )
    )


@functools.lru_cache(maxsize=4)
def _file_shard(path: str, client: int) -> ClientShard:
    return load_shard(path, client=client)


def client_shard(config: FederationConfig, node_config) -> ClientShard:
    """This node's data: its own shard file (node config ``shard-path``) or its part of
    the generated federation (node config ``partition-id``)."""
    client = int(node_config.get(PARTITION_KEY, 0))
    path = node_config.get(SHARD_PATH_KEY)
    if path:
        return _file_shard(str(path), client)
    if not 0 <= client < config.clients:
        raise ValueError(f"partition-id={client} is outside [0, {config.clients - 1}]")
    shards = _generated_shards(
        config.data, config.data_path, config.clients, config.alpha, config.device_list, config.seed
    )
    return shards[client]


def _load_models(context: Context, config: FederationConfig, shard) -> ClientModels | None:
    state = context.state
    if "personal" not in state.array_records:
        return None
    deputy = state.array_records.get("deputy")
    return models_from_state(
        config,
        {
            "personal": state.array_records["personal"].to_torch_state_dict(),
            "deputy": None if deputy is None else deputy.to_torch_state_dict(),
            "received_round": int(state.config_records["progress"]["received_round"]),
        },
        shard,
    )


def _save_models(context: Context, models: ClientModels) -> None:
    context.state["personal"] = ArrayRecord(models.personal.state_dict())
    if models.deputy is not None:
        context.state["deputy"] = ArrayRecord(models.deputy.state_dict())
    context.state["progress"] = ConfigRecord({"received_round": models.received_round})


def _prepare(message: Message, context: Context):
    config = FederationConfig.from_mapping(message.content["config"])
    server_round = int(message.content["config"]["server-round"])
    shard = client_shard(config, context.node_config)
    tensors = ShardTensors(shard)
    arrays = arrays_to_dict(message.content["arrays"])
    models = _load_models(context, config, shard)
    if models is None:
        # First contact (round 1, or a node whose round-1 call failed): the arrays are
        # the server's model for this node.
        models = new_models(config, arrays, shard)
        models.received_round = server_round - 1
    return config, server_round, shard, tensors, arrays, models


client_app = ClientApp()


@client_app.train()
def train(message: Message, context: Context) -> Message:
    config, server_round, shard, tensors, arrays, models = _prepare(message, context)
    if models.received_round < server_round - 1 and arrays:
        # The evaluate call that should have brought this aggregate did not happen.
        receive(models, arrays, tensors, config, server_round - 1)
    crash = config.crash_point()
    if crash == (shard.client, server_round):
        # Fault injection (tests): fail half-way through the round's work.
        train_round(models, tensors, config.with_(local_epochs=1), server_round)
        raise RuntimeError(f"client {shard.client}: injected crash in round {server_round}")
    started = time.perf_counter()
    stats = train_round(models, tensors, config, server_round, anchor=arrays)
    _save_models(context, models)
    metrics = {
        "num-examples": len(shard.y_train),
        CLIENT_KEY: shard.client,
        "train_seconds": time.perf_counter() - started,
        **stats,
    }
    content = RecordDict(
        {
            "arrays": dict_to_arrays(outgoing_arrays(models, config)),
            "metrics": MetricRecord(metrics),
        }
    )
    return Message(content=content, reply_to=message)


@client_app.evaluate()
def evaluate(message: Message, context: Context) -> Message:
    config, server_round, shard, tensors, arrays, models = _prepare(message, context)
    received = receive(models, arrays, tensors, config, server_round)
    metrics = {
        "num-examples": len(shard.y_val),
        CLIENT_KEY: shard.client,
        **received,
        **personal_scores(models, tensors),
    }
    final = server_round == config.rounds
    content = RecordDict()
    if final:
        if config.core_target:
            from .core import core_scores

            metrics.update(core_scores(models.personal, shard, config))
        keys = exchanged_keys(models.personal, include_batchnorm=True)
        content["arrays"] = dict_to_arrays(get_arrays(models.personal, keys))
    _save_models(context, models)
    content["metrics"] = MetricRecord(metrics)
    return Message(content=content, reply_to=message)


# --------------------------------------------------------------------------- server


def initial_arrays(config: FederationConfig) -> ArrayRecord:
    """The common starting model (every array, BatchNorm included) under ``config.seed``."""
    if config.image_shape:
        shape = tuple(int(v) for v in config.image_shape.split(","))
        classes = config.classes
    else:
        shape, classes = source_info(config.data, config.data_path or None)
    model = make_model(shape, classes, seed=config.seed, width=config.width)
    return dict_to_arrays(get_arrays(model, exchanged_keys(model, include_batchnorm=True)))


def serve(grid: Grid, config: FederationConfig) -> dict:
    """Run the federation on ``grid``; return (and write to ``results_path``) the records."""
    from sw.workloads.common import write_json

    strategy = make_strategy(config)
    started = time.perf_counter()
    strategy.start(
        grid=grid,
        initial_arrays=initial_arrays(config),
        num_rounds=config.rounds,
        timeout=config.timeout,
        train_config=config_record(config),
        evaluate_config=config_record(config),
    )
    results = {
        "config": config.to_record(),
        "seconds": time.perf_counter() - started,
        "records": strategy.records,
        "failures": strategy.failures,
        "pfa_ratios": getattr(strategy, "ratios", {}),
        "final_models": {
            str(client): {key: value.tolist() for key, value in arrays.items()}
            for client, arrays in strategy.returned_models.items()
        },
    }
    if config.results_path:
        write_json(Path(config.results_path), results)
    return results


def make_server_app(config: FederationConfig | None = None) -> ServerApp:
    """A ServerApp that runs ``config`` (or, when None, its run config: ``flwr run``)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        serve(grid, config or FederationConfig.from_mapping(context.run_config))

    return app


server_app = make_server_app()
