"""Fast paths, proven equal to the NumPy reference by the tests.

* :func:`fit_steps` / :func:`train_single_sample` -- the single-sample (batch 1) protocol of the
  dual-weight paper, a whole sequence of steps in one Numba-compiled call (``cache=True``, no
  ``fastmath``: results are bit-reproducible); :func:`supports` tells the engine and the
  estimators when a configuration can take it.
* :func:`evaluate_batched` -- the forward pass over a whole test set as one matmul chain, in
  chunks (the every-10k-steps test curves).
* :class:`MinibatchSGD` -- the mini-batch step with preallocated buffers (``out=`` matmuls)
  in float32 or float64, for the parity net and the ablation nets; :class:`MinibatchOptimizer`
  adds the DFA thesis' adaptive optimizers (fused compiled update, no temporaries), and
  :class:`MinibatchDualWeight` the dual-weight update on the same forward pass and signals.
* :mod:`~learning_rules.fast.sparse_input` -- the first layer on an input that is mostly one
  background value (MNIST-parity): ``X = x0 + V`` with ``V`` sparse, so ``X W^T`` and
  ``delta^T X`` become sparse products plus a rank-one term (``input_background=`` of the
  trainers above; ``fastmath`` limited to FMA contraction, deterministic on a given machine).

Which rules the fast paths compile is declared once, in :mod:`~learning_rules.fast.forms`: one
entry per credit assignment and weight update (``COMPILED_CREDIT``, ``COMPILED_UPDATE``), read by the
single-sample loop and by ``training.MinibatchStepper``.

Speed is measured in ``benchmarks/`` (``make bench``), never asserted by a test.
"""

from .evaluate import evaluate_batched, forward_logits
from .minibatch import (FAST_MINIBATCH_OPTIMIZERS, MinibatchDualWeight, MinibatchOptimizer, MinibatchSGD,
                        fused_step)
from .single import (
    FAST_ACTIVATIONS,
    FAST_CREDIT,
    FAST_LOSSES,
    FAST_METHODS,
    FastResult,
    fit_steps,
    supports,
    train_single_sample,
    unsupported_reason,
)

__all__ = [
    "FAST_ACTIVATIONS",
    "FAST_CREDIT",
    "FAST_LOSSES",
    "FAST_METHODS",
    "FAST_MINIBATCH_OPTIMIZERS",
    "MinibatchDualWeight",
    "FastResult",
    "MinibatchOptimizer",
    "MinibatchSGD",
    "evaluate_batched",
    "fit_steps",
    "forward_logits",
    "fused_step",
    "supports",
    "train_single_sample",
    "unsupported_reason",
]
