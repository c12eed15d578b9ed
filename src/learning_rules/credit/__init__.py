"""Credit assignment: which teaching signal ``delta_l`` each layer receives.

``CREDIT_ASSIGNMENT[name]`` is a class; an instance offers

* ``init_state(mlp, rng, feedback_init="uniform", scale=None) -> dict`` -- fixed feedback matrices
  (empty for backprop), drawn from ``rng``;
* ``deltas(mlp, cache, e, state) -> list`` -- ``deltas[l-1]`` is (batch, n_l).

Credit assignment never touches the weights (CONTRIBUTING, module contract).
"""

from .._registry import Registry
from .alignment import (angle_degrees, cosine_similarity, feedback_alignment, forward_path,
                        mean_cosine, thesis_gradient_alignment, update_alignment)
from .backprop import Backprop, backprop_deltas, bias_gradient, weight_gradient, weight_gradients
from .dfa import DirectFeedbackAlignment, dfa_deltas
from .fa import FeedbackAlignment, fa_deltas
from .feedback import FEEDBACK_INITIALIZERS, default_scale, draw_feedback

CREDIT_ASSIGNMENT: Registry[type] = Registry("credit assignment")
CREDIT_ASSIGNMENT.register("backprop", Backprop)
CREDIT_ASSIGNMENT.register("fa", FeedbackAlignment)
CREDIT_ASSIGNMENT.register("dfa", DirectFeedbackAlignment)


def get_credit(spec):
    """Resolve a credit-assignment name to a fresh instance, or pass an instance through."""
    if isinstance(spec, str):
        return CREDIT_ASSIGNMENT.lookup(spec)()
    if hasattr(spec, "deltas") and hasattr(spec, "init_state"):
        return spec
    return CREDIT_ASSIGNMENT.lookup(spec)  # raises the ValueError listing valid names


__all__ = [
    "CREDIT_ASSIGNMENT",
    "FEEDBACK_INITIALIZERS",
    "Backprop",
    "DirectFeedbackAlignment",
    "FeedbackAlignment",
    "angle_degrees",
    "backprop_deltas",
    "bias_gradient",
    "cosine_similarity",
    "default_scale",
    "dfa_deltas",
    "draw_feedback",
    "fa_deltas",
    "feedback_alignment",
    "forward_path",
    "get_credit",
    "mean_cosine",
    "thesis_gradient_alignment",
    "update_alignment",
    "weight_gradient",
    "weight_gradients",
]
