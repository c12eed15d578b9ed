"""The sources' schematic figures, drawn from code (no image is copied from a paper).

* :func:`dual_weight_neurons`: Wang (2025) Figure 1, the excitatory and the inhibitory neuron that
  see the same inputs; the weight is their difference :math:`W = W_1 - W_2`.
* :func:`error_transport`: the thesis' Figure 1.1, how the output error reaches the hidden layers
  under backpropagation, feedback alignment and direct feedback alignment.
* :func:`slot_representation`: the thesis' Figure 3.6, the hidden representation of one digit of a
  three-digit parity sample: its 784 pixels times its own block of rows of :math:`W_1`.

Each function returns a matplotlib figure; the pages show them and ``learning-rules make`` writes
them (artifacts ``dual-weight-figure-1``, ``dfa-figure-1-1``, ``dfa-figure-3-6``).

Explained in: ``book/dual-weight/derivation.ipynb``, ``book/dfa/derivation.ipynb``,
``book/dfa/representations.ipynb``.
"""

from __future__ import annotations

__all__ = ["dual_weight_neurons", "error_transport", "slot_representation"]

_NODE = dict(radius=0.28, lw=1.4)


def _node(ax, xy, label, color="white", edge="0.2", fontsize=11):
    from matplotlib.patches import Circle

    ax.add_patch(Circle(xy, _NODE["radius"], facecolor=color, edgecolor=edge, lw=_NODE["lw"], zorder=3))
    ax.text(*xy, label, ha="center", va="center", fontsize=fontsize, zorder=4)


def _arrow(ax, start, end, color="0.25", lw=1.3, style="-|>", rad=0.0, shrink=0.3, ls="-", label=None,
           label_pos=0.5, label_offset=(0.0, 0.12), fontsize=9):
    """An arrow from ``start`` to ``end`` (data coordinates) that stops ``shrink`` data units short
    of both points (a node's radius plus a gap), so its head is never hidden by a node."""
    import numpy as np
    from matplotlib.patches import FancyArrowPatch

    a, b = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    d = (b - a) / max(np.linalg.norm(b - a), 1e-9)
    gap = _NODE["radius"] + 0.04 if shrink else 0.0
    a, b = a + gap * d, b - gap * d
    ax.add_patch(FancyArrowPatch(tuple(a), tuple(b), arrowstyle=style, mutation_scale=12, color=color, lw=lw,
                                 linestyle=ls, connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0,
                                 zorder=2))
    if label:
        x = start[0] + (end[0] - start[0]) * label_pos + label_offset[0]
        y = start[1] + (end[1] - start[1]) * label_pos + label_offset[1]
        ax.text(x, y, label, color=color, ha="center", va="center", fontsize=fontsize)


def _canvas(ax, xlim, ylim):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")


def dual_weight_neurons():
    """Wang (2025) Figure 1: inputs :math:`x_1, x_2, x_3` reach an excitatory neuron (weights
    :math:`W_1`) and an inhibitory neuron (weights :math:`W_2`); the output neuron adds the first
    and subtracts the second, so the effective weight is :math:`W = W_1 - W_2`. The teaching
    signal's sign decides which half moves toward the input."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 3.6))
    _canvas(ax, (-0.6, 7.4), (-0.4, 3.6))
    inputs = [(0.5, 2.6), (0.5, 1.6), (0.5, 0.6)]
    exc, inh, out = (3.2, 2.5), (3.2, 0.7), (5.6, 1.6)
    for i, xy in enumerate(inputs, start=1):
        _node(ax, xy, f"$x_{i}$")
        _arrow(ax, xy, exc, color="C0")
        _arrow(ax, xy, inh, color="C3")
    _node(ax, exc, "+", color="#dbe9f6", edge="C0", fontsize=13)
    _node(ax, inh, "−", color="#f8dede", edge="C3", fontsize=13)
    _node(ax, out, r"$\Sigma$", fontsize=12)
    _arrow(ax, exc, out, color="C0", label="excitatory", label_offset=(0.0, 0.22))
    _arrow(ax, inh, out, color="C3", label="inhibitory", label_offset=(0.0, -0.22))
    _arrow(ax, out, (7.0, 1.6), shrink=0.3)
    ax.text(2.0, 3.25, r"$W_1$: moves toward $x$ when $\delta < 0$ (fire more)", color="C0", fontsize=9,
            ha="center")
    ax.text(2.0, -0.15, r"$W_2$: moves toward $x$ when $\delta > 0$ (fire less)", color="C3", fontsize=9,
            ha="center")
    ax.text(6.3, 2.15, r"$z = (W_1 - W_2)\,x$", fontsize=10, ha="center")
    fig.tight_layout()
    return fig


def _network(ax, x0, title, mode):
    """One panel of :func:`error_transport`: x -> h1 -> h2 -> y_hat, and how e comes back."""
    xs = [x0 + 0.5, x0 + 1.7, x0 + 2.9, x0 + 4.1]
    y_fwd, y_err = 2.2, 0.5
    names = ["$x$", "$h_1$", "$h_2$", r"$\hat y$"]
    for x, name in zip(xs, names):
        _node(ax, (x, y_fwd), name, fontsize=10)
    for k in range(3):
        _arrow(ax, (xs[k], y_fwd), (xs[k + 1], y_fwd), label=f"$W_{k + 1}$", label_offset=(0.0, 0.3))
    _node(ax, (xs[3], y_err), "$e$", color="#fde9c8", edge="C1", fontsize=10)
    _arrow(ax, (xs[3], y_fwd), (xs[3], y_err), color="C1", label=r"$\hat y - y$", label_offset=(0.45, 0.0),
           fontsize=8)
    color = {"BP": "C2", "FA": "C4", "DFA": "C3"}[mode]
    if mode in ("BP", "FA"):  # sequential: e -> h2 -> h1
        mats = (["$W_3^T$", "$W_2^T$"] if mode == "BP" else ["$B_3$", "$B_2$"])
        _arrow(ax, (xs[3], y_err), (xs[2], y_fwd), color=color, rad=-0.25, label=mats[0],
               label_offset=(0.25, -0.2))
        _arrow(ax, (xs[2], y_fwd), (xs[1], y_fwd), color=color, rad=-0.6, label=mats[1],
               label_offset=(0.0, -0.55))
    else:  # direct: e -> h2 and e -> h1 in parallel
        _arrow(ax, (xs[3], y_err), (xs[2], y_fwd), color=color, rad=-0.2, label="$B_2$",
               label_offset=(0.2, -0.2))
        _arrow(ax, (xs[3], y_err), (xs[1], y_fwd), color=color, rad=-0.25, label="$B_1$",
               label_offset=(-0.45, -0.3))
    ax.text(x0 + 2.3, 3.05, title, ha="center", fontsize=11, fontweight="bold")


def error_transport():
    """The thesis' Figure 1.1: a network with two hidden layers under backpropagation (the error
    travels back through :math:`W_3^T, W_2^T`), feedback alignment (through fixed random
    :math:`B_3, B_2`, still layer by layer) and direct feedback alignment (a fixed random
    :math:`B_l` from the output error straight to each hidden layer, all at once)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11.5, 3.0))
    _canvas(ax, (0.0, 14.4), (-0.1, 3.35))
    for k, mode in enumerate(("BP", "FA", "DFA")):
        _network(ax, 4.8 * k, {"BP": "backpropagation", "FA": "feedback alignment",
                               "DFA": "direct feedback alignment"}[mode], mode)
    fig.tight_layout()
    return fig


def slot_representation(n_hidden: int = 512):
    """The thesis' Figure 3.6: a k = 3 parity sample is three 28 x 28 digits side by side
    (2352 inputs); the hidden pre-activation is the sum of three products, one per digit slot, of
    its 784 pixels with its own 784 rows of :math:`W_1` (2352 x ``n_hidden``). Each product is that
    digit's representation."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(9.5, 3.6))
    _canvas(ax, (-0.3, 12.2), (-0.5, 4.4))
    colors = ["C0", "C1", "C2"]
    for s, (c, name) in enumerate(zip(colors, ("left", "middle", "right"))):
        ax.add_patch(Rectangle((0.2 + 1.15 * s, 2.6), 1.05, 1.05, facecolor=c, alpha=0.35, edgecolor=c, lw=1.5))
        ax.text(0.72 + 1.15 * s, 3.12, f"digit\n{name}", ha="center", va="center", fontsize=8)
        # the slot's rows of W1: flattened row by row, so they are interleaved, 28 of every 84
        ax.add_patch(Rectangle((5.0, 3.4 - 1.05 * s), 1.4, 0.95, facecolor=c, alpha=0.35, edgecolor=c))
        ax.text(5.7, 3.87 - 1.05 * s, f"784 rows\n$84r + {28 * s} + c$", ha="center", va="center", fontsize=7)
        ax.add_patch(Rectangle((8.2, 3.55 - 1.05 * s), 2.4, 0.55, facecolor=c, alpha=0.35, edgecolor=c))
        ax.text(9.4, 3.82 - 1.05 * s, f"$r_{{{name}}} = x_{{{name}}}\\, W_1^{{({name})}}$", ha="center",
                va="center", fontsize=9)
        _arrow(ax, (6.5, 3.87 - 1.05 * s), (8.1, 3.82 - 1.05 * s), color=c, shrink=0.0)
    for j in range(12):  # the flattened sample: image row r gives 28 left, 28 middle, 28 right inputs
        ax.add_patch(Rectangle((0.2 + 0.28 * j, 1.1), 0.28, 0.35, facecolor=colors[j % 3], alpha=0.35,
                               edgecolor=colors[j % 3], lw=0.8))
    ax.text(3.75, 1.27, "...", ha="center", va="center", fontsize=10)
    ax.text(1.9, 3.95, "one sample: 28 x 84 pixels", ha="center", fontsize=9)
    ax.text(1.9, 0.65, "flattened row by row: 2352 inputs;\ninput $84r + 28s + c$ is pixel $(r, c)$ of slot $s$",
            ha="center", fontsize=8)
    ax.text(5.7, 4.45, f"$W_1$: 2352 x {n_hidden}", ha="center", fontsize=9)
    ax.text(9.4, 0.55, f"each a {n_hidden}-vector: one digit's representation;\n"
            r"$x W_1 = r_{left} + r_{middle} + r_{right}$", ha="center", fontsize=9)
    _arrow(ax, (1.9, 2.5), (1.9, 1.55), shrink=0.0)
    fig.tight_layout()
    return fig

