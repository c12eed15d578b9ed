"""The 'which conclusion survives' sentences follow the numbers of the runs they are given."""

from __future__ import annotations

import pandas as pd
import pytest

from learning_rules.analysis.dfa import alignment_verdict, feedback_verdict, optimizers_verdict


def _curve(final, start=0.5, epochs=3, **labels):
    return [{"epoch": e, "seed": s, "test_acc": start + (final - start) * e / epochs, **labels}
            for e in range(epochs + 1) for s in (0, 1)]


def _align(cos_sgd, cos_rms, acc_sgd, acc_rms):
    rows = []
    for o, c, a in (("sgd", cos_sgd, acc_sgd), ("rmsprop", cos_rms, acc_rms)):
        for r in _curve(a, optimizer=o):
            r["feedback_cos_1"] = 0.05 + (c - 0.05) * r["epoch"] / 3
            rows.append(r)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("args, word", [((0.5, 0.35, 0.70, 0.78), "**survives**"),
                                        ((0.3, 0.35, 0.70, 0.78), "**does not survive**"),
                                        ((0.5, 0.35, 0.80, 0.78), "**does not survive**")])
def test_alignment_verdict_follows_the_numbers(args, word):
    text = alignment_verdict(_align(*args))
    assert text.splitlines()[-1].count(word) == 1
    assert f"{args[0]:.3f}" in text and f"{args[3]:.3f}" in text
    assert "it aligns" in text


def test_alignment_verdict_sees_no_alignment():
    assert "no clear alignment" in alignment_verdict(_align(0.06, 0.06, 0.6, 0.6))


def test_feedback_verdict():
    finals = {"uniform": 0.69, "standard_uniform": 0.63, "gaussian": 0.69, "standard_gaussian": 0.68}
    runs = pd.DataFrame([r for b, a in finals.items() for r in _curve(a, feedback_init=b)])
    text = feedback_verdict(runs)
    assert text.count("**survives**") == 2 and "standard uniform 0.630" in text
    finals["gaussian"] = 0.50
    runs = pd.DataFrame([r for b, a in finals.items() for r in _curve(a, feedback_init=b)])
    text = feedback_verdict(runs)
    assert text.count("**does not survive**") == 2  # one law at chance, and it is the weakest


def test_optimizers_verdict():
    finals = {("backprop", "sgd"): 0.76, ("dfa", "sgd"): 0.68, ("backprop", "rmsprop"): 0.81,
              ("dfa", "rmsprop"): 0.77, ("backprop", "adam"): 0.75, ("dfa", "adam"): 0.73}
    rows = [r for (c, o), a in finals.items() for r in _curve(a, credit=c, optimizer=o, adam_step_count="step")]
    rows += [r for c in ("backprop", "dfa") for r in _curve(0.6, credit=c, optimizer="adam", adam_step_count="epoch")]
    text = optimizers_verdict(pd.DataFrame(rows))
    assert text.count("**survives**") == 3
    assert "+0.080 with SGD and +0.040 with RMSProp" in text
    assert "0.600 with the thesis' epoch count" in text
    finals[("dfa", "rmsprop")] = 0.82
    rows = [r for (c, o), a in finals.items() for r in _curve(a, credit=c, optimizer=o, adam_step_count="step")]
    text = optimizers_verdict(pd.DataFrame(rows))
    assert "'BP beats DFA with every optimizer' **does not survive**" in text


def test_verdicts_warn_when_no_run_has_learned():
    text = alignment_verdict(_align(0.5, 0.35, 0.52, 0.55))
    assert text.startswith("**Not testable with this profile:** the best run ends at 0.550")
    finals = {"uniform": 0.51, "standard_uniform": 0.50, "gaussian": 0.52, "standard_gaussian": 0.5}
    runs = pd.DataFrame([r for b, a in finals.items() for r in _curve(a, feedback_init=b)])
    assert feedback_verdict(runs).startswith("**Not testable")
    assert not alignment_verdict(_align(0.5, 0.35, 0.70, 0.78)).startswith("**Not testable")


def test_rise_together_follows_the_curves():
    from learning_rules.analysis.dfa import rise_together

    up = _align(0.5, 0.35, 0.70, 0.78)  # both columns grow linearly over the epochs
    verdict, corr = rise_together(up)
    assert verdict and corr == pytest.approx({"rmsprop": 1.0, "sgd": 1.0})
    down = up.copy()
    down.loc[down["optimizer"] == "sgd", "feedback_cos_1"] *= -1  # SGD's cosine falls while it learns
    verdict, corr = rise_together(down)
    assert not verdict and corr["sgd"] == pytest.approx(-1.0)


def test_learns_with_every_law_follows_the_finals():
    from learning_rules.analysis.dfa import learns_with_every_law

    rows = [r for b, a in {"uniform": 0.69, "standard_uniform": 0.63}.items()
            for r in _curve(a, feedback_init=b)]
    verdict, finals = learns_with_every_law(pd.DataFrame(rows))
    assert verdict and finals == pytest.approx({"uniform": 0.69, "standard_uniform": 0.63})
    rows += _curve(0.51, feedback_init="gaussian")  # at chance
    assert not learns_with_every_law(pd.DataFrame(rows))[0]
