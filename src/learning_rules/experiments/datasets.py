"""The datasets chapter: what each dataset holds, as a table and as pictures.

Experiment ``datasets_summary`` (per dataset and split: samples, features, class balance or target
range / mean / std; a dataset that is not on this machine gets a row saying so, never a silent
substitute) and artifacts ``datasets-table`` and ``datasets-figure``.

Explained in: ``book/datasets.ipynb``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..store import atomic_write_text
from . import one_blas_thread, register_artifact, register_experiment, save_figure

__all__ = [
    "DatasetsSummaryConfig",
    "availability",
    "class_counts",
    "class_name",
    "datasets_summary",
    "display_name",
    "example_images",
    "markdown_table",
    "plot_class_balance",
    "plot_example_grid",
    "plot_pairs",
    "require_present",
    "summarize_arrays",
]

NOTEBOOK = "book/datasets.ipynb"


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """Silence pooch's "Downloading ..." log lines and tqdm's missing-ipywidgets warning inside a
    kernel (either would land in a page as stderr, which the book build treats as an error)."""
    with warnings.catch_warnings():
        # pooch imports tqdm.auto, which warns when ipywidgets is missing
        warnings.filterwarnings("ignore", message="IProgress not found")
        try:
            import pooch

            logger = pooch.get_logger()  # not registered with logging.getLogger
        except ImportError:  # pragma: no cover - pooch is a dependency
            logger = logging.getLogger("pooch")
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logger.setLevel(level)


# Downloads that failed in this process, keyed by (dataset, data folders, cache, offline): a page
# that asks about the same dataset several times (a planner, then each section) waits once.
_FAILED: dict[tuple[str, str, str, str], str] = {}


def availability(name: str) -> str | None:
    """``None`` when dataset ``name`` (a data-layer name) can be used now, else why not, with the fix.

    Files already on this machine (``LEARNING_RULES_DATA``, then the user cache) are used as they
    are. A missing one is downloaded, checksum-verified, into the user cache, unless
    ``LEARNING_RULES_OFFLINE`` is set: a page opened in Colab fetches the datasets its parameters
    name, and a machine with every dataset in place (CI) never touches the network. A failed
    download is remembered for the rest of the process. Any failure (not found, checksum mismatch,
    no network) is returned as text, never raised.
    """
    import os

    data = _data()
    key = (name, *(os.environ.get(v, "") for v in ("LEARNING_RULES_DATA", "LEARNING_RULES_CACHE",
                                                   "LEARNING_RULES_OFFLINE")))
    if key in _FAILED:
        return _FAILED[key]

    def first_line(exc: Exception) -> str:
        return str(exc).splitlines()[0] if str(exc) else ""

    with quiet_downloads():  # pooch's import warns on stderr, which fails a book page
        try:
            data.where(name)
            return None
        except data.DatasetNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - any reason is reported, never hidden
            return f"{type(exc).__name__}: {first_line(exc)}"
        try:
            data.fetch(name)
            return None
        except data.DatasetNotFoundError as exc:
            reason = f"{first_line(exc)} Fix: learning-rules data fetch {name}"
        except Exception as exc:  # noqa: BLE001
            reason = f"{type(exc).__name__}: {first_line(exc)}"
    _FAILED[key] = reason
    return reason


def require_present(datasets: Sequence[str], missing: Mapping[str, str]) -> list[str]:
    """The datasets of ``datasets`` that are not in ``missing`` (``{name: reason}``), in order.

    Raises a ``RuntimeError`` naming every dataset, its reason and the fix when none is left: a page
    whose tables all need data says so at its top instead of failing later on an empty grid.
    """
    if not len(datasets):
        raise ValueError("datasets is empty: name at least one dataset (`learning-rules data list`)")
    present = [d for d in datasets if d not in missing]
    if not present:
        reasons = "\n".join(f"  - {d}: {missing[d]}" for d in datasets)
        raise RuntimeError(
            f"none of this page's datasets ({', '.join(datasets)}) can be used here, so it has "
            f"nothing to run:\n{reasons}\nFix: run the page where it can download them (unset "
            "LEARNING_RULES_OFFLINE), or point LEARNING_RULES_DATA at a folder holding them "
            "(`learning-rules data list` names the files).")
    return present


def _data():
    from .. import data

    return data


def summarize_arrays(X: np.ndarray, y: np.ndarray, task: str) -> dict[str, Any]:
    """Size and label statistics of one split.

    For classification, the class fractions :math:`p_k = n_k / N` give the smallest and largest
    :math:`p_k`; for regression, the target's range, mean and (population) standard deviation.

    Parameters
    ----------
    X : array, shape (N, ...)
        Samples, one per row (images may keep their shape).
    y : array, shape (N,)
        Labels (classification) or targets (regression).
    task : {"classification", "regression"}
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    row = {"n_samples": int(len(X)), "n_features": int(np.prod(X.shape[1:]))}
    if task == "classification":
        _, counts = np.unique(y, return_counts=True)
        fractions = counts / counts.sum()
        row.update(
            n_classes=int(len(counts)),
            smallest_class=float(fractions.min()),
            largest_class=float(fractions.max()),
        )
    elif task == "regression":
        y = np.asarray(y, dtype=np.float64)
        row.update(
            target_min=float(y.min()),
            target_max=float(y.max()),
            target_mean=float(y.mean()),
            target_std=float(y.std()),
        )
    else:
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    return row


@dataclasses.dataclass(frozen=True)
class DatasetsSummaryConfig:
    """Which datasets and splits to summarise (``datasets=()`` means every registered one)."""

    datasets: tuple[str, ...] = ()
    splits: tuple[str, ...] = ("train", "test")


SUMMARY_COLUMNS = [
    "dataset", "split", "task", "available", "n_samples", "n_features", "n_classes",
    "smallest_class", "largest_class", "target_min", "target_max", "target_mean", "target_std",
    "note",
]


def _dataset_names(names: Sequence[str]) -> list[str]:
    data = _data()
    registered = [info.name for info in data.list_datasets()]
    if not names:
        return registered
    for name in names:
        if name not in registered:
            raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(registered)}")
    return list(names)


@register_experiment(
    "datasets_summary",
    DatasetsSummaryConfig,
    "per dataset and split: samples, features, class balance or target range/mean/std",
    cache=False,  # depends on which dataset files exist, which the store key does not see
)
@one_blas_thread
def datasets_summary(config: DatasetsSummaryConfig) -> pd.DataFrame:
    """One row per (dataset, split); a missing dataset gets ``available=False`` and the reason."""
    data = _data()
    infos = {info.name: info for info in data.list_datasets()}
    rows = []
    for name in _dataset_names(config.datasets):
        info = infos[name]
        splits = [s for s in config.splits if s in info.splits]
        for split in splits:
            row: dict[str, Any] = {"dataset": name, "split": split, "task": info.task}
            try:
                with quiet_downloads():
                    X, y = data.load(name, split)
            except data.DatasetNotFoundError as exc:
                first = str(exc).splitlines()[0]
                row.update(available=False, note=f"{first} Fix: learning-rules data fetch {name}")
            else:
                row.update(available=True, note="")
                row.update(summarize_arrays(X, y, info.task))
            rows.append(row)
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    counts = ["n_samples", "n_features", "n_classes"]
    frame[counts] = frame[counts].astype("Int64")  # whole numbers, <NA> where missing
    frame["available"] = frame["available"].astype(bool)
    return frame


def class_counts(names: Sequence[str], split: str = "train") -> pd.DataFrame:
    """Tidy label counts of classification datasets: dataset, label, count, fraction.

    Datasets that are missing or have no ``split`` are skipped (the summary table reports them).
    """
    data = _data()
    infos = {info.name: info for info in data.list_datasets()}
    frames = []
    for name in _dataset_names(names):
        info = infos[name]
        if info.task != "classification" or split not in info.splits:
            continue
        try:
            with quiet_downloads():
                _, y = data.load(name, split)
        except data.DatasetNotFoundError:
            continue
        labels, counts = np.unique(y, return_counts=True)
        frames.append(
            pd.DataFrame(
                {"dataset": name, "label": labels.astype(int), "count": counts,
                 "fraction": counts / counts.sum()}
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "label", "count", "fraction"]
    )


def example_images(
    name: str, n: int, rng: np.random.Generator, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images drawn without replacement, scaled to [0, 1], in their image shape."""
    data = _data()
    with quiet_downloads():
        X, y = data.load(name, split, flatten=False, dtype=np.float32)
    if X.ndim < 3:
        raise ValueError(f"dataset {name!r} holds tables, not images")
    if not 1 <= n <= len(X):
        raise ValueError(f"n must be between 1 and {len(X)}, got {n}")
    index = np.sort(rng.choice(len(X), size=n, replace=False))
    return X[index], y[index]


#: How the figures name a dataset (the registered name is what `learning-rules data` takes).
DISPLAY_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "digits": "digits (8 x 8)", "california-housing": "California housing",
                 "california-housing-csv": "California housing",
                 "wine-quality-red": "Wine Quality (red)", "wine-quality-white": "Wine Quality (white)"}

#: Class names of the labelled image sets, by label (Xiao et al. 2017; Krizhevsky 2009).
CLASS_NAMES = {
    "fashion-mnist": ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                      "sneaker", "bag", "ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
}


def display_name(name: str) -> str:
    """The figure name of dataset ``name`` (:data:`DISPLAY_NAMES`, else ``name``)."""
    return DISPLAY_NAMES.get(name, name)


def class_name(dataset: str, label: int) -> str:
    """``"3"`` for digits; ``"3 dress"`` where the classes have names (:data:`CLASS_NAMES`)."""
    names = CLASS_NAMES.get(dataset)
    return f"{label} {names[label]}" if names and 0 <= label < len(names) else str(label)


def _image_datasets() -> list[str]:
    return [info.name for info in _data().list_datasets() if info.image_shape is not None]


def plot_example_grid(names: Sequence[str], n_examples: int, seed: int):
    """A grid of example images: one row per available image dataset, its label above each image.

    Returns
    -------
    (matplotlib.figure.Figure, list of str)
        The figure and the datasets left out because they are missing.
    """
    import matplotlib.pyplot as plt

    data = _data()
    rng = np.random.default_rng(seed)
    shown, missing = [], []
    for name in names:
        try:
            shown.append((name, *example_images(name, n_examples, rng)))
        except data.DatasetNotFoundError:
            missing.append(name)
    if not shown:
        raise ValueError(f"none of the image datasets {list(names)} is available on this machine")
    fig, axes = plt.subplots(
        len(shown), n_examples, figsize=(1.1 * n_examples, 1.35 * len(shown)), squeeze=False
    )
    for row, (name, images, labels) in enumerate(shown):
        for col in range(n_examples):
            ax = axes[row, col]
            image = images[col]
            ax.imshow(image, cmap=None if image.ndim == 3 else "gray_r", vmin=0.0, vmax=1.0)
            ax.set_title(class_name(name, int(labels[col])), fontsize=7, pad=2)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(display_name(name), fontsize=9, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig, missing


def plot_class_balance(counts: pd.DataFrame):
    """Bar chart of the fraction of training samples per class, one bar group per dataset."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    sns.barplot(
        data=counts.assign(dataset=counts["dataset"].map(display_name)), x="label", y="fraction",
        hue="dataset", palette="colorblind", ax=ax
    )
    ax.set_xlabel("class label")
    ax.set_ylabel("fraction of training samples")
    ax.axhline(0.1, color="0.3", lw=0.8, ls="--", label="uniform (1/10)")
    ax.legend(fontsize=8, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


UNITS = {
    "MedInc": "median income (10 k$)",
    "HouseAge": "median house age (years)",
    "AveRooms": "rooms per household",
    "AveBedrms": "bedrooms per household",
    "Population": "population (persons)",
    "AveOccup": "persons per household",
    "Latitude": "latitude (deg)",
    "Longitude": "longitude (deg)",
    "MedHouseVal": "median house value (100 k$)",
    "alcohol": "alcohol (% vol)",
    "volatile acidity": "volatile acidity (g/L)",
    "fixed acidity": "fixed acidity (g/L)",
    "citric acid": "citric acid (g/L)",
    "residual sugar": "residual sugar (g/L)",
    "chlorides": "chlorides (g/L)",
    "sulphates": "sulphates (g/L)",
    "density": "density (g/cm$^3$)",
    "quality": "quality (score 0-10)",
}
"""Axis labels with units for the tabular datasets' columns (Cortez et al. 2009; scikit-learn)."""


def plot_pairs(name: str, n_rows: int, seed: int, columns: Sequence[str] | None = None):
    """Seaborn pair plot of a random subsample of a regression dataset (a few inputs + target).

    Returns
    -------
    seaborn.PairGrid
    """
    import seaborn as sns

    data = _data()
    info = next(i for i in data.list_datasets() if i.name == name)
    if info.task != "regression":
        raise ValueError(f"plot_pairs draws tabular regression data; {name!r} is {info.task}")
    with quiet_downloads():
        X, y = data.load(name, "train")
    frame = pd.DataFrame(X, columns=list(info.feature_names))
    frame[info.target_name] = y
    columns = list(columns) if columns else list(info.feature_names[:3])
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; available: {', '.join(frame.columns)}")
    rng = np.random.default_rng(seed)
    n = min(n_rows, len(frame))
    sample = frame.iloc[np.sort(rng.choice(len(frame), size=n, replace=False))]
    grid = sns.pairplot(
        sample[[*columns, info.target_name]],
        corner=True,
        height=1.7,
        plot_kws={"s": 6, "alpha": 0.5, "color": sns.color_palette("colorblind")[0],
                  "edgecolor": "none"},
        diag_kws={"color": sns.color_palette("colorblind")[0]},
    )
    for ax in grid.axes.flat:
        if ax is None:
            continue
        ax.set_xlabel(UNITS.get(ax.get_xlabel(), ax.get_xlabel()), fontsize=8)
        ax.set_ylabel(UNITS.get(ax.get_ylabel(), ax.get_ylabel()), fontsize=8)
    return grid


def markdown_table(frame: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    """A GitHub/MyST pipe table of ``frame`` (no extra dependency)."""

    def cell(value: Any) -> str:
        if value is None or pd.isna(value) is True:
            return ""
        if isinstance(value, (float, np.floating)):
            return floatfmt.format(value)
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


@register_artifact(
    "datasets-table",
    "the datasets summary table (CSV, or a Markdown table when the path ends in .md)",
    notebook=NOTEBOOK,
    suffix=".csv",
)
def make_datasets_table(params: Mapping[str, Any], out_path: Path) -> Path:
    frame = datasets_summary(DatasetsSummaryConfig())
    if out_path.suffix == ".md":
        profile = params.get("profile", "unknown")
        text = f"Datasets summary (profile: {profile}).\n\n" + markdown_table(frame)
        atomic_write_text(out_path, text)
    else:
        atomic_write_text(out_path, frame.to_csv(index=False))
    return out_path


@register_artifact(
    "datasets-figure",
    "a grid of example images of every image dataset on this machine (PNG)",
    notebook=NOTEBOOK,
    suffix=".png",
)
def make_datasets_figure(params: Mapping[str, Any], out_path: Path) -> Path:
    n_examples = int(params.get("n_examples", 8))
    seed = int(params.get("seed", 0))
    fig, missing = plot_example_grid(_image_datasets(), n_examples, seed)
    profile = params.get("profile", "unknown")
    note = f"; missing: {', '.join(missing)}" if missing else ""
    fig.suptitle(f"Example images (profile {profile}, seed {seed}{note})", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_path)
