"""The dual-weight paper's claims about the rule's range (book/dual-weight/beyond.ipynb, section 6):
the bound against hand computations and an independent moving-average oracle, every branch of the
verdicts on constructed summaries, the traced run against the reference step, its determinism, its
planner, and a trace that keeps the run inside its store key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learning_rules.experiments import PLANNERS
from learning_rules.experiments import dual_weight as E
from learning_rules.experiments import dual_weight_beyond as B
from learning_rules.experiments import dual_weight_bounds as D
from learning_rules.updates import DualWeightStabilizedUpdate, DualWeightUpdate
from learning_rules.updates.gradient import GradientUpdate
from conftest import executed_and_closure


# ------------------------------------------------------------------------------ hand computations


def test_bounds_hand_worked():
    # W1(0) has max |.| 0.5, the inputs reach 2: each half within 2, W within 2 + 2 = 4 (= 2 max(...))
    assert D.half_bound(0.5, 2.0) == 2.0 and D.half_bound(0.0, 2.0) == 2.0
    assert D.weight_bound(0.5, 0.0, 2.0) == 4.0
    # a large initial weight: W1 within 3 (it may keep its start), W2 within the inputs' 2
    assert D.weight_bound(3.0, 0.0, 2.0) == 5.0
    # ratios: |W1| 1.5 of 2 -> 0.75; |W2| 1.9 of 2 -> 0.95; the larger counts
    assert D.bound_ratio(1.5, 1.9, 0.5, 0.0, 2.0) == pytest.approx(0.95)
    assert D.bound_ratio(2.5, 0.0, 0.5, 0.0, 2.0) == pytest.approx(1.25)
    assert D.bound_ratio(0.5, 0.0, 0.5, 0.0, 0.0) == 1.0  # step 0: W2 = 0 within a bound of 0
    assert D.bound_ratio(0.5, 0.1, 0.5, 0.0, 0.0) == np.inf  # W2 moved without an input: impossible
    assert np.isnan(D.bound_ratio(np.nan, 0.0, 0.5, 0.0, 1.0))
    # a step of 0.1 with inputs up to 2 and halves up to 3: dual at most 0.1 (2 + 3), GD 0.1 * 2
    assert D.step_change_bound(0.1, 2.0, 3.0, dual=True) == pytest.approx(0.5)
    assert D.step_change_bound(0.1, 2.0, 3.0, dual=False) == pytest.approx(0.2)
    assert D.input_range(1.0, np.array([[0.5, -3.0]])) == 3.0
    assert D.input_range(4.0, np.array([[0.5, -3.0]])) == 4.0


def test_relative_loss_failure_and_growth_hand_worked():
    assert D.relative_loss(40.0, 100.0) == 0.4 and np.isnan(D.relative_loss(np.nan, 100.0))
    assert not D.failed(94.0, 100.0) and D.failed(95.0, 100.0) and D.failed(np.nan, 100.0)
    assert D.failed(300.0, 100.0)  # worse than the mean predictor
    # blocks' maxima 2, 3, 10: growth 10 / 2 = 5; a later non-finite block: infinite
    assert D.signal_growth([2.0, 3.0, 10.0]) == 5.0
    assert D.signal_growth([2.0, np.nan]) == np.inf
    assert np.isnan(D.signal_growth([2.0])) and np.isnan(D.signal_growth([0.0, 1.0]))
    assert D.exploded(False, [5.0, np.nan]) is False
    assert D.exploded(False, [D.EXPLOSION_GROWTH, 1.0]) is True
    assert D.exploded(True, [1.0]) is True


def test_effective_step_of_each_rule():
    delta = np.array([[-0.4, 0.2, 0.0]])
    W = np.zeros((3, 2))
    rng = np.random.default_rng(0)
    dual = DualWeightUpdate(lr=0.5)
    assert D.effective_step(dual, dual.init_layer(W.copy(), None, rng), delta) == pytest.approx(0.2)
    assert D.effective_step(dual, {}, 10 * delta) == pytest.approx(2.0)  # a > 1: the plain rule
    clipped = DualWeightUpdate(lr=0.5, clip=True)
    assert D.effective_step(clipped, {}, 10 * delta) == 1.0
    # the stabilizer: eta min(1, 0.1 |g| / G) with G = 1 -> 0.5 * 0.04
    stab = DualWeightStabilizedUpdate(lr=0.5)
    assert D.effective_step(stab, stab.init_layer(W.copy(), None, rng), delta) == pytest.approx(0.02)
    gd = GradientUpdate(lr=0.5)
    assert D.effective_step(gd, {}, delta) == pytest.approx(0.2)


# ------------------------------------------------------------------- the bound, by an independent oracle


def _oracle_half(w0: np.ndarray, a: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Eq. 15 written out entry by entry: w <- (1 - a_t) w + a_t x_t, one sample at a time."""
    w = np.array(w0, dtype=float)
    trace = [w.copy()]
    for t in range(X.shape[0]):
        for k in range(w.size):
            w[k] = (1.0 - a[t]) * w[k] + a[t] * X[t, k]
        trace.append(w.copy())
    return np.array(trace)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 30.0), init=st.floats(0.0, 5.0))
def test_a_row_stays_within_the_bound_while_every_step_is_at_most_one(seed, scale, init):
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((40, 4))
    a = rng.uniform(0.0, 1.0, 40)
    a[rng.random(40) < 0.2] = 1.0  # the edge: a whole step onto the input
    w0 = init * rng.standard_normal(4)
    trace = _oracle_half(w0, a, X)
    for t in range(trace.shape[0]):
        M = float(np.abs(X[:t]).max()) if t else 0.0
        assert np.abs(trace[t]).max() <= D.half_bound(float(np.abs(w0).max()), M) * (1 + 1e-12) + 1e-300
    # entry by entry: between the smallest and largest of its start and its inputs
    assert np.all(trace[-1] <= np.maximum(w0, X.max(axis=0)) + 1e-12)
    assert np.all(trace[-1] >= np.minimum(w0, X.min(axis=0)) - 1e-12)


def test_a_step_above_one_leaves_the_bound():
    # w = 0, x = 1, a = 1.5: w -> 1.5, outside max(|0|, 1) = 1; it then oscillates and grows
    trace = _oracle_half(np.zeros(1), np.array([1.5, 2.5, 2.5]), np.array([[1.0], [-1.0], [1.0]]))
    assert trace[1, 0] == 1.5 and abs(trace[-1, 0]) > 1.0
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 3))
    out = _oracle_half(np.zeros(3), rng.uniform(1.0, 2.5, 200), X)
    assert np.abs(out).max() > D.half_bound(0.0, float(np.abs(X).max()))


@pytest.mark.parametrize("rule", [DualWeightUpdate(lr=0.3), DualWeightStabilizedUpdate(lr=0.9, gain=5.0)])
def test_the_engines_rule_is_the_oracle_and_stays_within_the_bound(rule):
    """The engine's dual-weight update (signals whose rates stay <= 1) against the oracle, half by
    half, and the module's bound on both halves at every step."""
    rng = np.random.default_rng(3)
    W = rng.normal(0.0, 2.0, (3, 5))
    state = rule.init_layer(W, None, rng)
    W1_0, W2_0 = state["W1"].copy(), state["W2"].copy()
    X = 4.0 * rng.standard_normal((60, 5))
    G = rng.uniform(-1.0, 1.0, (60, 3))
    G[rng.random((60, 3)) < 0.2] = 0.0
    rates1, rates2 = [], []
    M = 0.0
    for t in range(60):
        a1, a2 = rule.rates(state, G[t:t + 1])
        assert D.effective_step(rule, state, G[t:t + 1]) <= 1.0
        rates1.append(a1[0])
        rates2.append(a2[0])
        rule.apply(state, W, None, G[t:t + 1], X[t:t + 1])
        M = D.input_range(M, X[t:t + 1])
        assert np.abs(state["W1"]).max() <= D.half_bound(np.abs(W1_0).max(), M) * (1 + 1e-12)
        assert np.abs(state["W2"]).max() <= D.half_bound(np.abs(W2_0).max(), M) * (1 + 1e-12)
        assert np.abs(W).max() <= D.weight_bound(np.abs(W1_0).max(), np.abs(W2_0).max(), M) * (1 + 1e-12)
    r1, r2 = np.array(rates1), np.array(rates2)
    for j in range(3):
        assert np.allclose(state["W1"][j], _oracle_half(W1_0[j], r1[:, j], X)[-1], rtol=0, atol=1e-12)
        assert np.allclose(state["W2"][j], _oracle_half(W2_0[j], r2[:, j], X)[-1], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- verdicts on constructed inputs


def _summary(rows):
    """rows: dicts with the run keys and the fields a verdict reads; defaults fill the rest."""
    base = dict(dataset="wine", layers=2, n=100, seed=0, method="our", target_scale=0.1, layer=1, steps=100,
                diverged=False, w0=1.0, w_final=1.0, w_peak=1.0, growth=1.0, input_max=2.0, bound=4.0,
                ratio=0.5, a_max=0.01, a_over_1=0, a_frac=0.0, change_max=0.01, change_bound_ratio=0.5,
                signal_first=1.0, signal_growth=1.0, value=50.0, baseline=100.0, relative=0.5, failed=False)
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.mark.parametrize("ratios, a_over, verdict, runs", [
    ([0.9, 1.0], [0, 0], "holds", 2),
    ([0.9, 1.0 + 1e-6], [0, 0], "does not hold", 2),
    ([0.9, 3.0], [0, 5], "holds", 1),       # the run with a > 1 is counted apart
    ([3.0], [5], "undecided", 0),
])
def test_bound_verdict_branches(ratios, a_over, verdict, runs):
    rows = [dict(seed=s, ratio=r, a_over_1=k) for s, (r, k) in enumerate(zip(ratios, a_over))]
    rows += [dict(seed=0, method="GD", ratio=np.nan, growth=7.0)]
    rows += [dict(seed=s, layer=2, ratio=0.5) for s in range(2)]
    out = D.bound_verdict(_summary(rows)).set_index("layers_judged")
    assert out.loc["layer 1", "verdict"] == verdict and out.loc["layer 1", "runs"] == runs
    assert out.loc["layer 1", "gd_growth"] == 7.0
    assert out.loc["layer 1", "a_over_1_outside"] == sum(1 for r, k in zip(ratios, a_over) if k and r > 1)
    assert out.loc["hidden layers", "verdict"] == "holds"


@pytest.mark.parametrize("our, gd, verdict, prevented", [
    (dict(), dict(diverged=True), "holds", 1),                          # GD blew up, the dual run did not
    (dict(), dict(signal_growth=D.EXPLOSION_GROWTH), "holds", 1),
    (dict(), dict(), "not shown", 0),                                   # nothing to prevent
    (dict(diverged=True, a_over_1=3), dict(diverged=True), "not shown", 0),  # both blew up; dual with a > 1
    (dict(signal_growth=500.0), dict(diverged=True), "does not hold", 0),   # dual exploded with a <= 1
])
def test_explosion_verdict_branches(our, gd, verdict, prevented):
    s = _summary([dict(method="our", **our), dict(method="GD", **gd), dict(method="our+stab")])
    out = D.explosion_verdict(s).iloc[0]
    assert out["verdict"] == verdict and out["prevented"] == prevented


def _scale_runs(rel_paper, rel_scaled, scale=1.0, method="our", dataset="wine"):
    rows = []
    for s, (r0, r1) in enumerate(zip(rel_paper, rel_scaled)):
        for factor, r in ((0.1, r0), (scale, r1)):
            ok = np.isfinite(r)
            rows.append(dict(dataset=dataset, seed=s, method=method, target_scale=factor, layer=2, relative=r,
                             diverged=not ok, failed=not (ok and r < D.FAIL_RELATIVE_LOSS),
                             a_frac=0.0 if ok else 0.1))
    return rows


@pytest.mark.parametrize("paper, scaled, status", [
    ([0.4, 0.5, 0.45], [np.nan, 1.2, np.nan], "fails"),
    ([1.0, 1.1], [np.nan, 1.2], "fails at 0.1 too"),
    ([0.4, 0.5], [np.nan, 0.5], "mixed"),
    ([0.40, 0.50, 0.45], [0.60, 0.71, 0.64], "worse"),
    ([0.40, 0.50, 0.45], [0.41, 0.48, 0.45], "not worse"),
    ([0.40], [0.60], "trains"),
])
def test_target_scale_status_branches(paper, scaled, status):
    st_ = D.target_scale_status(_summary(_scale_runs(paper, scaled)))
    assert st_["status"].tolist() == [status]
    row = st_.iloc[0]
    assert row["failed"] == sum(not (np.isfinite(r) and r < D.FAIL_RELATIVE_LOSS) for r in scaled)
    if status in ("worse", "not worse"):
        d = np.array(scaled) - np.array(paper)
        from scipy import stats
        half = stats.t.ppf(0.975, d.size - 1) * stats.sem(d)
        assert [row["diff"], row["low"], row["high"]] == pytest.approx([d.mean(), d.mean() - half, d.mean() + half])


@pytest.mark.parametrize("statuses, verdict", [
    (["fails", "fails"], "holds"),
    (["fails", "worse"], "holds in part"),
    (["not worse", "not worse"], "does not hold"),
    (["not worse", "trains"], "undecided"),
    (["fails", "not worse"], "mixed"),
    (["fails at 0.1 too", "not worse"], "mixed"),
])
def test_target_scale_verdict_branches(statuses, verdict):
    status = pd.DataFrame({"dataset": ["wine", "house"], "method": "our", "target_scale": 1.0, "status": statuses})
    other = pd.DataFrame({"dataset": ["wine"], "method": ["GD"], "target_scale": [1.0], "status": ["fails"]})
    assert D.target_scale_verdict(pd.concat([status, other], ignore_index=True)) == verdict
    assert D.target_scale_verdict(status[:0]) == "undecided"


def test_claims_table_reads_the_verdicts():
    s = _summary([dict(seed=0), dict(seed=0, method="GD", ratio=np.nan, growth=3.0, diverged=True,
                                     target_scale=10.0), dict(seed=0, target_scale=10.0)])
    status = D.target_scale_status(_summary(_scale_runs([0.4], [np.nan])))
    claims = D.claims_table(D.bound_verdict(s), D.explosion_verdict(s), status)
    assert claims["verdict"].tolist() == ["holds", "holds", "holds"]
    assert claims["claim"].iloc[0] == "bounded weights, layer 1"


# ------------------------------------------------------------------------------------- config, plan


@pytest.mark.parametrize("kwargs, match", [
    (dict(target_scales=(1.0, 0.1)), "increasing"), (dict(target_scales=(1.0,)), "paper"),
    (dict(target_scales=(0.0, 0.1)), "positive"), (dict(dataset="mnist"), "class labels"),
    (dict(layers=4), "layers"), (dict(eval_every=150, probe_every=100), "multiple"), (dict(steps=0), "steps"),
    (dict(scale_methods=("L2 0.1",)), "scale method"), (dict(methods=("our", "SGD")), "SGD"), (dict(n=1), "n"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.BoundsConfig(**kwargs)


SMALL = dict(profile="quick", steps=300, lrs=[0.001], sweep_datasets=[], sweep_layers=[3], sweep_n=100,
             sweep_seeds=[0], dfa_datasets=[], dfa_seeds=[0], batch_datasets=[], batches=[1], batch_seeds=[0],
             n_jobs=1, l2_lams=[0.0], l2_datasets=[], l2_layers=[2], l2_sizes=[100], l2_seeds=[0],
             bounds_datasets=["wine", "mnist"], bounds_layers=[2], bounds_n=100, bounds_seeds=[0, 1],
             bounds_steps=200, bounds_eval_every=100, bounds_probe_every=50, bounds_scales=[1.0, 10.0])


def test_planner_lists_the_bounds_cells(shared_data):
    plan = [t for t in PLANNERS[B.NOTEBOOK](SMALL, store=None) if t.name == "dual_weight_bounds_cell"]
    cfgs = [t.config for t in plan]
    assert cfgs == D.bounds_configs(SMALL, ["wine", "mnist"]) and len(cfgs) == 4
    assert {c.target_scales for c in cfgs if c.dataset == "wine"} == {(0.1, 1.0, 10.0)}  # the paper's added
    assert {c.target_scales for c in cfgs if c.dataset == "mnist"} == {(0.1,)}
    assert all(t.cost > 0 for t in plan)


# ------------------------------------------------------------------------------------ the run (tiny)


def test_traced_run_is_the_reference_step_and_its_bound_holds(shared_data):
    """Oracle: each run at the paper's target scale trains exactly as ``Network.fit_steps`` on the
    reference (same initial weights, pool, order and generators): the same test metric and weights'
    range, bit for bit; and the dual rules' halves stay within the bound."""
    cfg = D.BoundsConfig("wine", 2, 100, 3, 300, 100, 50, target_scales=(0.1, 1.0))
    frame = D.run_bounds_cell(cfg)
    cell = cfg.cell()
    prep = E.prepare("corrected", "wine", 100, 3, 300)
    sizes = E.architecture("wine", 2, prep.X_pool.shape[1])
    W = E.he_normal_init(sizes, E._cell_rng(cell, 0))
    for scale in (0.1, 1.0):
        y_pool, y_test = prep.y_pool * (scale / 0.1), prep.y_test * (scale / 0.1)
        if scale == 0.1:
            y_pool, y_test = prep.y_pool, prep.y_test
        for method in cfg.methods if scale == 0.1 else cfg.scale_methods:
            net = E.build_network(method, "corrected", sizes, "regression", 1e-3, W, rng=E._cell_rng(cell, 2))
            net.fit_steps(prep.X_pool, y_pool, prep.orders[method], backend="numpy")
            got = frame[(frame.method == method) & (frame.target_scale == scale)]
            end = got[got.step == 300].set_index("layer")
            assert end["test_value"].tolist() == [E._score(net, prep.X_test, y_test, "regression")] * 2
            assert end["w_max"].tolist() == [float(np.abs(w).max()) for w in net.mlp.weights]
            assert got["step"].unique().tolist() == list(range(0, 301, 50))
            assert got["test_value"].notna().sum() == 2 * 4  # steps 0, 100, 200, 300, per layer
    assert (frame["input_max"].iloc[:2] == 0).all()  # nothing seen at step 0
    layer1 = frame[frame.layer == 1]
    assert layer1.groupby("method")["input_max"].last().nunique() == 1  # the same samples for every method
    assert layer1["input_max"].max() <= np.abs(prep.X_pool).max()
    summary = D.run_summary(frame.assign(dataset="wine", layers=2, n=100, seed=3, eval_every=100))
    dual = summary[summary.method.isin(D.DUAL_METHODS)]
    assert (dual["ratio"] <= 1 + D.BOUND_TOLERANCE).all() and (dual["a_over_1"] == 0).all()
    assert (summary[summary.method.isin(["GD", "our"])]["change_bound_ratio"] <= 1 + 1e-9).all()


def test_run_is_deterministic(shared_data):
    cfg = D.BoundsConfig("wine", 2, 100, 0, 100, 100, 50, target_scales=(0.1, 100.0))
    a, b = D.run_bounds_cell(cfg), D.run_bounds_cell(cfg)
    pd.testing.assert_frame_equal(a.drop(columns="cpu_s"), b.drop(columns="cpu_s"))


def test_through_the_store_to_the_page(shared_data, tmp_path, monkeypatch):
    """The sweep through the store, the summaries, tables, verdicts and both figures."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    params = dict(SMALL, bounds_datasets=["wine", "mnist"], bounds_seeds=[0], bounds_scales=[1.0, 100.0])
    frame = D.run_bounds_sweep(D.bounds_configs(params, ["wine", "mnist"]), n_jobs=1)
    assert {"dataset", "layers", "n", "seed", "eval_every"} <= set(frame.columns)
    summary = D.run_summary(frame)
    assert len(summary) == 2 * (4 + 2 * 2) + 2 * 4  # (run, layer) rows: wine 8 runs, mnist 4
    status = D.target_scale_status(summary)
    assert set(status["method"]) == {"our", "GD"} and set(status["target_scale"]) == {1.0, 100.0}
    claims = D.claims_table(D.bound_verdict(summary), D.explosion_verdict(summary), status)
    assert set(claims["verdict"]) <= set(D.VERDICTS) | {"-"}
    assert len(D.bound_table(summary)) == 2 * 2 * 4 and len(D.scale_table(status)) == len(status)
    for fig in (D.plot_weight_bounds(frame), D.plot_target_scales(summary)):
        assert all(ax.get_ylabel() for ax in fig.axes)
    assert D.bounds_frame(frame)["bound"].notna().all()
    assert set(D.scale_frame(summary)["dataset"]) == {"wine"}


@pytest.mark.slow
def test_every_function_the_run_executes_is_in_its_key(shared_data):
    """As tests/test_fingerprint.py does for the other runs: a trace of a small run must stay inside
    the static closure its store key covers."""
    cfg = D.BoundsConfig("wine", 2, 100, 0, 100, 50, 50, target_scales=(0.1, 100.0))
    executed, closure = executed_and_closure("dual_weight_bounds_cell", cfg)
    assert executed and executed <= closure, sorted(executed - closure)
    executed, closure = executed_and_closure("dual_weight_bounds_cell", D.BoundsConfig("mnist", 2, 100, 0, 50, 50, 50,
                                                                                      target_scales=(0.1,)))
    assert executed and executed <= closure, sorted(executed - closure)
