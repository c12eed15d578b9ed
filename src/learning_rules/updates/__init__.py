"""Weight updates: how a layer turns (delta_l, h_{l-1}) into new weights.

Three registries:

* :data:`OPTIMIZERS` -- ``"sgd"``, ``"momentum"`` (EMA, bias-corrected), ``"momentum_classic"``,
  ``"nesterov"``, ``"adagrad"``, ``"adadelta"``, ``"rmsprop"``, ``"adam"``;
  ``Optimizer(lr, **hyper)``, ``init_state(param)``, ``step(param, grad, state)``,
  pure ``direction(grad, state, t)``, ``set_epoch(e)``.
* :data:`REGULARIZERS` -- ``"l2"``, ``"l2_coded"``, ``"l1"`` with ``value(W)`` and ``gradient(W)``;
  decoupled decay is :func:`decoupled_decay`.
* :data:`WEIGHT_UPDATES` -- ``"gradient"``, ``"dual_weight"``, ``"dual_weight_stabilized"``;
  ``rule = WEIGHT_UPDATES[name](lr=..., ...)``, ``state = rule.init_layer(W, b, rng)``,
  ``rule.apply(state, W, b, delta, h_prev)`` (in place), ``rule.set_epoch(e)``.
"""

from __future__ import annotations

from .base import L2_FORMS, WEIGHT_UPDATES, WeightUpdate
from .dual_weight import DualWeightStabilizedUpdate, DualWeightUpdate
from .gradient import GradientUpdate, bias_gradient, weight_gradient
from .optimizers import (
    OPTIMIZERS,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    MomentumClassic,
    MomentumEMA,
    Nesterov,
    Optimizer,
    RMSProp,
)
from .regularizers import L1, L2, REGULARIZERS, L2Coded, Regularizer, decoupled_decay

__all__ = [
    "OPTIMIZERS",
    "REGULARIZERS",
    "WEIGHT_UPDATES",
    "L2_FORMS",
    "Optimizer",
    "SGD",
    "MomentumEMA",
    "MomentumClassic",
    "Nesterov",
    "Adagrad",
    "Adadelta",
    "RMSProp",
    "Adam",
    "Regularizer",
    "L2",
    "L2Coded",
    "L1",
    "decoupled_decay",
    "WeightUpdate",
    "GradientUpdate",
    "DualWeightUpdate",
    "DualWeightStabilizedUpdate",
    "weight_gradient",
    "bias_gradient",
]
