"""Network building blocks: activations, losses, initializers, input gates and the MLP with its
forward cache.

See ``CONTRIBUTING.md`` for the notation (``W_l`` is ``(n_l, n_{l-1})``, activations batch-first).
"""

from .activations import ACTIVATIONS, Activation, get_activation, softmax, softmax_jvp
from .gates import GATES, InputGate
from .init import BIAS_INITIALIZERS, INITIALIZERS, get_initializer
from .losses import LOSSES, Loss, accuracy, check_pairing, get_loss, predict_proba, predictions
from .mlp import MLP, Cache, forward, layer_forward

__all__ = [
    "ACTIVATIONS",
    "BIAS_INITIALIZERS",
    "GATES",
    "INITIALIZERS",
    "LOSSES",
    "MLP",
    "Activation",
    "Cache",
    "InputGate",
    "Loss",
    "accuracy",
    "check_pairing",
    "forward",
    "get_activation",
    "get_initializer",
    "get_loss",
    "layer_forward",
    "predict_proba",
    "predictions",
    "softmax",
    "softmax_jvp",
]
