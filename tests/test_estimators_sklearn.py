"""The scikit-learn estimators: the estimator-check suite, pipelines, attributes, errors."""

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from learning_rules.estimators import LearningRuleClassifier, LearningRuleRegressor

SMALL = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0)
DUAL_ALPHA = ("check_regressors_train sets alpha=0.01; the dual-weight rule has no weight penalty "
              "(its averaging is the paper's regularizer) and rejects alpha > 0 with a ValueError")


def _expected_failures(est):
    if isinstance(est, LearningRuleRegressor) and est.update.startswith("dual_weight"):
        return {"check_regressors_train": DUAL_ALPHA}
    return {}


@parametrize_with_checks(
    [LearningRuleClassifier(learning_rate_init=0.01, **SMALL),
     LearningRuleRegressor(learning_rate_init=0.01, **SMALL),
     LearningRuleClassifier(credit="dfa", update="dual_weight", learning_rate_init=0.05, **SMALL),
     LearningRuleRegressor(credit="fa", update="dual_weight_stabilized", learning_rate_init=0.05,
                           **SMALL)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def blobs(n=120, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, 4))
    y = rng.integers(0, k, size=n)
    return centres[y] + rng.normal(size=(n, 4)) + 10.0, y


def test_pipeline_and_cross_val_score():
    X, y = blobs()
    pipe = make_pipeline(StandardScaler(), LearningRuleClassifier(credit="dfa", learning_rate_init=0.01,
                                                                  **SMALL))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.9
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(90, 3))
    yr = Xr @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=90)
    reg = make_pipeline(StandardScaler(), LearningRuleRegressor(learning_rate_init=0.01, **SMALL))
    assert cross_val_score(reg, Xr, yr, cv=3).mean() > 0.9


@pytest.mark.parametrize("update", ["gradient", "dual_weight", "dual_weight_stabilized"])
def test_fitted_attributes(update):
    X, y = blobs(k=2)
    labels = np.array(["cat", "dog"])[y]
    clf = LearningRuleClassifier(update=update, hidden_layer_sizes=(5, 4), max_iter=3,
                                 learning_rate_init=0.01, random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["cat", "dog"]
    assert [c.shape for c in clf.coefs_] == [(4, 5), (5, 4), (4, 1)]
    assert [b.shape for b in clf.intercepts_] == [(5,), (4,), (1,)]
    assert len(clf.loss_curve_) == clf.n_iter_ == 3 and clf.t_ == 3 * 4  # 120 samples / 32 per batch
    for C, W in zip(clf.coefs_, clf.network_.mlp.weights):
        assert np.array_equal(C, W.T)
    if update != "gradient":  # coefs_ expose W = W1 - W2
        for C, st in zip(clf.coefs_, clf.network_.layer_states):
            assert np.array_equal(C, (st["W1"] - st["W2"]).T)
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0)
    assert set(clf.predict(X)) <= {"cat", "dog"}
    assert np.array_equal(clf.predict(X), clf.classes_[np.argmax(P, axis=1)])


def test_partial_fit_continues_and_matches_fit():
    X, y = blobs()
    a = LearningRuleClassifier(max_iter=2, hidden_layer_sizes=(6,), shuffle=False, random_state=3)
    b = LearningRuleClassifier(max_iter=2, hidden_layer_sizes=(6,), shuffle=False, random_state=3)
    a.fit(X, y)
    b.partial_fit(X, y, classes=[0, 1, 2])
    b.partial_fit(X, y)
    assert b.n_iter_ == 2
    for Ca, Cb in zip(a.coefs_, b.coefs_):
        assert np.array_equal(Ca, Cb)
    assert a.loss_curve_ == b.loss_curve_
    with pytest.raises(ValueError, match="classes must be passed"):
        LearningRuleClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="not in classes_"):
        b.partial_fit(X, y + 5)


def test_same_seed_same_numbers():
    X, y = blobs()
    kw = dict(credit="dfa", optimizer="rmsprop", hidden_layer_sizes=(7,), max_iter=3, random_state=11)
    a = LearningRuleClassifier(**kw).fit(X, y)
    b = LearningRuleClassifier(**kw).fit(X, y)
    assert all(np.array_equal(p, q) for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))
    assert a.loss_curve_ == b.loss_curve_


def test_regressor_losses_and_multioutput():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = np.c_[X[:, 0], -X[:, 1]]
    reg = LearningRuleRegressor(loss="squared_error", **SMALL).fit(X, Y)
    assert reg.predict(X).shape == (40, 2)
    assert reg.network_.loss.name == "squared_error"
    assert LearningRuleRegressor(**SMALL).fit(X, Y[:, 0]).predict(X).shape == (40,)


@pytest.mark.parametrize("params,match", [
    (dict(credit="hebb"), "valid names"), (dict(update="sign"), "valid names"),
    (dict(optimizer="lbfgs"), "valid names"), (dict(activation="swish"), "valid names"),
    (dict(init="orthogonal"), "valid names"), (dict(feedback_init="laplace"), "valid names"),
    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"), (dict(learning_rate_init=0.0), "> 0"),
    (dict(batch_size=0), "batch_size"), (dict(max_iter=1.5), "max_iter"), (dict(alpha=-1.0), "alpha"),
    (dict(dtype="int32"), "dtype"), (dict(update="dual_weight", optimizer="adam"), "optimizer"),
])
def test_bad_parameters_raise_in_fit(params, match):
    X, y = blobs(n=20)
    clf = LearningRuleClassifier(**params)  # constructing never validates
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


def test_bad_data_raises():
    X, y = blobs(n=20)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LearningRuleClassifier(**SMALL).fit(Xn, y)
    with pytest.raises(ValueError, match="class"):
        LearningRuleClassifier(**SMALL).fit(X, np.zeros(20))
    clf = LearningRuleClassifier(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="loss"):
        LearningRuleRegressor(loss="bce").fit(X, y.astype(float))
