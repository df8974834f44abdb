"""Running one federation in Flower's simulation engine (Ray), in this process.

`run_federation` starts Flower's `run_simulation` with `client_app` and a ServerApp
bound to the config, on ``config.clients`` virtual SuperNodes (node config
``partition-id`` = client number), and returns the ServerApp's records. Ray starts
and stops with each run (about 5 s here); each client process uses one torch thread.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from .config import FederationConfig

# Ray: one CPU per client call, no dashboard, quiet workers.
RAY_CPUS = max(1, min(2, os.cpu_count() or 1))


def backend_config(cpus: int = RAY_CPUS, temp_dir: str | None = None) -> dict:
    """Flower's Ray backend settings; ``temp_dir``: Ray's session directory (sockets and
    logs; Ray's default is a shared ``/tmp/ray``)."""
    init_args = {
        "num_cpus": cpus,
        "include_dashboard": False,
        "logging_level": logging.ERROR,
        "log_to_driver": False,
    }
    if temp_dir is not None:
        init_args["_temp_dir"] = temp_dir
    return {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}, "init_args": init_args}


def run_federation(config: FederationConfig, *, cpus: int = RAY_CPUS, verbose=False) -> dict:
    """One Flower simulation of ``config``; the ServerApp's results dict (see `serve`).

    Ray's workers find this project through ``PYTHONPATH`` (Flower's Ray backend passes
    this process's ``sys.path`` on).
    """
    from flwr.simulation import run_simulation

    from .flower_app import client_app, make_server_app

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # no GPUs: silence Ray
    if not verbose:
        logging.getLogger("flwr").setLevel(logging.WARNING)
    # A short private directory for the results and Ray's session (Unix socket paths
    # must stay under ~107 bytes), removed afterwards: nothing is left in /tmp/ray.
    with tempfile.TemporaryDirectory(prefix="prrfl-", ignore_cleanup_errors=True) as scratch:
        path = Path(config.results_path or Path(scratch) / "results.json").resolve()
        config = config.with_(results_path=str(path))
        run_simulation(
            server_app=make_server_app(config),
            client_app=client_app,
            num_supernodes=config.clients,
            backend_config=backend_config(cpus, temp_dir=str(Path(scratch) / "ray")),
            verbose_logging=verbose,
        )
        if not path.is_file():
            raise RuntimeError(
                f"the {config.method} federation ended without results; "
                "see Flower's log above (QMATMUL_DEBUG=1 for tracebacks)"
            )
        return json.loads(path.read_text())
