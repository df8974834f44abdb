"""AITM multi-step conversion modelling (Xi et al., KDD 2021, arXiv 2105.08489).

- `model`: `AITM` (towers, transfer network, AIT module), `calibrator_loss`, `funnel_loss`;
- `data`: `FunnelData`, the synthetic funnel generator (`synthetic_funnel`), splits;
- `aliccp`: Ali-CCP by path (the raw release, torch-rechub's and the authors' CSVs);
- `models`: every model of the comparison (ours and torch-rechub's) behind one interface;
- `train`: training, prediction and the funnel metrics (AUC per step, violations);
- `experiment`: the seeded side-by-side comparison and its paired tests;
- `core`: AITM compiled onto the core (`sw.nn.compile_model`), float vs core;
- `cli`: ``qmatmul run aitm``.

Heavy imports (torch) happen in the submodules, not here, so the CLI's ``--help`` is fast.
"""

from __future__ import annotations

__all__ = ["AITM", "calibrator_loss", "funnel_loss", "synthetic_funnel", "SyntheticConfig"]


def __getattr__(name):
    # Lazy: `from sw.workloads.aitm import AITM` imports torch only when asked for.
    if name in ("AITM", "calibrator_loss", "funnel_loss"):
        from . import model

        return getattr(model, name)
    if name in ("synthetic_funnel", "SyntheticConfig"):
        from . import data

        return getattr(data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
