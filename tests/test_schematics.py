"""The schematic figures drawn from code: they render, say what the sources' figures say, and the
interleaving the thesis' Fig. 3.6 schematic states is the one the representation code uses."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from learning_rules import schematics


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("fn, words", [
    (schematics.dual_weight_neurons, ["$W_1$", "$W_2$", "excitatory", "inhibitory", "W_1 - W_2"]),
    (schematics.error_transport, ["backpropagation", "feedback alignment", "direct feedback alignment",
                                  "$W_3^T$", "$B_3$", "$B_1$", "$B_2$"]),
    (schematics.slot_representation, ["84r + 0 + c", "84r + 28 + c", "84r + 56 + c", "2352"]),
])
def test_schematics_render_with_their_labels(fn, words):
    import matplotlib.pyplot as plt

    fig = fn()
    text = _texts(fig)
    for w in words:
        assert w in text, (fn.__name__, w)
    assert sum(len(ax.patches) for ax in fig.axes) > 5
    plt.close(fig)


def test_fig_3_6_interleaving_is_the_codes():
    from learning_rules.analysis.representations import digit_columns

    for s in range(3):
        cols = digit_columns(3, s)
        for r, c in ((0, 0), (5, 7), (27, 27)):
            assert cols[28 * r + c] == 84 * r + 28 * s + c
