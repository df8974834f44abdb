"""Multi-step conversion data: the common container and the synthetic funnel generator.

A conversion funnel has T steps (impression -> click -> ... -> activation). Every
sample is an impression; its label at step t says whether the audience reached step
t, so the labels are *end-to-end* and monotone along the funnel: a sample that
reached step t reached every step before it (``labels[:, t] <= labels[:, t - 1]``).
Positives get rarer step by step (class imbalance grows along the funnel).

`FunnelData` holds categorical ids (one column per feature, ids ``0..vocab-1``),
numeric features and the labels in funnel order. Models get the categorical ids as
*global* ids (feature ``c``'s ids shifted by ``offsets[c]``) so that one embedding
table serves every feature.

`synthetic_funnel` draws a funnel whose answer to "does modelling the sequential
dependence help?" is known by construction (see its docstring): ``dependence`` sets
how much step t's conversion is driven by the latent that drives step t - 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np
from threadpoolctl import threadpool_limits

# Step names of the two funnels the paper studies (Ali-CCP and the credit-card funnel).
STEP_NAMES = {
    2: ("click", "purchase"),
    4: ("click", "application", "approval", "activation"),
}
# End-to-end positive rates per step (share of impressions that reach the step).
DEFAULT_RATES = {
    2: (0.10, 0.004),
    4: (0.20, 0.05, 0.015, 0.004),
}
# (name, vocabulary size) of the synthetic categorical features; ids are Zipf-skewed.
SYNTHETIC_CATEGORICAL = (
    ("user_segment", 200),
    ("item_category", 100),
    ("region", 30),
    ("hour", 24),
    ("channel", 12),
    ("device", 4),
)
SYNTHETIC_NUMERIC = ("user_age", "item_price", "past_clicks", "session_seconds")
ZIPF_EXPONENT = 0.8
CATEGORY_DIM = 4  # size of the hidden vector of every category id in the teacher net
TEACHER_HIDDEN = 32  # width of the teacher net's two tanh layers
TEACHER_GAIN = 1.5  # weight scale of the teacher net (larger: more non-linear)
REFERENCE_SAMPLES = 20_000  # impressions that fix a world's scales and biases


@dataclass(frozen=True)
class FunnelData:
    """Samples of a T-step conversion funnel (one row per impression).

    ``categorical`` (n, C) int64 local ids, column c in ``0..vocab_sizes[c]-1``;
    ``numeric`` (n, D) float32 (standardized or scaled to [0, 1]); ``labels`` (n, T)
    int8 0/1 in funnel order, end-to-end (monotone non-increasing along a row).
    ``oracle`` (n, T), when known (synthetic data), is the true end-to-end
    probability P(label_t = 1 | features): the best any model can do.
    """

    name: str
    categorical: np.ndarray
    numeric: np.ndarray
    labels: np.ndarray
    categorical_names: tuple[str, ...]
    vocab_sizes: tuple[int, ...]
    numeric_names: tuple[str, ...]
    step_names: tuple[str, ...]
    oracle: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        n = len(self.labels)
        if self.labels.ndim != 2 or self.labels.shape[1] != len(self.step_names):
            raise ValueError(
                f"labels must be (samples, {len(self.step_names)}) for steps "
                f"{self.step_names}, got shape {self.labels.shape}"
            )
        if self.categorical.shape != (n, len(self.categorical_names)):
            raise ValueError(
                f"categorical ids must be ({n}, {len(self.categorical_names)}), "
                f"got {self.categorical.shape}"
            )
        if self.numeric.shape != (n, len(self.numeric_names)):
            raise ValueError(
                f"numeric features must be ({n}, {len(self.numeric_names)}), "
                f"got {self.numeric.shape}"
            )
        if len(self.vocab_sizes) != len(self.categorical_names):
            raise ValueError("one vocabulary size per categorical feature is needed")
        if n and self.categorical.size:
            low, high = self.categorical.min(axis=0), self.categorical.max(axis=0)
            for column, name in enumerate(self.categorical_names):
                if low[column] < 0 or high[column] >= self.vocab_sizes[column]:
                    raise ValueError(
                        f"feature {name!r} has ids {low[column]}..{high[column]}, outside "
                        f"0..{self.vocab_sizes[column] - 1}"
                    )
        if n and not np.isin(self.labels, (0, 1)).all():
            raise ValueError("labels must be 0 or 1")
        if n and np.any(self.labels[:, 1:] > self.labels[:, :-1]):
            bad = int(np.argmax(np.any(self.labels[:, 1:] > self.labels[:, :-1], axis=1)))
            raise ValueError(
                f"labels must be end-to-end (a later step only after the earlier ones); "
                f"sample {bad} has {self.labels[bad].tolist()} for {self.step_names}"
            )

    @property
    def samples(self) -> int:
        return len(self.labels)

    @property
    def steps(self) -> int:
        return len(self.step_names)

    @property
    def offsets(self) -> np.ndarray:
        """(C,) first global id of each categorical feature in the shared embedding table."""
        return np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)

    @property
    def total_vocab(self) -> int:
        return int(sum(self.vocab_sizes))

    def global_ids(self) -> np.ndarray:
        """(n, C) int64 ids into one table of ``total_vocab`` rows."""
        return self.categorical + self.offsets

    def positive_rates(self) -> list[float]:
        """Share of samples that reached each step."""
        return [float(rate) for rate in self.labels.mean(axis=0)]

    def subset(self, rows) -> FunnelData:
        rows = np.asarray(rows)
        return replace(
            self,
            categorical=self.categorical[rows],
            numeric=self.numeric[rows],
            labels=self.labels[rows],
            oracle=None if self.oracle is None else self.oracle[rows],
        )


@dataclass(frozen=True)
class FunnelSplit:
    """Train, validation (early stopping) and test parts of one funnel data set."""

    train: FunnelData
    val: FunnelData
    test: FunnelData


def split_funnel(
    data: FunnelData, seed: int, *, val_fraction: float = 0.1, test_fraction: float = 0.2
) -> FunnelSplit:
    """A seeded random split; stratified on the last step, the rarest label."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be in "
            "(0, 1) with a sum below 1"
        )
    rng = np.random.default_rng(seed)
    parts = ([], [], [])
    last = data.labels[:, -1]
    # Stratify on the last step so that every part keeps its share of rare positives.
    for value in (0, 1):
        rows = rng.permutation(np.flatnonzero(last == value))
        n_test = int(round(test_fraction * len(rows)))
        n_val = int(round(val_fraction * len(rows)))
        parts[0].append(rows[n_test + n_val :])
        parts[1].append(rows[n_test : n_test + n_val])
        parts[2].append(rows[:n_test])
    train, val, test = (data.subset(np.sort(np.concatenate(p))) for p in parts)
    return FunnelSplit(train, val, test)


# ---- the synthetic funnel ------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticConfig:
    """What `synthetic_funnel` draws.

    ``dependence`` (rho, 0..1): the correlation between consecutive steps' latents.
    ``signal``: logit units per standard deviation of the latent (how predictable a
    step is from the features; 2.0 gives oracle AUCs of about 0.87 at the first step).
    ``rates``: end-to-end positive rate per step, strictly decreasing (None: the
    defaults of `DEFAULT_RATES`). ``world_seed`` fixes the random feature effects
    (the "world"); the sample seed of `synthetic_funnel` only draws impressions.
    ``latent_weights``: weights of a fresh latent's two unit-variance parts, the
    per-category additive effects and the teacher net (see `_World`).
    """

    samples: int = 60_000
    steps: int = 4
    dependence: float = 0.9
    signal: float = 2.0
    rates: tuple[float, ...] | None = None
    world_seed: int = 2021
    latent_weights: tuple[float, float] = (1.0, 2.0)

    def checked_rates(self) -> tuple[float, ...]:
        if self.steps not in STEP_NAMES:
            raise ValueError(f"steps must be one of {sorted(STEP_NAMES)}, got {self.steps}")
        rates = DEFAULT_RATES[self.steps] if self.rates is None else tuple(self.rates)
        if len(rates) != self.steps:
            raise ValueError(f"rates needs {self.steps} values (one per step), got {len(rates)}")
        if not all(0 < r < 1 for r in rates) or any(
            b >= a for a, b in zip(rates, rates[1:], strict=False)
        ):
            raise ValueError(f"rates must be in (0, 1) and strictly decreasing, got {rates}")
        return rates


def _zipf_probabilities(rng, vocab: int) -> np.ndarray:
    """P(id) for ids 0..vocab-1: Zipf-like (a few frequent values, a long tail), with the
    frequent ids scattered rather than always the small ones."""
    weights = 1.0 / np.arange(1, vocab + 1) ** ZIPF_EXPONENT
    return (weights / weights.sum())[rng.permutation(vocab)]


class _World:
    """The fixed random mechanism of one synthetic world (everything but the samples).

    Fresh latent of step t, e_t(x), the weighted sum (``latent_weights``) of two parts,
    each scaled to unit variance, the sum scaled to unit variance again:

    - additive: one random effect per category id, summed over the categorical
      features (mostly on the two high-cardinality ones): what shared embeddings can
      carry from one task to another;
    - teacher: a random two-layer tanh network (`TEACHER_HIDDEN` units, gain
      `TEACHER_GAIN`) over hidden per-id vectors (`CATEGORY_DIM`) of every categorical
      feature and the numeric features: a non-linear function that a tower has to
      learn from labels, easy for a label-rich step, hard for a rare one.

    Scales and the steps' biases are fixed on a reference sample of
    `REFERENCE_SAMPLES` impressions, so every sample seed draws from one distribution.
    """

    def __init__(self, config: SyntheticConfig):
        rates = config.checked_rates()
        rng = np.random.default_rng(config.world_seed)
        cardinality = np.array([vocab for _, vocab in SYNTHETIC_CATEGORICAL], dtype=np.float64)
        share = np.sqrt(cardinality / cardinality.sum())  # larger vocabularies matter more
        self.config = config
        self.tables = [
            [
                s * rng.standard_normal(vocab)
                for (_, vocab), s in zip(SYNTHETIC_CATEGORICAL, share, strict=True)
            ]
            for _ in range(config.steps)
        ]
        width = len(SYNTHETIC_CATEGORICAL) * CATEGORY_DIM + len(SYNTHETIC_NUMERIC)
        self.teachers = [
            {
                "vectors": [
                    rng.standard_normal((vocab, CATEGORY_DIM)) for _, vocab in SYNTHETIC_CATEGORICAL
                ],
                "layers": [
                    (
                        TEACHER_GAIN
                        * rng.standard_normal((inputs, TEACHER_HIDDEN))
                        / np.sqrt(inputs),
                        rng.standard_normal(TEACHER_HIDDEN) * 0.5,
                    )
                    for inputs in (width, TEACHER_HIDDEN)
                ],
                "readout": rng.standard_normal(TEACHER_HIDDEN),
            }
            for _ in range(config.steps)
        ]
        self.id_probabilities = [
            _zipf_probabilities(rng, vocab) for _, vocab in SYNTHETIC_CATEGORICAL
        ]
        reference = self.draw_features(rng, REFERENCE_SAMPLES)
        self.scales = [self._scales(step, *reference) for step in range(config.steps)]
        self.biases = []
        reach = np.ones(REFERENCE_SAMPLES)
        for step, latent in enumerate(self.latents(*reference)):
            self.biases.append(_calibrate_bias(reach, latent, config.signal, rates[step]))
            reach = reach * self.conversion(step, latent)

    def draw_features(self, rng, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` impressions: (count, C) int64 ids and (count, D) float64 numerics."""
        categorical = np.stack(
            [rng.choice(len(p), size=count, p=p) for p in self.id_probabilities], axis=1
        ).astype(np.int64)
        return categorical, rng.standard_normal((count, len(SYNTHETIC_NUMERIC)))

    def _parts(self, step: int, categorical, numeric) -> list[np.ndarray]:
        """[additive per-category effects, the teacher net's output] for ``step``."""
        additive = sum(
            table[categorical[:, column]] for column, table in enumerate(self.tables[step])
        )
        teacher = self.teachers[step]
        hidden = np.concatenate(
            [vectors[categorical[:, c]] for c, vectors in enumerate(teacher["vectors"])]
            + [numeric],
            axis=1,
        )
        for weights, bias in teacher["layers"]:
            hidden = np.tanh(hidden @ weights + bias)
        return [additive, hidden @ teacher["readout"]]

    def _scales(self, step, categorical, numeric):
        parts = self._parts(step, categorical, numeric)
        moments = [(part.mean(), part.std()) for part in parts]
        total = self._mix(parts, moments)
        return moments, total.std()

    def _mix(self, parts, moments) -> np.ndarray:
        weights = self.config.latent_weights
        return sum(
            w * (part - m) / sd for w, part, (m, sd) in zip(weights, parts, moments, strict=True)
        )

    def latents(self, categorical, numeric) -> list[np.ndarray]:
        """Per step the latent s_t (unit variance): the AR(1) chain over fresh latents."""
        rho = self.config.dependence
        latents = []
        for step in range(self.config.steps):
            parts = self._parts(step, categorical, numeric)
            moments, total_std = self.scales[step]
            fresh = self._mix(parts, moments) / total_std
            latents.append(
                fresh if not latents else rho * latents[-1] + np.sqrt(1 - rho**2) * fresh
            )
        return latents

    def conversion(self, step: int, latent: np.ndarray) -> np.ndarray:
        """P(reach step | reached the previous step, x)."""
        from scipy.special import expit

        return expit(self.biases[step] + self.config.signal * latent)


@functools.lru_cache(maxsize=8)
def _world(config: SyntheticConfig) -> _World:
    """The world of ``config`` (its ``samples`` set to 0: a world does not depend on it)."""
    return _World(config)


def _calibrate_bias(reach_before: np.ndarray, latent: np.ndarray, signal: float, rate: float):
    """The bias b with mean(reach_before * sigmoid(b + signal * latent)) == rate."""
    from scipy.optimize import brentq
    from scipy.special import expit

    def excess(bias):
        return float(np.mean(reach_before * expit(bias + signal * latent))) - rate

    return brentq(excess, -60.0, 60.0, xtol=1e-10)


def synthetic_funnel(config: SyntheticConfig, seed: int) -> FunnelData:
    """Impressions of a T-step funnel with a known sequential dependence.

    Step t's latent is an AR(1) chain over the steps' fresh latents e_t (`_World`):
    ``s_1 = e_1``, ``s_t = rho * s_{t-1} + sqrt(1 - rho^2) * e_t`` (unit variance), so
    rho = ``config.dependence`` is the correlation of consecutive steps' latents. An
    audience at step t - 1 converts to step t with probability
    ``sigmoid(b_t + signal * s_t(x))``; ``b_t`` is solved so that the end-to-end rate of
    step t is ``rates[t]``. The known answer: with rho near 1 the later, rarer steps are
    driven by the latent that the earlier, label-rich step learns well, so passing
    information along the funnel (AITM's transfer) should help most at the last step;
    with rho = 0 each step has its own latent and only the funnel structure itself
    (a step needs the previous one) links them.

    Features: `SYNTHETIC_CATEGORICAL` (Zipf-skewed ids) and `SYNTHETIC_NUMERIC`
    (standard normal). ``oracle`` holds the true end-to-end probabilities.
    """
    if not 0.0 <= config.dependence <= 1.0:
        raise ValueError(f"dependence must be in [0, 1], got {config.dependence}")
    if config.signal <= 0:
        raise ValueError(f"signal must be positive, got {config.signal}")
    if config.samples < 100:
        raise ValueError(f"samples must be at least 100, got {config.samples}")
    # One BLAS thread: these small products only slow down on a shared machine's threads.
    with threadpool_limits(limits=1, user_api="blas"):
        world = _world(replace(config, samples=0))
        rng = np.random.default_rng((seed, config.world_seed))  # never the world's own stream
        categorical, numeric = world.draw_features(rng, config.samples)
        reach = np.ones(config.samples)  # true P(reached this step | x)
        reached = np.ones(config.samples, dtype=bool)  # sampled: did the impression get there
        labels = np.zeros((config.samples, config.steps), dtype=np.int8)
        oracle = np.zeros((config.samples, config.steps))
        for step, latent in enumerate(world.latents(categorical, numeric)):
            convert = world.conversion(step, latent)
            reach = reach * convert
            reached = reached & (rng.random(config.samples) < convert)
            labels[:, step] = reached
            oracle[:, step] = reach
    return FunnelData(
        name="synthetic",
        categorical=categorical,
        numeric=numeric.astype(np.float32),
        labels=labels,
        categorical_names=tuple(name for name, _ in SYNTHETIC_CATEGORICAL),
        vocab_sizes=tuple(vocab for _, vocab in SYNTHETIC_CATEGORICAL),
        numeric_names=SYNTHETIC_NUMERIC,
        step_names=STEP_NAMES[config.steps],
        oracle=oracle,
    )
