r"""The dual-weight chapter's receptive-fields page: the paper's Figure 3 (Wang 2025), first-layer
weights after MNIST, drawn per method, and which hidden units barely moved.

The runs are :func:`.dual_weight.receptive_fields`; :func:`plan_receptive_page` lists their cells
for the build.

Explained in: book/dual-weight/receptive-fields.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import Task, register_artifact, register_planner, save_figure
from .dual_weight import (METHODS, CellConfig, ReceptiveFieldConfig, _check_choice, cell_cost, dataset_status,
                          missing_reasons, receptive_fields)

__all__ = [
    "FIELD_SCALES",
    "NOTEBOOK",
    "field_images",
    "plan_receptive_page",
    "plot_fields",
    "plot_page_fields",
    "silent_neurons",
]

NOTEBOOK = "book/dual-weight/receptive-fields.ipynb"


def field_images(rf: pd.DataFrame, method: str, neurons: Sequence[int], seed: int | None = None) -> np.ndarray:
    """Layer-1 weights of ``neurons`` of ``method`` as (k, 28, 28) images (first seed by default)."""
    d = rf[rf["method"] == method]
    if seed is None:
        seed = int(d["seed"].min()) if "seed" in d.columns else None
    if seed is not None and "seed" in d.columns:
        d = d[d["seed"] == seed]
    imgs = []
    for j in neurons:
        w = d[d["neuron"] == j].sort_values("pixel")["weight"].to_numpy()
        imgs.append(w.reshape(28, 28))
    return np.stack(imgs)


FIELD_SCALES = ("shared", "row", "image")


def plot_fields(rf: pd.DataFrame, methods: Sequence[str], neurons: Sequence[int] = range(10),
                scale: str = "shared", seed: int | None = None):
    """Figure 3: one row per method, one column per neuron, weights as 28x28 images (cmap ``bwr``).

    ``scale="shared"``: one colour scale for the whole figure, centred at 0 (white = 0), ``vmax`` =
    the 99th percentile of ``|w|`` over every shown field, so magnitudes compare across methods.
    ``scale="row"``: the same, one scale per method. ``scale="image"``: the original's per-image
    autoscale (white is not zero), with the dual methods' images clipped below at -1 as its code does.
    """
    import matplotlib.pyplot as plt

    _check_choice("scale", scale, FIELD_SCALES)
    neurons = list(neurons)
    images = {method: field_images(rf, method, neurons, seed) for method in methods}
    shared = float(np.percentile(np.abs(np.concatenate(list(images.values()))), 99)) or 1.0
    fig, axes = plt.subplots(len(methods), len(neurons), figsize=(1.05 * len(neurons), 1.2 * len(methods)),
                             squeeze=False)
    for i, method in enumerate(methods):
        imgs = images[method]
        vmax = shared if scale == "shared" else float(np.percentile(np.abs(imgs), 99)) or 1.0
        for j, img in enumerate(imgs):
            ax = axes[i, j]
            if scale == "image":
                shown = np.maximum(img, -1.0) if method in ("our", "our+stab") else img
                ax.imshow(shown, cmap="bwr")
            else:
                im = ax.imshow(img, cmap="bwr", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"neuron {neurons[j]}", fontsize=7)
            if j == 0:
                ax.set_ylabel(method, fontsize=8, rotation=0, ha="right", va="center")
        if scale == "row":
            cb = fig.colorbar(im, ax=axes[i, :].tolist(), fraction=0.02, pad=0.01)
            cb.ax.tick_params(labelsize=6)
            cb.set_label("weight", fontsize=6)
    if scale == "shared":
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01)
        cb.ax.tick_params(labelsize=7)
        cb.set_label("weight (white = 0)", fontsize=7)
    return fig


def silent_neurons(rf: pd.DataFrame, method: str, seed: int | None = None, rtol: float = 0.1) -> list[int]:
    """Hidden units of ``method`` whose layer-1 field barely moved from the shared initial field.

    A unit counts when :math:`\\lVert W_j - W_j^{(0)} \\rVert \\le \\text{rtol}\\,
    \\lVert W_j^{(0)} \\rVert` (rows ``method == "init"`` hold :math:`W^{(0)}`): it was updated on
    few or no training steps (for instance a ReLU unit that soon stopped firing, whose teaching
    signal is then always zero), so its picture is mostly its initial noise whatever the rule.
    """
    if not 0 <= rtol < 1:
        raise ValueError(f"rtol must be in [0, 1), got {rtol}")
    neurons = sorted(rf.loc[rf["method"] == method, "neuron"].unique())
    W = field_images(rf, method, neurons, seed).reshape(len(neurons), -1)
    W0 = field_images(rf, "init", neurons, seed).reshape(len(neurons), -1)
    moved = np.linalg.norm(W - W0, axis=1)
    return [int(j) for j, m, w0 in zip(neurons, moved, np.linalg.norm(W0, axis=1)) if m <= rtol * w0]


@register_planner(NOTEBOOK)
def plan_receptive_page(params, store) -> list[Task]:
    """The receptive-field page's MNIST cells, per protocol and seed (none without MNIST)."""
    if dataset_status("mnist") is not None:
        return []
    return [Task("dual_weight_receptive_cell", c, cost=cell_cost(c))
            for protocol in params["protocols"]
            for c in (CellConfig(protocol, "mnist", int(params["rf_layers"]), int(params["n"]), int(s),
                                 int(params["steps"])) for s in params["seeds"])]


def plot_page_fields(rf: pd.DataFrame):
    """The page's Figures 1-2 and the paper's Figure 3: the layer-1 fields of neurons 0-9 of the
    initial weights and of every method, one symmetric colour scale for all rows."""
    return plot_fields(rf, ["init", *METHODS], range(10), scale="shared")


@register_artifact("dual-weight-figure-3", "Wang 2025 Figure 3: layer-1 receptive fields of neurons 0-9, "
                   "initial and after MNIST for every method, as coded, one shared colour scale (PNG)",
                   notebook=NOTEBOOK)
def make_figure_3(params, out_path):
    """Artifact ``dual-weight-figure-3``: the page's as-coded Figure 1 (:func:`plot_page_fields`)
    under ``params`` (the page's parameters)."""
    missing = missing_reasons(["mnist"])
    if missing:
        raise FileNotFoundError(missing["mnist"])
    config = ReceptiveFieldConfig("as_coded", int(params["rf_layers"]), int(params["n"]),
                                  tuple(int(s) for s in params["seeds"]), int(params["steps"]),
                                  int(params.get("n_jobs", 1)))
    return save_figure(plot_page_fields(receptive_fields(config)), out_path)
