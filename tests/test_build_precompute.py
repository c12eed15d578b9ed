"""The build's precompute pool: run_tasks (dedupe, longest first, store), plan_runs (stages,
convergence) and the DFA pages' planners (they list exactly what their notebooks ask for)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from learning_rules import experiments as E
from learning_rules.experiments import dfa as X
from learning_rules.experiments import dfa_pages
from learning_rules.experiments import lr_selection as sel
from learning_rules.store import NotStoredError, Store, read_only
from learning_rules.sweep import run_tasks
from learning_rules.profiles import page_parameters

ROOT = Path(__file__).resolve().parents[1]
CALLS: list[int] = []


@dataclasses.dataclass(frozen=True)
class Cfg:
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Other:
    size: int = 2


def draw(cfg: Cfg) -> pd.DataFrame:
    CALLS.append(cfg.seed)
    return pd.DataFrame({"value": np.random.default_rng(cfg.seed).normal(size=3)})


def ones(cfg: Other) -> pd.DataFrame:
    return pd.DataFrame({"value": np.ones(cfg.size)})


def test_run_tasks_longest_first_once_each_and_stored(tmp_path):
    store = Store(tmp_path, code_hash="t")
    CALLS.clear()
    tasks = [("draw", draw, Cfg(1), 1.0), ("draw", draw, Cfg(2), 5.0), ("draw", draw, Cfg(1), 1.0),
             ("draw", draw, Cfg(3), 3.0), ("ones", ones, Other(4))]
    seen = []
    assert run_tasks(tasks, store, n_jobs=1, progress=lambda *a: seen.append(a[:3])) == 4
    assert CALLS == [2, 3, 1]  # by decreasing cost; the duplicate of seed 1 ran once
    assert seen == [(1, 4, "draw"), (2, 4, "draw"), (3, 4, "draw"), (4, 4, "ones")]
    pd.testing.assert_frame_equal(store.get("draw", Cfg(3)), draw(Cfg(3)))
    listed = store.list()  # each run's compute time is kept with it
    assert len(listed) == 4 and (listed["seconds"] >= 0).all()
    assert len(store.get("ones", Other(4))) == 4
    CALLS.clear()
    assert run_tasks(tasks, store, n_jobs=1) == 0 and CALLS == []  # all stored: nothing runs


def test_run_tasks_processes_match_serial(tmp_path):
    tasks = [("draw", draw, Cfg(s), float(s)) for s in range(5)]
    a, b = Store(tmp_path / "a", code_hash="t"), Store(tmp_path / "b", code_hash="t")
    run_tasks(tasks, a, n_jobs=1)
    run_tasks(tasks, b, n_jobs=2)
    for s in range(5):
        pd.testing.assert_frame_equal(a.get("draw", Cfg(s)), b.get("draw", Cfg(s)))


def test_run_tasks_errors(tmp_path):
    store = Store(tmp_path, code_hash="t")
    with pytest.raises(ValueError, match="a task is"):
        run_tasks([("draw", Cfg(1))], store)
    with pytest.raises(ValueError, match="must return a pandas DataFrame"):
        run_tasks([("bad", lambda c: 3, Cfg(1))], store)
    with read_only(), pytest.raises(NotStoredError, match="read-only"):
        run_tasks([("draw", draw, Cfg(9))], store)


def test_plan_runs_stage_zero_first_then_what_it_decides(tmp_path, monkeypatch):
    """A planner whose second run depends on its first (a trial) gets two rounds."""
    store = Store(tmp_path, code_hash="t")
    monkeypatch.setitem(E.EXPERIMENTS._entries, "draw", E.Experiment("draw", Cfg, draw, "test"))

    def planner(params, st):
        tasks = [E.Task("draw", Cfg(10), stage=0), E.Task("draw", Cfg(params["seed"]))]
        if ("draw", Cfg(10)) in st:  # "chosen" from the stored trial
            tasks.append(E.Task("draw", Cfg(20)))
        return tasks

    monkeypatch.setitem(E.PLANNERS._entries, "book/x.ipynb", planner)
    monkeypatch.setitem(E.PLANNERS._entries, "book/y.ipynb", planner)
    CALLS.clear()
    logs: list[str] = []
    out = E.plan_runs({"book/x.ipynb": {"seed": 1}, "book/y.ipynb": {"seed": 1}, "book/z.ipynb": {}},
                      store, n_jobs=1, log=logs.append)
    assert CALLS == [10, 1, 20]  # the trial alone, then the rest; seed 1 (asked twice) once
    assert [(s, n) for s, n, _ in out["rounds"]] == [(0, 1), (1, 2)] and out["tasks"] == 3
    assert "stage 0" in logs[0] and "2 page(s)" in logs[0]
    assert E.plan_runs({"book/x.ipynb": {"seed": 1}}, store, log=logs.append)["tasks"] == 0


def test_plan_runs_names_a_planner_that_never_converges(tmp_path, monkeypatch):
    class Forgetful(Store):
        def put(self, name, config, frame, seconds=None):  # noqa: ARG002 - drops every result
            return ""

    monkeypatch.setitem(E.EXPERIMENTS._entries, "draw", E.Experiment("draw", Cfg, draw, "test"))
    monkeypatch.setitem(E.PLANNERS._entries, "book/x.ipynb", lambda p, s: [E.Task("draw", Cfg(1))])
    with pytest.raises(RuntimeError, match="still report missing runs after 3 rounds"):
        E.plan_runs({"book/x.ipynb": {}}, Forgetful(tmp_path, code_hash="t"), log=lambda s: None,
                    max_rounds=3)
    monkeypatch.setitem(E.PLANNERS._entries, "book/x.ipynb", lambda p, s: [E.Task("nope", Cfg(1))])
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        E.plan_runs({"book/x.ipynb": {}}, Store(tmp_path, code_hash="t"), log=lambda s: None)


def test_dfa_pages_have_planners_and_share_runs():
    for nb in ("book/dfa/parity.ipynb", "book/dfa/alignment.ipynb", "book/dfa/feedback.ipynb",
               "book/dfa/optimizers.ipynb"):
        assert nb in E.PLANNERS
    fb = dfa_pages.page_plan("feedback", {"num_epochs": 20, "seeds": 3})
    opt = dfa_pages.page_plan("optimizers", {"num_epochs": 20, "seeds": 3})
    par = dfa_pages.parity_page_plan(page_parameters("paper", "book/dfa/parity.ipynb"))
    # DFA + SGD with uniform B at 0.018 is a feedback run, an optimizers run and a parity curve
    shared = set(fb.runs) & set(opt.runs) & set(par.runs)
    assert {(c.credit, c.optimizer, c.lr, c.feedback_init) for c in shared} == {("dfa", "sgd", 0.018, "uniform")}
    assert len(shared) == 3  # one per seed
    # the chosen-rate reruns follow the labels of the groups
    picked = {label: group[2] * 2 for label, group in opt.groups.items()}
    assert {(c.credit, c.optimizer, c.lr) for c in opt.chosen(picked)} == {
        (c, o, X.published_lr(c, o) * 2) for c, o in opt.groups}


def test_plan_tasks_adds_reruns_once_the_trials_are_stored(tmp_path):
    plan = dfa_pages.page_plan("alignment", {"num_epochs": 2, "seeds": 1, "n_train": 300, "n_test": 200,
                                             "alignment_batch": 50, "lr_factors": [1.0, 2.0], "select_epochs": 1})
    store = Store(tmp_path, code_hash="t")
    first = sel.plan_tasks(plan, store)
    assert sorted(t.stage for t in first) == [0, 0, 0, 0, 1, 1]  # 2 x 2 trials; 2 published runs
    for t in first:
        if t.stage == 0:  # fake trial results: the larger rate wins by far for SGD only
            high = t.config.lr > X.ALIGNMENT_LR[t.config.optimizer] and t.config.optimizer == "sgd"
            store.put(t.name, t.config, pd.DataFrame({"epoch": [0, 1], "test_acc": [0.5, 0.9 if high else 0.6],
                                                      "diverged": [False, False]}))
    second = sel.plan_tasks(plan, store)
    reruns = [t.config for t in second if t.stage == 1][2:]
    # SGD switches to twice its rate; RMSProp keeps its rate: its "rerun" is the published run
    assert [(c.optimizer, c.lr) for c in reruns] == [("sgd", 0.032), ("rmsprop", 0.00022)]
    assert reruns[1] in plan.runs and reruns[0] not in plan.runs
    assert all(t.cost > 0 for t in second)


@pytest.mark.slow
@pytest.mark.book
def test_planners_cover_their_notebooks(tmp_path, monkeypatch):
    """With an empty store, the planners' runs alone (computed to completion, round after round,
    as the build's precompute pool does) must be every run their pages ask for: the pages then
    execute with the store read-only, and a run a planner missed fails its page."""
    from learning_rules import book

    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("LEARNING_RULES_STORE_READONLY", raising=False)
    profile = book.load_profile(ROOT, "smoke")
    pages = {}
    for nb in E.PLANNERS:
        if (ROOT / nb).exists():
            defaults = {k: p.default for k, p in book.notebook_parameters(ROOT / nb).items()}
            pages[nb] = {**defaults, **book.resolve_parameters(ROOT, profile, Path(nb))}
    out = E.plan_runs(pages, Store(), n_jobs=2, log=lambda s: None)
    assert out["tasks"] > 0
    monkeypatch.setenv("LEARNING_RULES_STORE_READONLY", "1")
    result = book.build("smoke", root=ROOT, output=tmp_path / "out", n_jobs=2, render=False,
                        precompute=False, only=list(pages), log=lambda s: None)
    assert sorted(result.executed) == sorted(pages)


def _full_run(train_losses, diverged=False):
    n = len(train_losses)
    return pd.DataFrame({"epoch": range(n + 1), "test_acc": [0.5] + [0.6] * n,
                         "train_loss": [np.nan, *train_losses], "test_loss": [0.69] * (n + 1),
                         "diverged": [False] * n + [diverged]})


def test_plan_tasks_walks_the_full_run_check(tmp_path):
    """A validation pick whose full runs' training loss rises is set aside: the planner then lists
    the runs at the next pick (here the published rate, already a page run), and the page's
    settle_lrs reports the final choice with the set-aside rate marked."""
    plan = dfa_pages.page_plan("alignment", {"num_epochs": 2, "seeds": 2, "n_train": 300, "n_test": 200,
                                             "alignment_batch": 50, "lr_factors": [0.5, 1.0, 2.0], "select_epochs": 1})
    store = Store(tmp_path, code_hash="t")
    for t in sel.plan_tasks(plan, store):
        if t.stage == 0:  # SGD: twice the rate wins by far, half the rate is second; RMSProp: no switch
            c = t.config
            acc = {2.0: 0.9, 0.5: 0.8, 1.0: 0.6}[round(c.lr / X.ALIGNMENT_LR[c.optimizer], 3)]
            store.put(t.name, c, pd.DataFrame({"epoch": [0, 1], "test_acc": [0.5, acc if c.optimizer == "sgd" else 0.6],
                                               "test_loss": [0.69, 0.6], "diverged": [False, False]}))
    wanted = [t.config for t in sel.plan_tasks(plan, store) if t.stage == 1]
    assert {(c.optimizer, c.lr) for c in wanted if c not in plan.runs} == {("sgd", 0.032)}
    for c in wanted:  # the runs at 0.032 blow up in one seed of two; every other run is healthy
        bad = c.lr == 0.032 and c.seed == 1
        store.put("dfa_parity", c, _full_run([0.68, 5.0] if bad else [0.68, 0.6]))
    again = [t.config for t in sel.plan_tasks(plan, store) if t.stage == 1]
    # next pick among the remaining rates: 0.008 beats the published 0.016 by far
    assert {(c.optimizer, c.lr) for c in again if c not in plan.runs} == {("sgd", 0.032), ("sgd", 0.008)}
    with pytest.raises(NotStoredError):  # the page cannot settle before those runs exist
        with read_only():
            sel.settle_lrs(plan, store=store)
    for c in again:
        if c.lr == 0.008:
            store.put("dfa_parity", c, _full_run([0.68, 0.7], diverged=True))  # overflowed
    assert {(c.optimizer, c.lr) for c in (t.config for t in sel.plan_tasks(plan, store))
            if c not in plan.runs and not c.validation} == {("sgd", 0.032), ("sgd", 0.008)}
    with read_only():
        picked = sel.settle_lrs(plan, store=store)
    lr, scores = picked["sgd"]
    assert lr == X.ALIGNMENT_LR["sgd"]  # both better-scoring rates set aside: the published rate
    assert list(scores["full runs"]) == ["set aside: training loss rose in 2/2 full runs",
                                         "full runs passed", "set aside: training loss rose in 1/2 full runs"]
    assert "0.032: 0.900 (set aside, training loss rose in 1/2 full runs)" in sel.score_text(scores)
    assert picked["rmsprop"][0] == X.ALIGNMENT_LR["rmsprop"]
    assert list(picked["rmsprop"][1]["full runs"]) == ["", "full runs passed", ""]


def test_settle_keeps_the_pick_when_every_rate_is_set_aside(tmp_path):
    plan = dfa_pages.page_plan("feedback", {"num_epochs": 2, "seeds": 1, "n_train": 300, "n_test": 200,
                                            "sweep": False, "lr_factors": [1.0, 2.0], "select_epochs": 1})
    plan = dataclasses.replace(plan, groups={"uniform": plan.groups["uniform"]})
    store = Store(tmp_path, code_hash="t")
    for t in sel.plan_tasks(plan, store):
        if t.stage == 0:
            store.put(t.name, t.config, pd.DataFrame({"epoch": [0, 1], "test_acc": [0.5, 0.9 if t.config.lr > 0.02 else 0.6],
                                                      "test_loss": [0.69, 0.6], "diverged": [False, False]}))
    for _ in range(3):
        for t in sel.plan_tasks(plan, store):
            if t.stage == 1 and (t.name, t.config) not in store:
                store.put(t.name, t.config, _full_run([0.68, float("nan")]))
    with read_only():
        lr, scores = sel.settle_lrs(plan, store=store)["uniform"]
    assert lr == 0.036 and scores["full runs"].str.startswith("set aside").all()


def test_full_run_diverged_reads_training_data_only():
    assert not sel.full_run_diverged(_full_run([0.68, 0.60, 0.55]))
    assert not sel.full_run_diverged(_full_run([0.6932, 0.6931, 0.6933]))  # at chance: not divergence
    assert sel.full_run_diverged(_full_run([0.68, 0.50, 4.2]))
    assert sel.full_run_diverged(_full_run([0.68, np.nan]))
    assert sel.full_run_diverged(_full_run([0.68, 0.60], diverged=True))
    healthy = _full_run([0.68, 0.60]).assign(test_loss=[0.69, 50.0, 90.0])
    assert not sel.full_run_diverged(healthy)  # the test columns are never looked at


def test_settle_never_falls_back_to_a_rate_whose_trial_diverged(tmp_path):
    plan = dfa_pages.page_plan("feedback", {"num_epochs": 2, "seeds": 1, "n_train": 300, "n_test": 200,
                                            "sweep": False, "lr_factors": [0.5, 1.0, 2.0], "select_epochs": 1})
    plan = dataclasses.replace(plan, groups={"uniform": plan.groups["uniform"]})
    store = Store(tmp_path, code_hash="t")
    for t in sel.plan_tasks(plan, store):  # 0.036 wins; 0.009 diverged in its trial
        if t.stage == 0:
            lr = t.config.lr
            store.put(t.name, t.config, pd.DataFrame({"epoch": [0, 1], "test_acc": [0.5, {0.009: 0.7, 0.018: 0.6, 0.036: 0.9}[lr]],
                                                      "test_loss": [0.69, 0.6], "diverged": [False, lr == 0.009]}))
    for _ in range(3):
        for t in sel.plan_tasks(plan, store):
            if t.stage == 1 and (t.name, t.config) not in store:
                store.put(t.name, t.config, _full_run([0.68, float("nan")]))
    ran = {c.lr for c in (t.config for t in sel.plan_tasks(plan, store))
           if not c.validation and c.feedback_init == "uniform"}
    assert ran == {0.036, 0.018}  # 0.009 was never run in full
    with read_only():
        lr, scores = sel.settle_lrs(plan, store=store)["uniform"]
    assert lr == 0.036 and list(scores["full runs"]) == ["", "set aside: training loss rose in 1/1 full runs",
                                                         "set aside: training loss rose in 1/1 full runs"]


def test_eta_comes_from_the_measured_cost_of_finished_runs():
    assert E.cost_eta(0.0, 10.0, 5.0) is None
    assert E.cost_eta(4.0, 10.0, 60.0) == pytest.approx(90.0)  # 60 s for 4 units, 6 units left
    assert E.cost_eta(10.0, 10.0, 60.0) == 0.0


def test_run_progress_is_one_updating_line_in_a_terminal_and_tenths_in_a_log(monkeypatch):
    import io

    monkeypatch.delenv("LEARNING_RULES_QUIET", raising=False)
    tasks = [E.Task("draw", Cfg(seed=i), cost=float(10 - i)) for i in range(10)]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen, lines = Terminal(), []
    with E.RunProgress(tasks, 1, lines.append, stream=screen) as progress:
        for done, t in enumerate(tasks, start=1):
            progress(done, len(tasks), t.name, t.config)
    text = screen.getvalue()
    assert "precompute stage 1: 10/10 runs" in text and "ETA" in text and "\r" in text
    assert lines == []
    with E.RunProgress(tasks, 0, lines.append, stream=io.StringIO()) as progress:
        for done, t in enumerate(tasks, start=1):
            progress(done, len(tasks), t.name, t.config)
    assert len(lines) == 10 and lines[0].startswith("precompute stage 0: 1/10 runs done")
    assert lines[-1].endswith("ETA 0:00:00)")
