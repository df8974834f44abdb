"""The federation's settings and the methods it can run.

`FederationConfig` travels as a flat mapping of strings and numbers: the ServerApp
reads it from Flower's run config (``flwr run ... --run-config``, or the
``[tool.flwr.app.config]`` table of the app's ``pyproject.toml``) or from the
in-process simulation, and puts it in the ConfigRecord of every message, so clients
need no other channel. `METHODS` says, per method, what the server does with the
clients' arrays and what a client does with what it receives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .pfa import BLOCKS, PFA_END_RATIO, PFA_START_RATIO

DET_ALPHA1 = 0.7  # DET: Recover below alpha1 * F1_personal (the authors' --alpha1)
DET_ALPHA2 = 0.9  # DET: Sublimate from alpha2 * F1_personal (the authors' --alpha2)


@dataclass(frozen=True)
class LocalConfig:
    """One client's optimiser settings (the same for every method)."""

    epochs: int = 5  # local epochs per round (the authors' --wk_iters)
    batch_size: int = 16  # the authors' --batch
    lr: float = 0.01  # the authors' --lr (they use plain SGD; momentum here)
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_step: int = 5  # rounds between learning-rate halvings (the authors' --lr_step)
    lr_gamma: float = 0.5
    proximal_mu: float = 0.01  # FedProx (the authors' commented-out default)

    def lr_at(self, server_round: int) -> float:
        """The authors' step schedule: ``lr * gamma ** ((round - 1) // step)``."""
        return self.lr * self.lr_gamma ** ((server_round - 1) // self.lr_step)


@dataclass(frozen=True)
class Method:
    """What one federated-learning method does on the server and on the clients."""

    name: str
    server: str  # "fedavg", "fedprox" (Flower's strategies), "pfa" or "none" (local only)
    deputy: bool  # DET: the aggregate goes into a deputy, the personal model is kept
    share_batchnorm: bool  # False: BatchNorm stays on the client (FedBN)
    description: str


METHODS = {
    m.name: m
    for m in (
        Method("prr", "pfa", True, False, "PRR-FL: PFA on the server, DET on the clients"),
        Method("fedavg", "fedavg", False, True, "FedAvg: every array averaged"),
        Method("fedprox", "fedprox", False, True, "FedProx: FedAvg + proximal term"),
        Method("fedbn", "fedavg", False, False, "FedBN: FedAvg, BatchNorm kept local"),
        Method("local", "none", False, False, "local training only, no aggregation"),
        Method("pfa", "pfa", False, False, "PFA alone (BatchNorm local, no deputy)"),
        Method("det", "fedavg", True, False, "DET alone (FedBN averaging into a deputy)"),
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; use one of {', '.join(METHODS)}")
    return METHODS[name]


@dataclass(frozen=True)
class FederationConfig:
    """Everything a run needs; every field is a str, int, float or bool."""

    method: str = "prr"
    clients: int = 4
    rounds: int = 20
    seed: int = 0
    # data: a source split over the clients (digits, medmnist) unless a SuperNode
    # gives its own shard file in its node config (``shard-path``)
    data: str = "digits"
    data_path: str = ""
    alpha: float = 1.0  # Dirichlet label skew
    devices: str = "blur,gamma,noise,shear"
    image_shape: str = ""  # "C,H,W"; needed only when every client reads its own shard
    classes: int = 0  # likewise
    width: int = 8  # PersonalCNN width
    # local training (defaults and meaning: LocalConfig)
    local_epochs: int = LocalConfig.epochs
    batch_size: int = LocalConfig.batch_size
    lr: float = LocalConfig.lr
    momentum: float = LocalConfig.momentum
    weight_decay: float = LocalConfig.weight_decay
    lr_step: int = LocalConfig.lr_step
    lr_gamma: float = LocalConfig.lr_gamma
    proximal_mu: float = LocalConfig.proximal_mu
    # PRR-FL
    det_alpha1: float = DET_ALPHA1
    det_alpha2: float = DET_ALPHA2
    pfa_start: float = PFA_START_RATIO
    pfa_end: float = PFA_END_RATIO
    pfa_block: str = "symmetric"
    # the personalized models on the core after the last round ("" = skip)
    core_target: str = ""
    core_scheme: str = "sp2"
    core_weight_bits: int = 4
    core_act_bits: int = 8
    core_qat_epochs: int = 3  # local quantization-aware fine-tuning before compiling
    # fault injection for tests: "CLIENT@ROUND" makes that client raise in that round
    crash: str = ""
    timeout: float = 600.0  # seconds the server waits for a round's replies
    results_path: str = ""  # where the ServerApp writes its records (JSON)

    def __post_init__(self):
        get_method(self.method)
        checks = {
            "clients": (self.clients, 2, 64),
            "rounds": (self.rounds, 1, 1000),
            "local_epochs": (self.local_epochs, 1, 100),
            "batch_size": (self.batch_size, 2, 4096),
            "width": (self.width, 1, 64),
            "lr_step": (self.lr_step, 1, 10**6),
            "core_qat_epochs": (self.core_qat_epochs, 0, 100),
        }
        for name, (value, low, high) in checks.items():
            if not low <= value <= high:
                raise ValueError(f"{name}={value} is outside the allowed range [{low}, {high}]")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0")
        if not self.alpha > 0:
            raise ValueError(f"alpha={self.alpha} (Dirichlet label skew) must be > 0")
        if not 0 <= self.det_alpha1 <= self.det_alpha2:
            raise ValueError(
                f"DET needs 0 <= det_alpha1 <= det_alpha2, got {self.det_alpha1}, {self.det_alpha2}"
            )
        if not 0 <= self.pfa_start <= self.pfa_end <= 1:
            raise ValueError(
                f"PFA needs 0 <= pfa_start <= pfa_end <= 1, got {self.pfa_start}, {self.pfa_end}"
            )
        if self.pfa_block not in BLOCKS:
            raise ValueError(f"pfa_block={self.pfa_block!r}; use one of {BLOCKS}")
        if self.proximal_mu < 0:
            raise ValueError(f"proximal_mu={self.proximal_mu} must be >= 0")
        if self.crash:
            self.crash_point()  # validates the format

    @property
    def method_spec(self) -> Method:
        return get_method(self.method)

    @property
    def local(self) -> LocalConfig:
        return LocalConfig(
            epochs=self.local_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            lr_step=self.lr_step,
            lr_gamma=self.lr_gamma,
            proximal_mu=self.proximal_mu,
        )

    @property
    def device_list(self) -> tuple[str, ...]:
        return tuple(d.strip() for d in self.devices.split(",") if d.strip())

    def crash_point(self) -> tuple[int, int] | None:
        """``(client, round)`` of the injected crash, or None."""
        if not self.crash:
            return None
        try:
            client, server_round = (int(part) for part in self.crash.split("@"))
        except ValueError:
            raise ValueError(f"crash={self.crash!r}; expected CLIENT@ROUND, e.g. 1@2") from None
        return client, server_round

    def to_record(self) -> dict:
        """A flat dict for a Flower ConfigRecord."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, mapping) -> FederationConfig:
        """Build from a mapping (run config or ConfigRecord); unknown keys are ignored,
        values are converted to each field's type."""
        values = {}
        for field in fields(cls):
            if field.name in mapping:
                kind = type(getattr(cls, field.name))
                raw = mapping[field.name]
                values[field.name] = kind(raw) if kind is not bool else _as_bool(raw)
        return cls(**values)

    def with_(self, **changes) -> FederationConfig:
        return replace(self, **changes)


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)
