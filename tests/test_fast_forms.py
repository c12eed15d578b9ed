"""The compiled forms (fast/forms.py): one entry per registered rule, read by both fast backends."""

import numpy as np
import pytest

from learning_rules import fast
from learning_rules.credit import CREDIT_ASSIGNMENT, Backprop
from learning_rules.engine import Network
from learning_rules.fast import _kernels as K
from learning_rules.fast.forms import COMPILED_CREDIT, COMPILED_UPDATE, credit_form, update_form
from learning_rules.nn import MLP
from learning_rules.training import minibatch_unsupported
from learning_rules.updates import WEIGHT_UPDATES, GradientUpdate


def _net(credit="backprop", update="gradient", dtype=np.float64):
    rng = np.random.default_rng(0)
    mlp = MLP.create([6, 5, 3], ["relu", "softmax"], init="he_uniform", rng=rng, dtype=np.dtype(dtype))
    return Network(mlp, credit=credit, update=update, loss="cce", lr=0.1, rng=rng)


def test_every_registered_rule_has_a_compiled_form():
    """Today every credit assignment and weight update of the registries has one (a new rule
    without a fast form would be fine, but it must then be refused, see below)."""
    assert set(COMPILED_CREDIT) == set(CREDIT_ASSIGNMENT)
    assert set(COMPILED_UPDATE) == set(WEIGHT_UPDATES)


def test_the_single_sample_codes_come_from_the_forms():
    assert fast.FAST_CREDIT == {"backprop": K.CREDIT_BACKPROP, "dfa": K.CREDIT_DFA, "fa": K.CREDIT_FA}
    assert len(set(fast.FAST_CREDIT.values())) == 3


@pytest.mark.parametrize("credit", ["backprop", "fa", "dfa"])
@pytest.mark.parametrize("update", ["gradient", "dual_weight", "dual_weight_stabilized"])
def test_forms_of_registered_instances(credit, update):
    net = _net(credit, update)
    c, u = credit_form(net.credit), update_form(net.rule)
    assert c.feedback == (credit != "backprop") and c.signal == credit
    assert u.buffers == ("gradient" if update == "gradient" else "dual")
    assert u.stabilized == (update == "dual_weight_stabilized")
    assert fast.unsupported_reason(net) is None and minibatch_unsupported(net) is None


def test_a_subclass_has_no_compiled_form_and_both_backends_say_so():
    class MyBackprop(Backprop):
        pass

    class MyGradient(GradientUpdate):
        pass

    net = _net()
    net.credit = MyBackprop()
    with pytest.raises(ValueError, match="no compiled form; the fast paths run exactly the registered"):
        credit_form(net.credit)
    assert "has no fast path" in fast.unsupported_reason(net)
    assert "has no buffer trainer (backprop, fa, dfa have)" in minibatch_unsupported(net)
    net = _net()
    net.rule = MyGradient(lr=0.1)
    with pytest.raises(ValueError, match="weight update .* has no compiled form"):
        update_form(net.rule)
    assert "has no fast path" in fast.unsupported_reason(net)
    assert "update MyGradient has no buffer trainer (gradient, dual_weight" in minibatch_unsupported(net)
