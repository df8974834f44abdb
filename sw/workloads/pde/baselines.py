"""Baselines trained on the same trajectory pairs as the nodal model.

- ``mlp``: a plain flow-map ResNet on the whole state vector, ``u + tau * MLP(u / sigma)``
  (every node in, every node out: no locality, no weight sharing).
- ``lstsq-stencil``: the least-squares affine stencil on the same neighbourhoods as the
  nodal network (shared on a uniform grid, one per node otherwise): the nodal model
  without its MLP and without training.
- ``pde-find``: PDE-FIND (Rudy, Brunton, Proctor & Kutz, Sci. Adv. 2017): a library of
  candidate terms (polynomials of the fields up to degree 3, times the fields' spatial
  derivatives up to second order), time derivatives by central differences of the
  snapshots, sparse regression by PySINDy's sequentially thresholded ridge regression
  (`pysindy.STLSQ`); the identified PDE is then integrated with RK4 from each held-out
  initial condition. It is the only model that uses node coordinates: its derivatives
  are local polynomial least-squares fits on the same stencils (exact finite
  differences on a uniform grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
import torch
from scipy import sparse
from torch import nn
from tqdm.auto import tqdm

from .data import Dataset
from .model import least_squares_stencil, node_samples, scales


@dataclass(frozen=True)
class BaselineConfig:
    mlp_hidden: int = 256
    mlp_epochs: int = 200
    mlp_batch: int = 64  # pairs per step
    mlp_lr: float = 1e-3
    pde_find_degree: int = 3  # polynomial degree of the fields in the library
    pde_find_threshold: float = 0.02  # STLSQ threshold on normalized columns
    pde_find_alpha: float = 1e-5  # STLSQ ridge
    rk4_max_courant: float = 2.0  # RK4 substeps keep h * (operator norm bound) below this


# ---- plain flow-map MLP -----------------------------------------------------------------


class FullStateMLP(nn.Module):
    """``u -> u + tau * MLP(u / sigma)`` on the flattened state ``(B, N * F)``."""

    def __init__(self, nodes: int, fields: int, hidden: int, sigma, tau):
        super().__init__()
        size = nodes * fields
        self.register_buffer("state_scale", torch.as_tensor(sigma, dtype=torch.float32))
        self.register_buffer("update_scale", torch.as_tensor(tau, dtype=torch.float32))
        self.net = nn.Sequential(
            nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, size),
        )  # fmt: skip

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        flat = (u / self.state_scale).reshape(u.shape[0], -1)
        return u + self.update_scale * self.net(flat).reshape(u.shape)


def train_full_state_mlp(dataset: Dataset, config: BaselineConfig, seed: int, progress=None):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    sigma, tau = scales(dataset)
    before, after = dataset.pairs()
    model = FullStateMLP(dataset.grid.nodes, dataset.fields, config.mlp_hidden, sigma, tau)
    inputs = torch.as_tensor(before, dtype=torch.float32)
    targets = torch.as_tensor(after, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.mlp_lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.mlp_epochs)
    for _ in tqdm(range(config.mlp_epochs), desc=progress, leave=False, disable=not progress):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), config.mlp_batch):
            batch = order[start : start + config.mlp_batch]
            error = (model(inputs[batch]) - targets[batch]) / model.update_scale
            loss = torch.mean(error**2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    model.eval()
    return model


# ---- least-squares linear stencil -------------------------------------------------------


class LinearStencil(nn.Module):
    """``u -> u + tau * (D(u) / sigma @ W + b)``, ``W`` shared or per node."""

    def __init__(self, dataset: Dataset):
        super().__init__()
        sigma, tau = scales(dataset)
        z, y = node_samples(dataset, sigma, tau)
        per_node = dataset.grid.kind != "uniform"
        weight, bias, self.explained = least_squares_stencil(z, y, per_node)
        stencil = dataset.grid.stencil
        self.register_buffer("index", torch.as_tensor(stencil.index, dtype=torch.long))
        self.register_buffer("sign", torch.as_tensor(stencil.sign, dtype=torch.float64))
        self.register_buffer("state_scale", torch.as_tensor(sigma))
        self.register_buffer("update_scale", torch.as_tensor(tau))
        self.register_buffer("weight", torch.as_tensor(weight))
        self.register_buffer("bias", torch.as_tensor(bias))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u.double()
        padded = torch.cat([u, torch.zeros_like(u[:, :1])], dim=1)
        z = padded[:, self.index] * self.sign[..., None] / self.state_scale
        z = z.reshape(*z.shape[:2], -1)
        if self.weight.dim() == 3:
            linear = torch.einsum("bni,nio->bno", z, self.weight)
        else:
            linear = z @ self.weight
        return u + self.update_scale * (linear + self.bias)


# ---- PDE-FIND ---------------------------------------------------------------------------


def _monomials(dim: int, degree: int) -> list[tuple[int, ...]]:
    """Exponent tuples of the polynomial terms in ``dim`` variables up to ``degree``."""
    terms = []
    for total in range(degree + 1):
        for combo in combinations_with_replacement(range(dim), total):
            terms.append(tuple(combo.count(axis) for axis in range(dim)))
    return terms


def derivative_operators(dataset: Dataset) -> dict[str, sparse.csr_matrix]:
    """Sparse ``(N, N)`` matrices for ``u_x, u_xx`` (1D) or ``u_x, u_y, u_xx, u_xy, u_yy``
    (2D) at every node, from a least-squares polynomial fit on the node's stencil
    (degree ``S - 1`` in 1D, i.e. the exact finite difference; degree 2 in 2D)."""
    grid = dataset.grid
    offsets = grid.offsets()  # (N, S, dim)
    nodes, size = grid.stencil.index.shape
    degree = size - 1 if grid.dim == 1 else 2
    exponents = _monomials(grid.dim, degree)
    names = {(1,): "x", (2,): "xx"} if grid.dim == 1 else {
        (1, 0): "x", (0, 1): "y", (2, 0): "xx", (1, 1): "xy", (0, 2): "yy",
    }  # fmt: skip
    scale = np.max(np.abs(offsets)) or 1.0  # conditioning of the Vandermonde matrices
    rows, cols, values = {name: [] for name in names.values()}, {}, {}
    cols = {name: [] for name in names.values()}
    values = {name: [] for name in names.values()}
    for j in range(nodes):
        d = offsets[j] / scale
        vandermonde = np.stack([np.prod(d ** np.asarray(e), axis=1) for e in exponents], axis=1)
        pseudo = np.linalg.pinv(vandermonde)  # (terms, S): coefficients from values
        for exponent, name in names.items():
            term = exponents.index(exponent)
            factor = math.prod(math.factorial(e) for e in exponent) / scale ** sum(exponent)
            for i in range(size):
                source = grid.stencil.index[j, i]
                if source == nodes:  # the Dirichlet wall: value zero
                    continue
                rows[name].append(j)
                cols[name].append(source)
                values[name].append(factor * pseudo[term, i] * grid.stencil.sign[j, i])
    return {
        name: sparse.csr_matrix((values[name], (rows[name], cols[name])), shape=(nodes, nodes))
        for name in names.values()
    }


class PDEFind:
    """The identified PDE ``u_t = Theta(u) xi`` and its RK4 integration on the nodes."""

    def __init__(self, dataset: Dataset, config: BaselineConfig):
        import pysindy

        self.config = config
        self.operators = derivative_operators(dataset)
        self.fields = dataset.fields
        self.dt = dataset.dt
        snapshots = dataset.train  # (B, T+1, N, F)
        u_t = (snapshots[:, 2:] - snapshots[:, :-2]) / (2 * self.dt)  # central differences
        states = snapshots[:, 1:-1].reshape(-1, *snapshots.shape[2:])
        library = self.library(states)  # (P, N, terms)
        theta = library.reshape(-1, library.shape[-1])
        target = u_t.reshape(-1, self.fields)
        optimizer = pysindy.STLSQ(
            threshold=config.pde_find_threshold,
            alpha=config.pde_find_alpha,
            normalize_columns=True,
        )
        optimizer.fit(theta, target)
        self.coefficients = np.asarray(optimizer.coef_).T  # (terms, F)
        states_max = np.abs(snapshots).max()
        self.substeps = self._substeps(states_max)

    # the library ---------------------------------------------------------------------

    @property
    def terms(self) -> list[tuple[tuple[int, ...], tuple[int, str] | None]]:
        """``(exponents of the fields, (field, derivative) or None)`` per library column:
        every monomial up to the degree, and every first or second derivative of every
        field times every monomial of lower degree."""
        polynomials = _monomials(self.fields, self.config.pde_find_degree)
        terms = [(exponent, None) for exponent in polynomials]
        for field in range(self.fields):
            for name in self.operators:
                terms += [
                    (exponent, (field, name))
                    for exponent in polynomials
                    if sum(exponent) < self.config.pde_find_degree
                ]
        return terms

    def term_names(self) -> list[str]:
        letters = "uv"[: self.fields]
        names = []
        for exponent, derivative in self.terms:
            poly = "".join(f * e for f, e in zip(letters, exponent, strict=True))
            deriv = f"{letters[derivative[0]]}_{derivative[1]}" if derivative else ""
            names.append("*".join(part for part in (poly, deriv) if part) or "1")
        return names

    def library(self, states: np.ndarray) -> np.ndarray:
        """``(P, N, F)`` states -> ``(P, N, terms)`` candidate terms, in `terms` order."""
        derivatives = {
            (field, name): (operator @ states[..., field].T).T
            for field in range(self.fields)
            for name, operator in self.operators.items()
        }
        columns = []
        for exponent, derivative in self.terms:
            column = np.ones(states.shape[:-1])
            for field, power in enumerate(exponent):
                if power:
                    column = column * states[..., field] ** power
            if derivative is not None:
                column = column * derivatives[derivative]
            columns.append(column)
        return np.stack(columns, axis=-1)

    def equation(self) -> list[str]:
        """The identified right-hand sides, one string per field."""
        names = self.term_names()
        lines = []
        for field, letter in enumerate("uv"[: self.fields]):
            terms = [
                f"{c:+.4g} {n}" for c, n in zip(self.coefficients[:, field], names, strict=True)
                if c != 0
            ]  # fmt: skip
            lines.append(f"{letter}_t = " + (" ".join(terms) if terms else "0"))
        return lines

    # integration ---------------------------------------------------------------------

    def rhs(self, states: np.ndarray) -> np.ndarray:
        return self.library(states) @ self.coefficients

    def _substeps(self, amplitude: float) -> int:
        """RK4 substeps per ``dt``, so that ``h`` times a Gershgorin bound of the
        linearized right-hand side stays below ``rk4_max_courant`` (RK4: about 2.8)."""
        norms = {name: abs(op).sum(axis=1).max() for name, op in self.operators.items()}
        bound = 0.0
        for (exponent, derivative), weights in zip(self.terms, self.coefficients, strict=True):
            norm = norms[derivative[1]] if derivative else 1.0
            bound += np.abs(weights).max() * norm * max(amplitude, 1.0) ** sum(exponent)
        return max(1, math.ceil(self.dt * bound / self.config.rk4_max_courant))

    def rollout(self, initial: np.ndarray, steps: int) -> np.ndarray:
        h = self.dt / self.substeps
        u = np.asarray(initial, dtype=np.float64)
        states = [u]
        with np.errstate(all="ignore"):
            for _ in range(steps):
                for _ in range(self.substeps):
                    k1 = self.rhs(u)
                    k2 = self.rhs(u + 0.5 * h * k1)
                    k3 = self.rhs(u + 0.5 * h * k2)
                    k4 = self.rhs(u + h * k3)
                    u = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
                if not np.all(np.isfinite(u)):
                    states += [np.full_like(u, np.inf)] * (steps + 1 - len(states))
                    break
                states.append(u)
        return np.stack(states, axis=1)
