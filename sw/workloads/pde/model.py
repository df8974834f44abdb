"""The nodal flow map: disassembly, a local operator, assembly and a residual step.

One time step of the learned model (after Chen, Churchill, Wu & Xiu, J. Comput. Phys.
2022; `docs/pde.md` says what is theirs and what is ours):

    z_j     = D_j(u^n) / sigma          disassembly: node j's stencil values, normalized
    r_j     = F_j(z_j)                  the local operator at node j
    u^{n+1} = u^n + tau * A(r)          assembly of the local outputs, residual update

``D`` is the `Stencil` gather (host), ``A`` puts node j's output back at node j, and
``sigma`` / ``tau`` (per field) are the standard deviations of the training states and
of their one-step increments, so that the network works on O(1) numbers.

The local operator is a linear stencil plus a ReLU MLP correction shared by all nodes,

    F_j(z) = W_j w(z) + b_j + MLP(w(z)),     w(z) = (z - mean) @ whitening,

where ``w`` is a fixed partial whitening of the stencil values (computed from the
training data; it conditions the regression and is folded into the first layers before
compilation). On a uniform grid the stencil is shared (``W_j = W``: a convolution, the
translation-invariant case); on random and scattered nodes each node has its own
stencil ``W_j`` -- the network sees no coordinates, so the geometry can only be learned
per node. The MLP is the same for every node: it runs on the core as one batch of
``nodes x samples`` rows.

Training (`train_nodal`):

1. the least-squares stencil (per node or shared) is computed; when it explains the
   one-step increments (variance explained >= ``prior_threshold``) and the linear step
   it defines is stable (spectral radius <= 1 + `STABILITY_SLACK`), the model keeps it,
   frozen, and the MLP (whose last layer starts at zero) learns only what it leaves: a
   linear equation; the prior of a generalized ResNet. An unstable linear stencil is
   refitted with the least high-pass input noise (`NOISE_LEVELS`) that stabilizes it.
   Otherwise (nonlinear data: the fitted stencil is wildly unstable) the model starts
   from zero and its one-step inputs carry high-pass noise of ``noise * tau`` whose
   effect the target removes, teaching it to damp the grid-scale components that smooth
   training data never shows (without this every nonlinear model diverged);
2. one-step regression on every (node, pair) sample;
3. recurrent rollouts of ``rollout_steps`` steps through the whole model (no noise), so
   that the model is trained the way it is used: on its own predictions;
4. on held-out training trajectories (the last tenth), an MLP on top of a linear prior is
   kept only if it cuts the one-step error by `CORRECTION_GAIN` (else zeroed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data import Dataset
from .grids import Stencil

STABILITY_SLACK = 1e-3  # a linear prior may grow a mode by at most 0.1% per step
WHITENING_FLOOR = 1e-3  # whitened directions are amplified at most 1/sqrt(floor) ~ 32x
# High-pass noise levels (units of tau) tried, smallest first, to stabilize a linear prior.
NOISE_LEVELS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
CORRECTION_GAIN = 0.1  # over a linear prior, the MLP must cut the held-out error by 10%


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the nodal model and its training (the same for every equation)."""

    hidden: int = 64
    depth: int = 2  # hidden layers of the correction MLP
    one_step_epochs: int = 20
    batch_size: int = 1024  # (node, pair) samples per step
    lr: float = 2e-3
    rollout_epochs: int = 10
    rollout_steps: int = 5
    rollout_batch: int = 8  # trajectories per step
    rollout_lr: float = 3e-4
    noise: float = 0.1  # high-pass input noise (units of tau) when there is no linear prior
    prior_threshold: float = 0.999  # variance explained that makes the stencil the start


@dataclass
class TrainingReport:
    """How training went: the recipe the data chose and the loss per epoch."""

    linear_prior: bool
    stencil_explained: float  # variance of the increments the least-squares stencil explains
    stencil_radius: float  # spectral radius of the least-squares stencil's linear step
    noise: float
    correction_kept: bool = True  # False: the MLP's output layer was zeroed (no gain)
    validation_error: float = math.nan  # held-out one-step MSE with the MLP (units of tau^2)
    validation_error_stencil: float = math.nan  # the same with the stencil alone
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class LocalOperator(nn.Module):
    """``F_j(z) = W_j w(z) + b_j + MLP(w(z))`` for neighbourhoods ``z`` of shape ``(B, N, I)``.

    ``nodes=None``: one stencil for all nodes; otherwise one per node.
    """

    def __init__(self, inputs: int, outputs: int, hidden: int, depth: int, nodes=None):
        super().__init__()
        self.register_buffer("mean", torch.zeros(inputs))
        self.register_buffer("whitening", torch.eye(inputs))
        shape = (inputs, outputs) if nodes is None else (nodes, inputs, outputs)
        self.stencil_weight = nn.Parameter(torch.zeros(shape))
        self.stencil_bias = nn.Parameter(torch.zeros(shape[:-2] + (outputs,)))
        layers: list[nn.Module] = []
        width = inputs
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, outputs))
        self.correction = nn.Sequential(*layers)
        nn.init.zeros_(self.correction[-1].weight)  # starts as the stencil alone
        nn.init.zeros_(self.correction[-1].bias)

    @property
    def per_node(self) -> bool:
        return self.stencil_weight.dim() == 3

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) @ self.whitening

    def linear(self, z: torch.Tensor) -> torch.Tensor:
        """The stencil part ``W_j w(z) + b_j``: ``(B, N, I)`` -> ``(B, N, O)``."""
        w = self.whiten(z)
        if self.per_node:
            return torch.einsum("bni,nio->bno", w, self.stencil_weight) + self.stencil_bias
        return w @ self.stencil_weight + self.stencil_bias

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z) + self.correction(self.whiten(z))

    def effective_stencil(self) -> tuple[np.ndarray, np.ndarray]:
        """The stencil on raw normalized neighbourhoods: ``z @ W + b`` with ``W``
        ``([N,] I, O)`` and ``b`` ``([N,] O)`` (the whitening folded in)."""
        whitening = self.whitening.double().numpy()
        mean = self.mean.double().numpy()
        weight = self.stencil_weight.detach().double().numpy()
        bias = self.stencil_bias.detach().double().numpy()
        folded = whitening @ weight  # ([N,] I, O)
        return folded, bias - mean @ folded


class NodalFlowMap(nn.Module):
    """``u -> u + tau * A(F(D(u) / sigma))`` for nodal values ``u`` of shape ``(B, N, F)``."""

    def __init__(self, stencil: Stencil, state_scale, update_scale, local: LocalOperator):
        super().__init__()
        self.register_buffer("index", torch.as_tensor(stencil.index, dtype=torch.long))
        self.register_buffer("sign", torch.as_tensor(stencil.sign, dtype=torch.float32))
        self.register_buffer("state_scale", torch.as_tensor(state_scale, dtype=torch.float32))
        self.register_buffer("update_scale", torch.as_tensor(update_scale, dtype=torch.float32))
        self.local = local

    def neighbourhoods(self, u: torch.Tensor) -> torch.Tensor:
        """Disassembly: ``(B, N, F)`` -> normalized stencil values ``(B, N, S * F)``."""
        padded = torch.cat([u, torch.zeros_like(u[:, :1])], dim=1)
        picked = padded[:, self.index] * self.sign[..., None] / self.state_scale
        return picked.reshape(*picked.shape[:2], -1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u + self.update_scale * self.local(self.neighbourhoods(u))


# ---- data in the model's units ----------------------------------------------------------


def scales(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per-field std of the training states (sigma) and of their increments (tau)."""
    before, after = dataset.pairs()
    sigma = before.reshape(-1, dataset.fields).std(axis=0)
    tau = (after - before).reshape(-1, dataset.fields).std(axis=0)
    return np.maximum(sigma, 1e-12), np.maximum(tau, 1e-12)


def node_samples(dataset: Dataset, sigma, tau, noise: float = 0.0, rng=None):
    """Neighbourhoods ``(P, N, S*F)`` and increments ``(P, N, F)`` of every training pair.

    With ``noise > 0`` the states are first perturbed by high-pass noise (white noise
    minus its stencil average, scaled to a std of ``noise * tau``) and the increment
    leads back to the clean next state.
    """
    before, after = dataset.pairs()
    stencil = dataset.grid.stencil
    if noise > 0:
        white = rng.standard_normal(before.shape)
        average = stencil.gather(white).reshape(*white.shape[:-1], stencil.size, -1).mean(-2)
        high = white - average
        before = before + high * (noise * tau / high.std())
    return stencil.gather(before / sigma), (after - before) / tau


def least_squares_stencil(z: np.ndarray, y: np.ndarray, per_node: bool):
    """The affine stencil of least squares, ``y ~ z @ W + b``, and the variance explained.

    ``z`` ``(P, N, I)``, ``y`` ``(P, N, O)``; ``W`` is ``(I, O)`` or ``(N, I, O)`` per node.
    """
    if not per_node:
        flat_z, flat_y = z.reshape(-1, z.shape[-1]), y.reshape(-1, y.shape[-1])
        design = np.concatenate([flat_z, np.ones((len(flat_z), 1))], axis=1)
        solution, *_ = np.linalg.lstsq(design, flat_y, rcond=None)
        residual = flat_y - design @ solution
        weight, bias = solution[:-1], solution[-1]
    else:
        nodes = z.shape[1]
        weight = np.zeros((nodes, z.shape[2], y.shape[2]))
        bias = np.zeros((nodes, y.shape[2]))
        residual = np.zeros_like(y)
        for j in range(nodes):
            design = np.concatenate([z[:, j], np.ones((len(z), 1))], axis=1)
            solution, *_ = np.linalg.lstsq(design, y[:, j], rcond=None)
            weight[j], bias[j] = solution[:-1], solution[-1]
            residual[:, j] = y[:, j] - design @ solution
    explained = 1.0 - float(np.mean(residual**2) / np.mean(y.reshape(-1, y.shape[-1]).var(0)))
    return weight, bias, explained


def step_matrix(weight: np.ndarray, stencil: Stencil, sigma, tau) -> np.ndarray:
    """The linear step ``u -> u + tau * (D(u) / sigma) @ W`` as a dense ``(N*F, N*F)``
    matrix, for a stencil ``W`` on raw normalized neighbourhoods (shared or per node)."""
    nodes, size = stencil.index.shape
    fields = len(sigma)
    weight = np.broadcast_to(weight, (nodes, size * fields, fields)).reshape(
        nodes, size, fields, fields
    )  # [node, neighbour, input field, output field]
    matrix = np.eye(nodes * fields)
    for j in range(nodes):
        for i in range(size):
            source = stencil.index[j, i]
            if source == nodes:  # the Dirichlet boundary: a zero
                continue
            block = stencil.sign[j, i] * weight[j, i] * (tau[None, :] / sigma[:, None])
            matrix[source * fields : (source + 1) * fields, j * fields : (j + 1) * fields] += block
    return matrix.T  # rows: output node/field; columns: input node/field


def spectral_radius(matrix: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


# ---- training ---------------------------------------------------------------------------


def _whitening(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = z.reshape(-1, z.shape[-1])
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(flat, rowvar=False))
    floor = WHITENING_FLOOR * eigenvalues.max()
    return flat.mean(axis=0), eigenvectors / np.sqrt(np.maximum(eigenvalues, floor))


def initial_model(dataset: Dataset, config: TrainConfig, seed: int):
    """The untrained model (whitening, and the least-squares stencil if it qualifies)."""
    torch.manual_seed(seed)
    sigma, tau = scales(dataset)
    z, y = node_samples(dataset, sigma, tau)
    per_node = dataset.grid.kind != "uniform"
    nodes = dataset.grid.nodes if per_node else None
    local = LocalOperator(z.shape[-1], dataset.fields, config.hidden, config.depth, nodes)
    mean, whitening = _whitening(z)
    weight, bias, explained = least_squares_stencil((z - mean) @ whitening, y, per_node)
    raw_weight = whitening @ weight  # the same stencil on raw normalized neighbourhoods
    radius = spectral_radius(step_matrix(raw_weight, dataset.grid.stencil, sigma, tau))
    noise, linear_prior = 0.0, False
    if explained >= config.prior_threshold:
        # A linear equation. Its least-squares stencil can still be unstable where the
        # smooth data say nothing (grid scale; per-node stencils on scattered nodes are,
        # like unstabilized RBF finite differences): take the least high-pass noise
        # (whose removal the fit then learns: a data-driven hyperviscosity) that makes it
        # stable, if any.
        rng = np.random.default_rng(seed)
        for level in NOISE_LEVELS:
            if level > 0:
                zn, yn = node_samples(dataset, sigma, tau, level, rng)
                both_z = (np.concatenate([z, zn]) - mean) @ whitening
                both_y = np.concatenate([y, yn])
                weight, bias, _ = least_squares_stencil(both_z, both_y, per_node)
                raw_weight = whitening @ weight
            stable = spectral_radius(step_matrix(raw_weight, dataset.grid.stencil, sigma, tau))
            if stable <= 1 + STABILITY_SLACK:
                noise, linear_prior = level, True
                break
    if not linear_prior:
        noise = config.noise
    with torch.no_grad():
        local.mean.copy_(torch.as_tensor(mean))
        local.whitening.copy_(torch.as_tensor(whitening))
        if linear_prior:
            local.stencil_weight.copy_(torch.as_tensor(weight))
            local.stencil_bias.copy_(torch.as_tensor(bias))
        else:  # let the MLP move from the start
            nn.init.normal_(local.correction[-1].weight, std=0.01)
    report = TrainingReport(
        linear_prior=bool(linear_prior),
        stencil_explained=explained,
        stencil_radius=radius,
        noise=noise,
    )
    return NodalFlowMap(dataset.grid.stencil, sigma, tau, local), report


def _one_step_epoch(model, samples, config, generator, optimizer) -> float:
    """One pass over ``(neighbourhoods, increments)`` ``(P, N, .)``, a few whole states
    (``batch_size`` node samples) per step."""
    inputs = torch.as_tensor(samples[0], dtype=torch.float32)
    targets = torch.as_tensor(samples[1], dtype=torch.float32)
    pairs = max(1, config.batch_size // inputs.shape[1])
    order = torch.randperm(len(inputs), generator=generator)
    total = 0.0
    for start in range(0, len(inputs), pairs):
        batch = order[start : start + pairs]
        loss = torch.mean((model.local(inputs[batch]) - targets[batch]) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    return total / len(inputs)


def rollout_epoch(model, trajectories, steps: int, batch_size: int, generator, optimizer):
    """One pass of ``steps``-step recurrent rollouts from a random start in every training
    trajectory, ``batch_size`` trajectories per step; the mean loss (units of tau^2)."""
    count = trajectories.shape[0]
    order = torch.randperm(count, generator=generator)
    starts = torch.randint(0, trajectories.shape[1] - steps, (count,), generator=generator)
    total, batches = 0.0, 0
    for first in range(0, count, batch_size):
        batch = order[first : first + batch_size]
        start = starts[batch]
        u = trajectories[batch, start]
        loss = 0.0
        for offset in range(1, steps + 1):
            u = model(u)
            error = (u - trajectories[batch, start + offset]) / model.update_scale
            loss = loss + torch.mean(error**2)  # in units of tau, like the one-step loss
        loss = loss / steps
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_([p for p in model.local.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        total += loss.item()
        batches += 1
    return total / batches


def train_nodal(
    dataset: Dataset, config: TrainConfig, seed: int, progress: str | None = None
) -> tuple[NodalFlowMap, TrainingReport]:
    """The trained nodal model and how its training went (see the module docstring)."""
    import time

    begin = time.perf_counter()
    dataset, validation = _split(dataset)
    model, report = initial_model(dataset, config, seed)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    bar = tqdm(
        total=config.one_step_epochs + config.rollout_epochs,
        desc=progress,
        leave=False,
        disable=progress is None,
    )
    if report.linear_prior:  # the least-squares stencil stays: the MLP learns what it leaves
        model.local.stencil_weight.requires_grad_(False)
        model.local.stencil_bias.requires_grad_(False)
    parameters = [p for p in model.local.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(config.one_step_epochs, 1))
    sigma, tau = scales(dataset)
    clean = node_samples(dataset, sigma, tau)
    for _ in range(config.one_step_epochs):
        # with noise, every epoch sees fresh noise; otherwise the same clean samples
        samples = node_samples(dataset, sigma, tau, report.noise, rng) if report.noise else clean
        report.history.append(_one_step_epoch(model, samples, config, generator, optimizer))
        schedule.step()
        bar.set_postfix(loss=f"{report.history[-1]:.3g}")
        bar.update()
    trajectories = torch.as_tensor(dataset.train, dtype=torch.float32)
    steps = min(config.rollout_steps, trajectories.shape[1] - 1)
    if steps >= 1 and config.rollout_epochs > 0:
        optimizer = torch.optim.Adam(parameters, lr=config.rollout_lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.rollout_epochs)
        for _ in range(config.rollout_epochs):
            report.history.append(
                rollout_epoch(
                    model, trajectories, steps, config.rollout_batch, generator, optimizer
                )
            )
            schedule.step()
            bar.set_postfix(loss=f"{report.history[-1]:.3g}")
            bar.update()
    bar.close()
    model.eval()
    _keep_or_drop_correction(model, validation, report)
    report.seconds = time.perf_counter() - begin
    return model, report


def _split(dataset: Dataset) -> tuple[Dataset, Dataset]:
    """Training trajectories minus the last tenth (at least one), and that tenth."""
    held = max(1, len(dataset.train) // 10)
    train = replace(dataset, train=dataset.train[:-held])
    return train, replace(dataset, train=dataset.train[-held:])


@torch.no_grad()
def _keep_or_drop_correction(model: NodalFlowMap, validation: Dataset, report) -> None:
    """On held-out trajectories, keep the MLP on top of a frozen linear stencil only if it
    cuts the one-step error by `CORRECTION_GAIN`; otherwise zero its output layer (a
    linear equation: the MLP only fits noise, and would add quantization noise on the
    core). Without a linear prior the stencil was trained with the MLP: always kept."""
    sigma, tau = model.state_scale.double().numpy(), model.update_scale.double().numpy()
    z, y = node_samples(validation, sigma, tau)
    z, y = torch.as_tensor(z, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    local = model.local
    report.validation_error = float(torch.mean((local(z) - y) ** 2))
    report.validation_error_stencil = float(torch.mean((local.linear(z) - y) ** 2))
    if report.linear_prior and (
        report.validation_error > (1 - CORRECTION_GAIN) * report.validation_error_stencil
    ):
        nn.init.zeros_(local.correction[-1].weight)
        nn.init.zeros_(local.correction[-1].bias)
        report.correction_kept = False


@torch.no_grad()
def rollout(model: nn.Module, initial: np.ndarray, steps: int) -> np.ndarray:
    """``(B, steps + 1, N, F)``: ``initial`` ``(B, N, F)`` advanced ``steps`` times."""
    model.eval()
    u = torch.as_tensor(initial, dtype=torch.float32)
    states = [u]
    for _ in range(steps):
        u = model(u)
        if not torch.all(torch.isfinite(u)):
            # a diverged rollout stays diverged: report an infinite error, not garbage
            states += [torch.full_like(u, math.inf)] * (steps + 1 - len(states))
            break
        states.append(u)
    return torch.stack(states, dim=1).double().numpy()


def save_model(model: NodalFlowMap, config: TrainConfig, report: TrainingReport, path) -> None:
    torch.save(
        {"state": model.state_dict(), "config": asdict(config), "report": report.to_dict()},
        path,
    )


def load_model(path, dataset: Dataset) -> tuple[NodalFlowMap, TrainingReport]:
    saved = torch.load(path, weights_only=True)
    config = TrainConfig(**saved["config"])
    state = saved["state"]
    weight = state["local.stencil_weight"]
    nodes = weight.shape[0] if weight.dim() == 3 else None
    local = LocalOperator(weight.shape[-2], dataset.fields, config.hidden, config.depth, nodes)
    model = NodalFlowMap(
        dataset.grid.stencil, state["state_scale"].numpy(), state["update_scale"].numpy(), local
    )
    model.load_state_dict(state)
    model.eval()
    return model, TrainingReport(**saved["report"])
