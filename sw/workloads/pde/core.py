"""The learned step on the core: wide state inputs, a wide first layer, a compiled MLP.

Per time step, for ``B`` samples of ``N`` nodes (``F`` fields, ``S`` stencil entries):

1. host: the normalized state is quantized to ``input_bits``-bit integers (8, 12 or 16),
   ``q = round(u / sigma / s_in)``, and every node's stencil is gathered, ``z = D(q)``
   (a gather and signs: exact);
2. core, `exact_matmul`: every layer that reads the nodal values, with wide integer
   weights (one scale per output column), digit-split into products the device holds
   and recombined exactly on the host:
   - the linear stencil, 24-bit weights, dequantized (a shared stencil is a
     ``(B*N, S*F) x (S*F, F)`` product: M = nodes x batch; per-node stencils are
     assembled into one sparse ``(N*F, N*F)`` operator run as a dense
     ``(B, N*F) x (N*F, N*F)`` product);
   - the MLP's first layer, ``(B*N, S*F) x (S*F, H)``, 16-bit weights, requantized by
     the kernel's own `requantize` (bias, fixed-point scale, ReLU) to 8-bit activations;
3. core, `compile_model`: the rest of the shared MLP (4-bit weights of ``scheme``, 8-bit
   hidden activations, ReLU folded, 16-bit output), one batch of ``B*N`` rows;
4. host: ``u += tau * (stencil + MLP)`` in float64.

Why the first layer is wide. It forms differences of nearly equal neighbour values; a
4-bit weight is off by up to 1/14 of its row's largest weight, an error proportional
to the values themselves rather than to their differences. `compile_model`'s
``input_bits`` option takes 16-bit inputs but keeps 4-bit weights, so that layer goes
through `exact_matmul` (``wide_first_layer=False`` compiles the whole MLP with
``input_bits`` instead, for comparison). The stencil likewise: with 4-bit weights it
could not even sum to zero, so a constant state would drift.

Quantization-aware training: the first layer (float, on ``input_bits``-bit inputs) and
the fake-quant rest (`prepare_qat`) are trained together on what the stencil leaves
of the one-step increments, the quantizers re-frozen every epoch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from sw.kernel import requantize
from sw.kernel.exact import exact_matmul_report
from sw.nn import compile_model, prepare_qat
from sw.quant import build_requant, calibrate_scale, quantize

from .data import Dataset
from .model import LocalOperator, NodalFlowMap, node_samples

# The linear stencil's integer weights. Its entries nearly cancel (they sum to ~0), so a
# rounding error of 2^-15 of the largest entry acts as a spurious growth rate of the whole
# state every step: with 16 bits the heat and advection rollouts drifted linearly to
# ~1e-3 at step 100. Its products are dequantized on the host (no requantization bound),
# so it takes 24 bits: 6 base-16 weight digits in `exact_matmul` instead of 4.
STENCIL_WEIGHT_BITS = 24
HIDDEN_WEIGHT_BITS = 16  # the MLP's first layer (its sums are requantized: HOST_ACC_BITS)
HIDDEN_BITS = 8  # the MLP's activations on the core
HOST_ACC_BITS = 40  # bound on the host's int64 sums of the wide first layer (requantize)
# The state's input step maps twice the largest training value to the top code (one bit
# of headroom): a held-out state a little beyond the training range must not saturate,
# because the stencil multiplies a clipped value by its large weights (~20x).
INPUT_HEADROOM = 2.0
INPUT_BITS = (8, 12, 16)


@dataclass(frozen=True)
class CoreConfig:
    scheme: str = "uniform"  # 4-bit weights of the compiled layers
    weight_bits: int = 4
    qat_epochs: int = 4
    qat_lr: float = 3e-4
    qat_samples: int = 60_000  # (node, pair) samples for QAT and calibration
    batch_size: int = 256
    wide_first_layer: bool = True


def folded_correction(local: LocalOperator) -> nn.Sequential:
    """The correction MLP on raw normalized neighbourhoods: the whitening
    ``(z - mean) @ whitening`` folded into its first Linear (exact in float64)."""
    folded = copy.deepcopy(local.correction).double()
    first = folded[0]
    whitening = local.whitening.double()
    mean = local.mean.double()
    with torch.no_grad():
        weight = first.weight @ whitening.T  # (H, I)
        first.bias.copy_(first.bias - mean @ whitening @ first.weight.T)
        first.weight.copy_(weight)
    return folded.float().eval()


def integer_columns(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(K, N)`` real weights -> ``bits``-bit integers and one scale per column."""
    top = (1 << (bits - 1)) - 1
    peak = np.abs(weight).max(axis=0)
    scales = np.where(peak > 0, peak / top, 1.0)
    return np.rint(weight / scales).astype(np.int64), scales


def assemble(weight: np.ndarray, model: NodalFlowMap) -> np.ndarray:
    """Per-node stencils ``(N, S*F, F)`` -> the operator ``(N*F, N*F)`` on flattened states:
    ``out[j*F + o] = sum_{i,f} sign[j,i] q[index[j,i]*F + f] W[j, i*F + f, o]``."""
    index, sign = model.index.numpy(), model.sign.numpy()
    nodes, size = index.shape
    fields = weight.shape[-1]
    per_entry = weight.reshape(nodes, size, fields, fields)  # [j, i, f, o]
    operator = np.zeros((nodes * fields, nodes * fields))
    for j in range(nodes):
        for i in range(size):
            source = index[j, i]
            if source == nodes:  # the Dirichlet wall (always zero)
                continue
            rows = slice(source * fields, (source + 1) * fields)
            operator[rows, j * fields : (j + 1) * fields] += sign[j, i] * per_entry[j, i]
    return operator


@dataclass
class CoreNodalStep:
    """One nodal step with every product on an accelerator (see the module docstring)."""

    model: NodalFlowMap
    input_bits: int
    input_scale: float  # real (normalized) value of one state input step
    stencil_ints: np.ndarray  # (S*F, F), or (N*F, N*F) assembled
    stencil_scales: np.ndarray
    stencil_bias: np.ndarray  # (F,) or (N*F,), units of tau
    program: object  # sw.nn.Program: the MLP after the wide layer (all of it; None: no MLP)
    hidden_ints: np.ndarray | None = None  # (S*F, H) first MLP layer, when wide
    hidden_requant: object = None  # its kernel Requant (ReLU, 8-bit)
    cycles: dict[str, int] = field(default_factory=dict)

    def _count(self, name: str, cycles: int) -> None:
        self.cycles[name] = self.cycles.get(name, 0) + int(cycles)

    def _product(self, name: str, a: np.ndarray, b: np.ndarray, accelerator) -> np.ndarray:
        result, report = exact_matmul_report(a, b, accelerator)
        self._count(name, report.device.cycles)
        return result

    def __call__(self, accelerator, u: np.ndarray) -> np.ndarray:
        batch, nodes, fields = u.shape
        sigma = self.model.state_scale.double().numpy()
        q = quantize(u / sigma, self.input_scale, self.input_bits)  # (B, N, F) ints
        index, sign = self.model.index.numpy(), self.model.sign.numpy().astype(np.int64)
        padded = np.concatenate([q, np.zeros_like(q[:, :1])], axis=1)
        z = (padded[:, index] * sign[..., None]).reshape(batch * nodes, -1)  # exact gather
        if self.stencil_bias.size == nodes * fields:  # per-node stencils: one operator
            acc = self._product("stencil", q.reshape(batch, -1), self.stencil_ints, accelerator)
        else:  # a shared stencil: M = nodes x batch
            acc = self._product("stencil", z, self.stencil_ints, accelerator)
        linear = acc * (self.input_scale * self.stencil_scales) + self.stencil_bias
        linear = linear.reshape(batch, nodes, fields)
        # the MLP's first layer: its own product (its weights have fewer digits)
        wide = (
            self._product("hidden", z, self.hidden_ints, accelerator)
            if self.hidden_ints is not None
            else None
        )
        update = linear
        if self.program is not None:
            if wide is not None:
                hidden = requantize(wide, self.hidden_requant)  # ReLU, 8-bit: the core's stage
                rows = hidden * float(self.program.input_scales[0])
            else:
                rows = z * self.input_scale  # the program quantizes these to the same integers
            correction, cycles = self.program.run(accelerator, rows)
            for name, count in cycles.items():
                self._count(f"mlp.{name}", count)
            update = linear + correction.reshape(batch, nodes, fields)
        return u + self.model.update_scale.double().numpy() * update


def _training_samples(model: NodalFlowMap, dataset: Dataset, config: CoreConfig, seed: int):
    """Normalized neighbourhoods and what the stencil leaves of the increments (the MLP's
    targets), ``qat_samples`` of them."""
    sigma = model.state_scale.double().numpy()
    tau = model.update_scale.double().numpy()
    z, y = node_samples(dataset, sigma, tau)
    with torch.no_grad():
        residual = y - model.local.linear(torch.as_tensor(z, dtype=torch.float32)).numpy()
    z, residual = z.reshape(-1, z.shape[-1]), residual.reshape(-1, residual.shape[-1])
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(z), size=min(config.qat_samples, len(z)), replace=False)
    return z[pick], residual[pick]


def _joint_qat(first, rest, z, targets, config: CoreConfig, seed: int, progress):
    """Train the float first layer and the fake-quant rest together (STE through the
    rest's 8-bit input quantizer), re-freezing the rest's quantizers every epoch.

    A tenth of the samples is held out; the state after the epoch with the smallest
    held-out error of the frozen (eval-mode) quantized MLP is kept: straight-through
    training is noisy, and the last epoch is not reliably the best one.
    """
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    inputs = torch.as_tensor(z, dtype=torch.float32)
    targets = torch.as_tensor(targets, dtype=torch.float32)
    held = len(inputs) // 10
    order = torch.randperm(len(inputs), generator=generator)
    check, train = order[:held], order[held:]
    parameters = list(first.parameters()) + list(rest.parameters())
    optimizer = torch.optim.Adam(parameters, lr=config.qat_lr)
    steps = config.qat_epochs * math.ceil(len(train) / config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))

    def frozen_error() -> float:
        with torch.no_grad():
            rest.freeze(torch.relu(first(inputs[train])))
            rest.eval()
            prediction = rest(torch.relu(first(inputs[check])))
            return float(torch.mean((prediction - targets[check]) ** 2))

    best = (frozen_error(), copy.deepcopy(first.state_dict()), copy.deepcopy(rest.state_dict()))
    for _ in tqdm(range(config.qat_epochs), desc=progress, leave=False, disable=not progress):
        rest.train()
        shuffled = train[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(shuffled), config.batch_size):
            batch = shuffled[start : start + config.batch_size]
            prediction = rest(torch.relu(first(inputs[batch])))
            loss = torch.mean((prediction - targets[batch]) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        error = frozen_error()
        if error < best[0]:
            best = (error, copy.deepcopy(first.state_dict()), copy.deepcopy(rest.state_dict()))
    first.load_state_dict(best[1])
    rest.load_state_dict(best[2])
    rest.eval()


def compile_step(
    model: NodalFlowMap,
    dataset: Dataset,
    input_bits: int,
    config: CoreConfig,
    seed: int,
    progress: str | None = None,
) -> CoreNodalStep:
    """The quantized, compiled step of a trained model for ``input_bits``-bit states."""
    torch.manual_seed(seed)
    local = model.local
    z, targets = _training_samples(model, dataset, config, seed)
    input_scale = calibrate_scale(z, input_bits, headroom=INPUT_HEADROOM)
    z_grid = quantize(z, input_scale, input_bits) * input_scale  # what the core will see
    correction = folded_correction(local)

    weight, bias = local.effective_stencil()
    if local.per_node:
        weight, bias = assemble(weight, model), bias.reshape(-1)
    stencil_ints, stencil_scales = integer_columns(weight, STENCIL_WEIGHT_BITS)

    output = local.correction[-1]
    if not (torch.any(output.weight != 0) or torch.any(output.bias != 0)):
        # training dropped the MLP (no gain over the linear stencil): nothing to compile
        program, hidden_ints, hidden_requant = None, None, None
    elif config.wide_first_layer:
        first = copy.deepcopy(correction[0])
        rest = correction[2:]  # after the first ReLU
        hidden = torch.relu(first(torch.as_tensor(z_grid, dtype=torch.float32))).detach()
        quantized = prepare_qat(rest, hidden[:8], config.scheme, config.weight_bits, HIDDEN_BITS,
                                calibration_inputs=hidden)  # fmt: skip
        if config.qat_epochs > 0:
            _joint_qat(first, quantized, z_grid, targets, config, seed, progress)
        program = compile_model(quantized, hidden[:8])
        first_weight = first.weight.detach().double().numpy().T  # (I, H)
        hidden_ints, hidden_scales = integer_columns(first_weight, HIDDEN_WEIGHT_BITS)
        hidden_requant = build_requant(
            in_scale=input_scale,
            weight_scales=hidden_scales,
            out_scale=float(program.input_scales[0]),
            bias=first.bias.detach().double().numpy(),
            relu=True,
            out_bits=HIDDEN_BITS,
            acc_bits=HOST_ACC_BITS,
        )
    else:
        example = torch.as_tensor(z_grid[:8], dtype=torch.float32)
        # calibrated on the extremes of the input range, so its input step is input_scale
        extremes = np.stack([np.full(z.shape[1], input_scale * ((1 << (input_bits - 1)) - 1))])
        quantized = prepare_qat(correction, example, config.scheme, config.weight_bits,
                                HIDDEN_BITS, calibration_inputs=np.concatenate([z_grid, extremes]),
                                input_bits=input_bits)  # fmt: skip
        if config.qat_epochs > 0:
            from sw.nn import train_qat

            train_qat(quantized, z_grid, targets, nn.functional.mse_loss,
                      epochs=config.qat_epochs, batch_size=config.batch_size,
                      lr=config.qat_lr, seed=seed, progress=progress)  # fmt: skip
        program = compile_model(quantized, example)
        input_scale = float(program.input_scales[0])
        hidden_ints, hidden_requant = None, None
    return CoreNodalStep(
        model=model,
        input_bits=input_bits,
        input_scale=float(input_scale),
        stencil_ints=stencil_ints,
        stencil_scales=stencil_scales,
        stencil_bias=bias,
        program=program,
        hidden_ints=hidden_ints,
        hidden_requant=hidden_requant,
    )


def core_rollout(step: CoreNodalStep, accelerator, initial: np.ndarray, steps: int):
    """``(B, steps + 1, N, F)`` predictions with every product on ``accelerator``."""
    u = np.asarray(initial, dtype=np.float64)
    states = [u]
    for _ in range(steps):
        u = step(accelerator, u)
        if not np.all(np.isfinite(u)):
            states += [np.full_like(u, np.inf)] * (steps + 1 - len(states))
            break
        states.append(u)
    return np.stack(states, axis=1)
