"""`qmatmul run cnn`: small CNNs compiled from their torch graphs onto the core.

- `models`: a residual CNN for the 8x8 digits (two Conv2d+BatchNorm+ReLU blocks, a
  residual add, max pooling, Linear) and a Conv1d net for mnist1d;
- `experiment`: float training (cached), SP2/uniform quantization with QAT, compilation
  (`sw.nn.compile_model`), and the evaluation on a device against ``ref``;
- `cli`: the command, its tables, ``results.json`` and figure.

Nothing heavy is imported here, so ``qmatmul run cnn --help`` answers at once.
"""


def main(argv: list[str] | None = None) -> int:
    from .cli import main as run_command

    return run_command(argv)
