"""Ali-CCP (Alibaba Click and Conversion Prediction, Taobao) by path: a two-step funnel.

Nothing is downloaded; ``load_aliccp(DIR)`` reads one of three layouts, recognised by
the file names in ``DIR``:

1. ``raw`` -- the original release: ``sample_skeleton_{train,test}.csv`` and
   ``common_features_{train,test}.csv``. A skeleton line is
   ``sample_id,click,purchase,common_feature_index,feature_count,feature_list``; a
   common-features line is ``common_feature_index,feature_count,feature_list``; a
   feature list joins items ``field\\x02feature_id\\x03value`` with ``\\x01``. A
   sample's features are its own plus those of its common-features line. As in the
   authors' and torch-rechub's preprocessing: samples with purchase but no click are
   dropped; a field seen twice keeps its last value; the 23 fields of `SPARSE_FIELDS`
   become categorical ids (feature ids seen at least ``min_count`` times in training
   get 1..V, the rest and a missing field 0); the 8 fields of `DENSE_FIELDS` also give
   their values as numeric features ``D<field>``, min-max scaled on training data.
   ``max_samples`` reads only the first lines of each skeleton file (the full files
   hold about 42 million samples each).
2. ``rechub`` -- torch-rechub's preprocessed CSVs ``ali_ccp_{train,val,test}.csv``
   (or ``ali_ccp_{train,val,test}_sample.csv``): a header, the label columns ``click``
   and ``purchase``, categorical id columns, and numeric columns whose names start with
   ``D`` (already scaled to [0, 1]).
3. ``authors`` -- the AITM authors' ``process_public_dataset.py`` output
   ``ctr_cvr.{train,dev,test}``: the same CSV layout, categorical columns only.

Errors (`DataFormatError`, a ValueError) name the file and what is wrong: a missing
file, a malformed line, a label column missing (Ali-CCP has exactly two label columns,
click and purchase, in funnel order), labels that are not 0/1, an id that is not a
non-negative integer, or a requested feature the data does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sw.data import DataFormatError

from .data import STEP_NAMES, FunnelData

LABELS = STEP_NAMES[2]  # ("click", "purchase")
# The fields torch-rechub's preprocessing keeps (the AITM authors keep the first 18 of
# them minus 210 and the four *_14 fields); the eight dense ones also carry a value.
SPARSE_FIELDS = (
    "101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207",
    "210", "216", "508", "509", "702", "853", "301", "109_14", "110_14", "127_14", "150_14",
)  # fmt: skip
DENSE_FIELDS = ("109_14", "110_14", "127_14", "150_14", "508", "509", "702", "853")
DEFAULT_MIN_COUNT = 10
LAYOUTS = {
    "raw": {
        "train": ("sample_skeleton_train.csv", "common_features_train.csv"),
        "test": ("sample_skeleton_test.csv", "common_features_test.csv"),
    },
    "rechub": {
        "train": ("ali_ccp_train.csv",),
        "val": ("ali_ccp_val.csv",),
        "test": ("ali_ccp_test.csv",),
    },
    "rechub_sample": {
        "train": ("ali_ccp_train_sample.csv",),
        "val": ("ali_ccp_val_sample.csv",),
        "test": ("ali_ccp_test_sample.csv",),
    },
    "authors": {"train": ("ctr_cvr.train",), "val": ("ctr_cvr.dev",), "test": ("ctr_cvr.test",)},
}


@dataclass(frozen=True)
class AliCCP:
    """The parts as the files give them; ``val`` is None for the raw layout (the
    caller splits it off the training part, as the authors do with 10%)."""

    layout: str
    train: FunnelData
    val: FunnelData | None
    test: FunnelData
    dropped_purchase_without_click: int


def find_layout(directory: Path) -> str:
    """The first layout of `LAYOUTS` whose files are all in ``directory``."""
    if not directory.is_dir():
        raise DataFormatError(f"Ali-CCP directory {directory} does not exist (--path)")
    for layout, parts in LAYOUTS.items():
        if all((directory / name).is_file() for names in parts.values() for name in names):
            return layout
    expected = "; or ".join(
        " + ".join(name for names in parts.values() for name in names) for parts in LAYOUTS.values()
    )
    present = sorted(p.name for p in directory.iterdir())[:10]
    raise DataFormatError(
        f"no Ali-CCP files in {directory}: expected {expected}; found {present or 'nothing'}"
    )


def load_aliccp(
    path,
    *,
    steps: int = 2,
    features=None,
    max_samples: int | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
) -> AliCCP:
    """Ali-CCP from ``path`` (any layout of `LAYOUTS`) as click -> purchase funnels.

    ``features``: names of the feature columns to keep (None: all); ``max_samples``:
    at most this many samples per file; ``min_count``: raw layout only, the training
    count below which a feature id becomes the unknown id 0.
    """
    if steps != len(LABELS):
        raise ValueError(
            f"Ali-CCP has {len(LABELS)} steps ({', '.join(LABELS)}); --steps {steps} is not "
            "available for it"
        )
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    directory = Path(path)
    layout = find_layout(directory)
    if layout == "raw":
        return _load_raw(directory, features, max_samples, min_count)
    return _load_csv_layout(directory, layout, features, max_samples)


# ---- the preprocessed CSV layouts ---------------------------------------------------------


def _read_table(path: Path, max_samples: int | None):
    import pandas as pd

    try:
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
        table = pd.read_csv(path, nrows=max_samples, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise DataFormatError(f"cannot read Ali-CCP file {path}: {error}") from error
    if list(table.columns) != [name.strip() for name in header]:
        raise DataFormatError(f"{path}: duplicate or malformed header {header}")
    return table


def _label_columns(path: Path, columns: list[str]) -> None:
    found = [name for name in LABELS if name in columns]
    if found != list(LABELS):
        raise DataFormatError(
            f"{path}: Ali-CCP needs {len(LABELS)} label columns ({', '.join(LABELS)}, in funnel "
            f"order); found {len(found)}: {', '.join(found) or 'none'}"
        )


def _integers(path: Path, table, name: str, *, labels: bool = False) -> np.ndarray:
    text = table[name].to_numpy(dtype=str)
    valid = np.char.isdigit(text)
    if not valid.all():
        row = int(np.argmin(valid))
        kind = "labels must be 0 or 1" if labels else "ids must be non-negative integers"
        raise DataFormatError(f"{path}: column {name!r} line {row + 2} holds {text[row]!r}; {kind}")
    values = text.astype(np.int64)
    if labels and values.max(initial=0) > 1:
        row = int(np.argmax(values > 1))
        raise DataFormatError(
            f"{path}: column {name!r} line {row + 2} holds {values[row]}; labels must be 0 or 1"
        )
    return values


def _floats(path: Path, table, name: str) -> np.ndarray:
    try:
        values = table[name].to_numpy(dtype=str).astype(np.float64)
    except ValueError as error:
        raise DataFormatError(f"{path}: column {name!r} is not numeric: {error}") from error
    if not np.all(np.isfinite(values)):
        raise DataFormatError(f"{path}: column {name!r} holds a non-finite value")
    return values


def _select(available: list[str], features, source: Path) -> list[str]:
    if features is None:
        return available
    unknown = [name for name in features if name not in available]
    if unknown:
        raise DataFormatError(
            f"unknown feature {unknown[0]!r}: {source} has {', '.join(available)}"
        )
    return [name for name in available if name in set(features)]


def _load_csv_layout(directory: Path, layout: str, features, max_samples) -> AliCCP:
    paths = {part: directory / names[0] for part, names in LAYOUTS[layout].items()}
    tables = {part: _read_table(path, max_samples) for part, path in paths.items()}
    columns = list(tables["train"].columns)
    for part, table in tables.items():
        _label_columns(paths[part], list(table.columns))
        if list(table.columns) != columns:
            raise DataFormatError(
                f"{paths[part]} has columns {list(table.columns)}, unlike {paths['train']}"
            )
    available = [name for name in columns if name not in LABELS]
    chosen = _select(available, features, paths["train"])
    numeric_names = [name for name in chosen if name.startswith("D")]
    categorical_names = [name for name in chosen if not name.startswith("D")]
    if not categorical_names:
        raise DataFormatError(f"{paths['train']}: no categorical feature column is selected")
    raw = {}
    for part, table in tables.items():
        labels = np.stack([_integers(paths[part], table, n, labels=True) for n in LABELS], 1)
        ids = np.stack([_integers(paths[part], table, n) for n in categorical_names], 1)
        numeric = np.zeros((len(table), len(numeric_names)))
        for column, name in enumerate(numeric_names):
            numeric[:, column] = _floats(paths[part], table, name)
        raw[part] = (ids, numeric, labels)
    vocab = np.max([ids.max(axis=0, initial=0) for ids, _, _ in raw.values()], axis=0) + 1
    parts, dropped = {}, 0
    for part, (ids, numeric, labels) in raw.items():
        keep = ~((labels[:, 0] == 0) & (labels[:, 1] == 1))
        dropped += int(np.sum(~keep))
        parts[part] = FunnelData(
            name=f"aliccp-{layout}",
            categorical=ids[keep],
            numeric=numeric[keep].astype(np.float32),
            labels=labels[keep].astype(np.int8),
            categorical_names=tuple(categorical_names),
            vocab_sizes=tuple(int(v) for v in vocab),
            numeric_names=tuple(numeric_names),
            step_names=LABELS,
        )
    return AliCCP(layout, parts["train"], parts["val"], parts["test"], dropped)


# ---- the raw release ---------------------------------------------------------------------


def parse_feature_list(text: str, count: str, where: str) -> dict[str, tuple[str, str]]:
    """``field -> (feature_id, value)`` from one feature list (the last of a repeated
    field wins); ``count`` is the line's declared number of items."""
    items = text.split("\x01") if text else []
    if not count.isdigit() or int(count) != len(items):
        raise DataFormatError(f"{where}: declares {count!r} features but lists {len(items)}")
    features = {}
    for item in items:
        if (
            item.count("\x02") != 1
            or item.count("\x03") != 1
            or item.index("\x02") > item.index("\x03")
        ):
            raise DataFormatError(
                f"{where}: feature {item!r} is not field\\x02feature_id\\x03value"
            )
        field, rest = item.split("\x02")
        feature_id, value = rest.split("\x03")
        features[field] = (feature_id, value)
    return features


def _read_skeleton(path: Path, max_samples: int | None):
    """Rows of (click, purchase, common index, own features) of one skeleton file."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if max_samples is not None and len(rows) >= max_samples:
                break
            if not line.strip():
                continue  # a blank line (e.g. at the end of the file)
            fields = line.rstrip("\r\n").split(",")
            where = f"{path} line {number}"
            if len(fields) != 6:
                raise DataFormatError(
                    f"{where}: {len(fields)} comma-separated fields, expected 6 (sample_id, "
                    "click, purchase, common_feature_index, feature_count, feature_list)"
                )
            click, purchase = fields[1], fields[2]
            if click not in ("0", "1") or purchase not in ("0", "1"):
                raise DataFormatError(
                    f"{where}: click {click!r} and purchase {purchase!r} must be 0 or 1"
                )
            own = parse_feature_list(fields[5], fields[4], where)
            rows.append((int(click), int(purchase), fields[3], own, number))
    return rows


def _read_common(path: Path, wanted: set[str]) -> dict[str, dict]:
    """The common-features lines whose index is in ``wanted``."""
    common = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split(",")
            if len(fields) != 3:
                raise DataFormatError(
                    f"{path} line {number}: {len(fields)} comma-separated fields, expected 3 "
                    "(common_feature_index, feature_count, feature_list)"
                )
            if fields[0] in wanted:
                common[fields[0]] = parse_feature_list(
                    fields[2], fields[1], f"{path} line {number}"
                )
    return common


def _raw_part(directory: Path, part: str, max_samples):
    skeleton_path, common_path = (directory / name for name in LAYOUTS["raw"][part])
    rows = _read_skeleton(skeleton_path, max_samples)
    if not rows:
        raise DataFormatError(f"{skeleton_path} holds no sample")
    common = _read_common(common_path, {row[2] for row in rows})
    samples, dropped = [], 0
    for click, purchase, index, own, number in rows:
        if index not in common:
            raise DataFormatError(
                f"{skeleton_path} line {number}: common_feature_index {index!r} is not in "
                f"{common_path}"
            )
        if purchase and not click:
            dropped += 1
            continue
        merged = dict(common[index])
        merged.update(own)
        samples.append((click, purchase, merged))
    return samples, dropped


def _load_raw(directory: Path, features, max_samples, min_count) -> AliCCP:
    sparse = _select(list(SPARSE_FIELDS), features, directory / LAYOUTS["raw"]["train"][0])
    dense = [field for field in DENSE_FIELDS if features is None or field in sparse]
    parts = {part: _raw_part(directory, part, max_samples) for part in ("train", "test")}
    train_samples = parts["train"][0]
    # Vocabulary from the training samples only: frequent ids get 1..V, the rest 0.
    vocabularies = []
    for field in sparse:
        counts: dict[str, int] = {}
        for _, _, merged in train_samples:
            if field in merged:
                counts[merged[field][0]] = counts.get(merged[field][0], 0) + 1
        frequent = sorted(key for key, count in counts.items() if count >= min_count)
        vocabularies.append({key: code for code, key in enumerate(frequent, start=1)})

    def arrays(samples):
        labels = np.array([[c, p] for c, p, _ in samples], dtype=np.int8).reshape(-1, 2)
        ids = np.array(
            [
                [
                    vocab.get(merged.get(field, ("", ""))[0], 0)
                    for field, vocab in zip(sparse, vocabularies, strict=True)
                ]
                for _, _, merged in samples
            ],
            dtype=np.int64,
        ).reshape(-1, len(sparse))
        numeric = np.zeros((len(samples), len(dense)))
        for row, (_, _, merged) in enumerate(samples):
            for column, field in enumerate(dense):
                if field in merged:
                    try:
                        numeric[row, column] = float(merged[field][1])
                    except ValueError as error:
                        raise DataFormatError(
                            f"Ali-CCP field {field} has a non-numeric value {merged[field][1]!r}"
                        ) from error
        return ids, numeric, labels

    train_ids, train_numeric, train_labels = arrays(train_samples)
    low, high = (
        train_numeric.min(axis=0, initial=np.inf),
        train_numeric.max(axis=0, initial=-np.inf),
    )
    span = np.where(high > low, high - low, 1.0)

    def funnel(ids, numeric, labels) -> FunnelData:
        scaled = np.clip((numeric - low) / span, 0.0, 1.0) if len(dense) else numeric
        return FunnelData(
            name="aliccp-raw",
            categorical=ids,
            numeric=scaled.astype(np.float32),
            labels=labels,
            categorical_names=tuple(sparse),
            vocab_sizes=tuple(len(vocab) + 1 for vocab in vocabularies),
            numeric_names=tuple(f"D{field}" for field in dense),
            step_names=LABELS,
        )

    return AliCCP(
        "raw",
        funnel(train_ids, train_numeric, train_labels),
        None,
        funnel(*arrays(parts["test"][0])),
        parts["train"][1] + parts["test"][1],
    )


def write_raw_sample(directory: Path, part: str, samples, common) -> None:
    """Write files in the raw release's format (for tests and examples).

    ``samples``: (sample_id, click, purchase, common_index, {field: (feature_id, value)});
    ``common``: {common_index: {field: (feature_id, value)}}.
    """

    def feature_list(features: dict) -> str:
        return "\x01".join(f"{f}\x02{fid}\x03{value}" for f, (fid, value) in features.items())

    directory.mkdir(parents=True, exist_ok=True)
    skeleton, common_file = (directory / name for name in LAYOUTS["raw"][part])
    with open(skeleton, "w", encoding="utf-8") as handle:
        for sample_id, click, purchase, index, own in samples:
            handle.write(f"{sample_id},{click},{purchase},{index},{len(own)},{feature_list(own)}\n")
    with open(common_file, "w", encoding="utf-8") as handle:
        for index, features in common.items():
            handle.write(f"{index},{len(features)},{feature_list(features)}\n")


def write_csv_layout(directory: Path, parts: dict[str, FunnelData]) -> None:
    """Write ``{"train", "val", "test"}`` funnels as torch-rechub's ``ali_ccp_*.csv`` files
    (labels click, purchase; categorical ids; numeric columns named ``D...``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for part, data in parts.items():
        if data.steps != len(LABELS):
            raise ValueError(
                f"Ali-CCP files hold {len(LABELS)} steps, the {part} data has {data.steps}"
            )
        numeric_names = [n if n.startswith("D") else f"D{n}" for n in data.numeric_names]
        header = [*LABELS, *data.categorical_names, *numeric_names]
        lines = [",".join(header)]
        for labels, ids, numeric in zip(data.labels, data.categorical, data.numeric, strict=True):
            values = [*map(str, labels), *map(str, ids), *(f"{v:.6g}" for v in numeric)]
            lines.append(",".join(values))
        (directory / LAYOUTS["rechub"][part][0]).write_text("\n".join(lines) + "\n")
