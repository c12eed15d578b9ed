"""The sources' schematic figures as artifacts (``learning-rules make dual-weight-figure-1`` ...),
drawn by :mod:`learning_rules.schematics`, the functions the pages call."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import schematics
from . import register_artifact, save_figure

for _name, _fn, _what, _notebook in (
        ("dual-weight-figure-1", schematics.dual_weight_neurons, "Wang 2025 Figure 1: the excitatory "
         "and the inhibitory neuron", "book/dual-weight/derivation.ipynb"),
        ("dfa-figure-1-1", schematics.error_transport, "thesis Fig. 1.1: error transport in BP, FA and "
         "DFA", "book/dfa/derivation.ipynb"),
        ("dfa-figure-3-6", schematics.slot_representation, "thesis Fig. 3.6: the hidden representation "
         "of one digit", "book/dfa/representations.ipynb")):
    def _make(params: Mapping[str, Any], out_path: Path, fn=_fn) -> Path:
        return save_figure(fn(), out_path)

    register_artifact(_name, f"{_what} (drawn from code, PNG)", notebook=_notebook)(_make)
