"""learning-rules: backpropagation, feedback alignment, DFA and the dual-weight rule, verified.

The package behind the executable book. Every learning rule is a pair
(credit assignment, weight update); see ``CONTRIBUTING.md`` for the notation and module contract.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._progress import progress

__all__ = ["LearningRuleClassifier", "LearningRuleRegressor", "__version__", "progress"]


def __getattr__(name: str):
    # The estimators import the whole engine; load them only when asked for.
    if name in ("LearningRuleClassifier", "LearningRuleRegressor"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'learning_rules' has no attribute {name!r}")
