"""PRR-FL: personalized retrogress-resilient federated learning, on Flower, on the core.

Chen, Zhu, Yang and Yuan, "Personalized Retrogress-Resilient Framework for Real-World
Medical Federated Learning", MICCAI 2021 (arXiv 2110.00394); the authors' code is
github.com/CityU-AIM-Group/PRR-FL. Modules:

- `pfa`: Progressive Fourier Aggregation (`pfa_aggregate`, `pfa_ratio`), numpy only;
- `det`: Deputy-Enhanced Transfer's stages and losses;
- `data`: clients with feature shift (devices) and label skew; shard files;
- `model`, `training`, `client`: the CNN, local training and scoring, a client's round;
- `strategies`, `flower_app`, `federation`: Flower strategies, the ClientApp and
  ServerApp, and the Ray simulation;
- `core`: a personalized model compiled onto the core;
- `experiment`, `cli`: methods x seeds, paired tests, figures (`qmatmul run prrfl`).

Only the numpy parts are imported here, so that ``qmatmul run prrfl --help`` stays fast.
"""

from .pfa import as_matrix, from_matrix, low_frequency_mask, pfa_aggregate, pfa_ratio

__all__ = ["as_matrix", "from_matrix", "low_frequency_mask", "pfa_aggregate", "pfa_ratio"]
