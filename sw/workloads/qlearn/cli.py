"""`qmatmul run qlearn`: train (or load) the DQN, quantize it per scheme, play on the core.

Evaluation: ``--episodes`` greedy episodes per policy on the same seeds; the quantized
policies compute every Q-value on the device through the driver, and the same products
are checked against ``ref``. Writes ``results.json`` and ``qlearn_curve.png`` under
``--out``. torch is imported only after the arguments are parsed.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..backends import open_with_ref
from ..common import format_table, pyplot, write_json

DEFAULT_OUT = Path("build/qlearn")
DEFAULT_CACHE = Path("build/cache")
DEFAULT_SCHEMES = "uniform,sp1,sp2,codebook"


def _stats(returns: np.ndarray) -> dict:
    return {
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "min": float(np.min(returns)),
        "returns": [float(r) for r in returns],
    }


def plot_curve(curve: dict, rows: list[dict], path: Path) -> None:
    from .training import ENV_ID, SOLVED_RETURN

    plt = pyplot()
    fig, (learning, bars) = plt.subplots(1, 2, figsize=(12, 4.5), width_ratios=(3, 2))
    steps = np.array(curve["episode_steps"])
    returns = np.array(curve["episode_returns"])
    learning.plot(steps, returns, ".", markersize=2, alpha=0.4, label="training episode")
    if len(returns) >= 20:
        window = 20
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        learning.plot(steps[window - 1 :], smooth, label=f"mean of last {window}")
    learning.plot(
        curve["eval_steps"], curve["eval_returns"], "o-", label="greedy (selection seeds)"
    )
    if curve.get("selected_step") is not None:
        learning.axvline(
            curve["selected_step"], color="gray", linestyle=":", label="kept checkpoint"
        )
    learning.axhline(
        SOLVED_RETURN, color="red", linestyle="--", linewidth=0.8, label="solved (475)"
    )
    learning.set_xlabel("environment steps")
    learning.set_ylabel("return")
    learning.set_title(f"DQN on {ENV_ID}")
    learning.legend(fontsize=8, loc="upper right")
    labels = [r["label"] for r in rows]
    means = [r["return"]["mean"] for r in rows]
    stds = [r["return"]["std"] for r in rows]
    bars.bar(range(len(rows)), means, yerr=stds, capsize=3, color="#3182bd")
    bars.axhline(SOLVED_RETURN, color="red", linestyle="--", linewidth=0.8)
    bars.set_xticks(range(len(rows)), labels, rotation=20)
    bars.set_ylabel("greedy return (mean ± std)")
    bars.set_title(f"evaluation, {len(rows[0]['return']['returns'])} episodes")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def policy_table(rows: list[dict], backend: str) -> str:
    headers = ["policy", "PTQ (ref)", "return", "% float", f"ref={backend}", "cycles/Q"]
    lines = []
    for r in rows:
        ret = f"{r['return']['mean']:.1f} ± {r['return']['std']:.1f}"
        if r["scheme"] == "float":
            lines.append([r["label"], "", ret, "100.0", "-", "-"])
            continue
        ptq = f"{r['ptq_return']['mean']:.1f} ± {r['ptq_return']['std']:.1f}"
        lines.append(
            [
                r["label"],
                ptq,
                ret,
                f"{r['percent_of_float']:.1f}",
                f"{100 * r['ref_agreement']:.1f}%",
                f"{r['cycles_per_decision']:.1f}",
            ]
        )
    return format_table(headers, lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul run qlearn",
        description="DQN on CartPole-v1; the greedy policy's Q-values computed on the core.",
    )
    parser.add_argument(
        "--backend", default="sim", help="ref, sim or serial:PORT[,BAUD] (default sim)"
    )
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (>= 1)")
    parser.add_argument(
        "--steps", type=int, help="training steps (default: DQNConfig.total_steps, 60k)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bits", type=int, default=4, help="weight bits")
    parser.add_argument("--schemes", default=DEFAULT_SCHEMES, help="comma-separated schemes")
    parser.add_argument("--act-bits", type=int, default=8, help="activation bits (2..8)")
    parser.add_argument(
        "--qat-rounds",
        type=int,
        help="distillation rounds of QAT (0: PTQ only; default: QATConfig.rounds)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="trained-agent cache")
    parser.add_argument("--retrain", action="store_true", help="ignore a cached agent")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    if args.qat_rounds is not None and args.qat_rounds < 0:
        parser.error("--qat-rounds must be at least 0")
    if not 2 <= args.act_bits <= 8:
        parser.error(f"--act-bits={args.act_bits} is out of range; allowed range is [2, 8]")
    # Heavy imports only now: `--help` answers at once.
    import torch

    from sw.quant import parse_schemes

    from .policy import QATConfig
    from .training import DQNConfig

    steps = DQNConfig.total_steps if args.steps is None else args.steps
    warmup = DQNConfig.learning_starts
    if steps <= warmup:
        parser.error(f"--steps must exceed the {warmup} warm-up steps")
    config = DQNConfig(total_steps=steps, eval_every=min(DQNConfig.eval_every, steps - warmup))
    qat = QATConfig() if args.qat_rounds is None else QATConfig(rounds=args.qat_rounds)
    try:
        schemes = parse_schemes(args.schemes, args.bits)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(1)  # small matrices: threads only add overhead on a shared machine
    return run(args, config, qat, schemes)


def trained_agent(args, config):
    """The agent from the cache, or trained now (and cached)."""
    from .training import cache_path, load_agent, save_agent, train_dqn

    cached = cache_path(args.cache, config, args.seed)
    start = time.perf_counter()
    if cached.exists() and not args.retrain:
        agent = load_agent(cached, config, args.seed)
        print(f"loaded the trained agent from {cached}")
    else:
        agent = train_dqn(config, args.seed)
        save_agent(agent, cached)
        print(f"trained in {time.perf_counter() - start:.0f} s; cached in {cached}")
    print(
        f"kept the checkpoint at step {agent.curve['selected_step']} "
        f"(greedy return {agent.curve['selected_eval_return']:.1f} on selection seeds)"
    )
    return agent


def scheme_row(agent, scheme, config, qat, args, ref, backend, float_returns) -> dict:
    """Quantize for one scheme; play the PTQ policy on ref and the QAT one on the backend."""
    from .policy import CorePolicy, quantize_agent
    from .training import EVALUATION_SEED_OFFSET, evaluate

    seed = args.seed + EVALUATION_SEED_OFFSET
    ptq, _, program = quantize_agent(
        agent,
        scheme,
        config,
        qat,
        args.seed,
        act_bits=args.act_bits,
        progress=f"QAT {scheme.label}",
    )
    ptq_returns = evaluate(
        CorePolicy(agent, ptq, ref), args.episodes, seed, progress=f"{scheme.label} PTQ"
    )
    policy = CorePolicy(agent, program, backend, ref)
    returns = evaluate(policy, args.episodes, seed, progress=f"{scheme.label} on {args.backend}")
    checked = policy.checked_rows
    return {
        "scheme": scheme.name,
        "label": scheme.label,
        "ptq_return": _stats(ptq_returns),
        "return": _stats(returns),
        "percent_of_float": 100 * float(np.mean(returns)) / float(np.mean(float_returns)),
        "decisions_on_backend": policy.decisions,
        "ref_checked_decisions": checked,
        "ref_agreement": 1.0 - policy.mismatched_rows / checked if checked else 1.0,
        "cycles_per_step": policy.cycles / policy.steps,
        "cycles_per_decision": policy.cycles / policy.decisions,
        "weight_memory_bits": program.weight_memory_bits,
    }


def run(args, config, qat, schemes) -> int:
    from .training import ENV_ID, EVALUATION_SEED_OFFSET, SOLVED_RETURN, evaluate, float_policy

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        ref, backend = open_with_ref(stack, args.backend)  # fail early on a bad backend
        agent = trained_agent(args, config)
        seed = args.seed + EVALUATION_SEED_OFFSET
        float_returns = evaluate(float_policy(agent), args.episodes, seed, progress="eval float")
        rows = [{"scheme": "float", "label": "float", "return": _stats(float_returns)}]
        for scheme in schemes:
            rows.append(scheme_row(agent, scheme, config, qat, args, ref, backend, float_returns))
    float_mean = float(np.mean(float_returns))

    figure = out / "qlearn_curve.png"
    plot_curve(agent.curve, rows, figure)
    path = write_json(
        out / "results.json",
        {
            "env": ENV_ID,
            "backend": args.backend,
            "seed": args.seed,
            "episodes": args.episodes,
            "evaluation_seeds": [seed, seed + args.episodes - 1],
            "config": asdict(config),
            "qat": asdict(qat),
            "obs_scale": agent.obs_scale.tolist(),
            "table": rows,
            "curve": agent.curve,
            "figure": str(figure),
        },
    )
    print()
    print(policy_table(rows, args.backend))
    solved = "solves" if float_mean >= SOLVED_RETURN else "does NOT solve"
    print(f"float policy {solved} CartPole (mean {float_mean:.1f}, target >= {SOLVED_RETURN:.0f})")
    sp2 = next((r for r in rows if r["scheme"] == f"sp2-{args.bits}"), None)
    if sp2 is not None:
        met = "meets" if sp2["percent_of_float"] >= 95 else "does NOT meet"
        print(f"SP2 {args.bits}-bit keeps {sp2['percent_of_float']:.1f}% of float ({met} >= 95%)")
    print(
        "cycles/Q: device cycles per state's Q-values, the running episodes batched into one "
        "product per layer and step"
    )
    print(f"wrote {path}")
    print(f"wrote {figure}")
    mismatched = [r["scheme"] for r in rows[1:] if r["ref_agreement"] < 1]
    if mismatched:
        print(f"ERROR: {args.backend} and ref disagree for {mismatched}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
