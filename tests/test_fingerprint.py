"""Result keys follow the code a result depends on (learning_rules.fingerprint).

Two kinds of oracle: hand-written expectations of what an edit must and must not invalidate
(made on a copy of the package, so the installed one is never touched), and a runtime trace of
small runs: every package function a run executes must be inside its experiment's static closure.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

import learning_rules
from learning_rules import fingerprint as F
from learning_rules.experiments import EXPERIMENTS
from learning_rules.store import Store
from conftest import executed_and_closure

PKG = Path(learning_rules.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    copy = tmp_path_factory.mktemp("pkg") / "learning_rules"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy, _keys(F.CodeIndex(copy))


def _keys(index: F.CodeIndex) -> dict[str, str]:
    """Fingerprints of the experiments whose results are stored (the others have no keys)."""
    return {name: index.fingerprint(F.experiment_units(name)) for name, exp in EXPERIMENTS.items()
            if exp.cache}


def _edited(baseline, tmp_path, rel: str, name: str, how: str = "statement") -> dict[str, str]:
    """Fingerprints of every experiment after one edit of top-level ``name`` in module ``rel``:
    a no-op statement appended to its body, a reworded docstring, or a comment."""
    copy = tmp_path / "learning_rules"
    shutil.copytree(baseline[0], copy)
    path = copy / rel
    lines = path.read_text().splitlines(keepends=True)
    node = next(n for n in ast.walk(ast.parse("".join(lines)))
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name)
    indent = " " * node.body[0].col_offset
    if how == "statement":
        lines.insert(node.end_lineno, f"{indent}_edited_here = 1\n")
    elif how == "docstring":
        doc = node.body[0]
        assert isinstance(doc, ast.Expr) and isinstance(doc.value.value, str), f"{name} has no docstring"
        lines.insert(doc.lineno - 1, f'{indent}"""Reworded."""\n')
        del lines[doc.lineno: doc.end_lineno + 1]
    elif how == "comment":
        lines.insert(node.body[0].lineno - 1, f"{indent}# a new comment\n\n")
    path.write_text("".join(lines))
    return _keys(F.CodeIndex(copy))


def _changed(baseline, after: dict[str, str]) -> set[str]:
    return {name for name, key in after.items() if baseline[1][name] != key}


@pytest.mark.parametrize("rel, name", [
    ("experiments/foundations_vanishing.py", "plot_gradient_flow"),
    ("report.py", "format_summary"),
    ("book.py", "build"),
    ("cli.py", "main"),
    ("experiments/dfa_pages.py", "plot_page"),
    ("experiments/ablation.py", "plot_curves"),
    ("experiments/dual_weight_beyond.py", "plot_lr_sweep"),
    ("experiments/__init__.py", "plan_runs"),
    ("experiments/__init__.py", "register_experiment"),
])
def test_presentation_edits_change_no_result_key(baseline, tmp_path, rel, name):
    assert _changed(baseline, _edited(baseline, tmp_path, rel, name)) == set()


def test_a_new_helper_above_the_registrations_changes_no_key(baseline, tmp_path):
    """experiments/dfa_parity.py registers its lazy baselines in top-level statements
    (``LAZY_METHODS.register(...)``). A page helper added above them shifts their lines; the keys
    of the runs that read LAZY_METHODS must not move (statements are numbered, not named by line)."""
    copy = tmp_path / "learning_rules"
    shutil.copytree(baseline[0], copy)
    path = copy / "experiments" / "dfa_parity.py"
    anchor = "from . import one_blas_thread, register_experiment, register_planner\n"
    text = path.read_text()
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + "\n\ndef page_helper(frame):\n    return frame.head()\n\n"))
    assert _changed(baseline, _keys(F.CodeIndex(copy))) == set()


def test_a_helper_ending_at_another_depth_changes_no_key_below_it(baseline, tmp_path):
    """Python's tokenizer emits the DEDENTs that close a block on the first line of the *next*
    statement. A function inserted above a run's config class (ending one level shallower than the
    class before it) must not change that class's tokens, hence no key."""
    copy = tmp_path / "learning_rules"
    shutil.copytree(baseline[0], copy)
    path = copy / "experiments" / "dfa_parity.py"
    anchor = "@dataclasses.dataclass(frozen=True)\nclass LazyParityConfig:"
    text = path.read_text()
    assert anchor in text
    helper = "def page_helper(frame):\n    return frame.head()\n\n\n"
    path.write_text(text.replace(anchor, helper + anchor))
    assert _changed(baseline, _keys(F.CodeIndex(copy))) == set()


@pytest.mark.parametrize("how", ["docstring", "comment"])
def test_docstrings_and_comments_change_no_key(baseline, tmp_path, how):
    assert _changed(baseline, _edited(baseline, tmp_path, "data/parsers.py", "read_idx", how)) == set()


# (module, definition, experiments whose keys must change, experiments whose keys must not)
COMPUTATION_EDITS = [
    ("fast/sparse_input.py", "sparse_forward", {"dfa_parity_lazy"},
     {"ablation_run", "dual_weight_cell", "dfa_synthetic", "foundations_optimizer_paths"}),
    ("fast/_kernels.py", "_act", {"dual_weight_cell"},
     {"dfa_parity_lazy", "foundations_optimizer_paths", "datasets_summary"}),
    ("credit/dfa.py", "dfa_deltas", {"dfa_parity", "dfa_synthetic"},
     {"dfa_parity_lazy", "foundations_optimizer_paths", "datasets_summary"}),
    ("updates/optimizers.py", "Adam", {"ablation_run", "dfa_parity", "foundations_optimizer_paths"},
     {"datasets_summary"}),
    ("nn/init.py", "he_uniform", {"ablation_run", "foundations_gradient_flow"},
     {"foundations_optimizer_paths", "datasets_summary"}),
    ("data/parsers.py", "read_idx", {"ablation_run", "dfa_parity", "dfa_parity_lazy"},
     {"dfa_synthetic", "foundations_optimizer_paths"}),
]


@pytest.mark.parametrize("rel, name, must, must_not", COMPUTATION_EDITS)
def test_computation_edits_change_the_keys_of_their_users(baseline, tmp_path, rel, name, must, must_not):
    changed = _changed(baseline, _edited(baseline, tmp_path, rel, name))
    assert must <= changed, f"editing {rel}:{name} must change {must - changed}"
    assert not (must_not & changed), f"editing {rel}:{name} must not change {must_not & changed}"


@pytest.mark.parametrize("rel, name, experiment", [
    ("experiments/ablation.py", "_run_ablation", "ablation_run"),
    ("experiments/dfa_synthetic.py", "synthetic_run", "dfa_synthetic"),
    ("experiments/foundations_optimizers.py", "optimizer_paths", "foundations_optimizer_paths"),
])
def test_a_run_function_edit_changes_only_its_experiment(baseline, tmp_path, rel, name, experiment):
    assert _changed(baseline, _edited(baseline, tmp_path, rel, name)) == {experiment}


def test_notebook_code_follows_plotting_code_it_calls(baseline, tmp_path):
    def cells(nb):
        data = json.loads((ROOT / nb).read_text())
        return ["".join(c["source"]) for c in data["cells"] if c["cell_type"] == "code"]

    pages = ["book/foundations/vanishing.ipynb", "book/dfa/parity.ipynb"]
    before = {nb: F.notebook_fingerprint(cells(nb), F.CodeIndex(baseline[0])) for nb in pages}
    copy = tmp_path / "learning_rules"
    shutil.copytree(baseline[0], copy)
    path = copy / "experiments" / "foundations_vanishing.py"
    path.write_text(path.read_text().replace("def plot_gradient_flow(frame: pd.DataFrame) -> plt.Figure:\n",
                                             "def plot_gradient_flow(frame: pd.DataFrame) -> plt.Figure:\n"
                                             "    _edited_here = 1\n"))
    after = {nb: F.notebook_fingerprint(cells(nb), F.CodeIndex(copy)) for nb in pages}
    assert after["book/foundations/vanishing.ipynb"] != before["book/foundations/vanishing.ipynb"]
    assert after["book/dfa/parity.ipynb"] == before["book/dfa/parity.ipynb"]


def test_store_keys_use_the_experiment_fingerprint(tmp_path):
    from learning_rules.experiments.dfa_synthetic import SyntheticConfig

    store = Store(tmp_path)
    assert store.code_of("dfa_synthetic") == F.experiment_fingerprint("dfa_synthetic")
    assert store.code_of("dfa_synthetic") != store.code_of("ablation_run")
    assert Store(tmp_path, code_hash="pinned").code_of("dfa_synthetic") == "pinned"
    key = store.key("dfa_synthetic", SyntheticConfig())
    assert key != Store(tmp_path, code_hash="other").key("dfa_synthetic", SyntheticConfig())


def test_registration_decorators_return_the_function_unchanged(monkeypatch):
    """Why EXCLUDED_UNITS may leave them out of every key: they add nothing to the function."""
    import dataclasses

    from learning_rules import experiments as E

    @dataclasses.dataclass(frozen=True)
    class C:
        x: int = 0

    def run(config):
        return config

    monkeypatch.setattr(E.EXPERIMENTS, "_entries", dict(E.EXPERIMENTS._entries))
    monkeypatch.setattr(E.PLANNERS, "_entries", dict(E.PLANNERS._entries))
    monkeypatch.setattr(E.ARTIFACTS, "_entries", dict(E.ARTIFACTS._entries))
    assert E.register_experiment("fp_test", C, "test", timing_columns=("t",))(run) is run
    assert E.register_planner("book/fp_test.ipynb")(run) is run
    assert E.register_artifact("fp-test", "test")(run) is run
    assert {u for u in F.EXCLUDED_UNITS} <= {(m, n) for m, mod in F.code_index().modules.items()
                                             for n in mod.defs}


def test_unknown_root_is_a_clear_error():
    with pytest.raises(ValueError, match="no top-level definition 'nope'"):
        F.code_index().closure([("store", "nope")])


# --------------------------------------------------------------------------- runtime oracle

def _small_configs():
    from learning_rules.experiments.ablation import AblationRunConfig
    from learning_rules.experiments.ablation_claims import MomentsConfig
    from learning_rules.experiments.dfa import ParityConfig
    from learning_rules.experiments.dfa_parity import LazyParityConfig
    from learning_rules.experiments.dfa_synthetic import SyntheticConfig
    from learning_rules.experiments.dual_weight import CellConfig
    from learning_rules.experiments.foundations_vanishing import GradientFlowConfig

    return {
        "ablation_run": AblationRunConfig(n_train=200, n_val=100, num_epochs=1, hidden=(8, 8)),
        "ablation_moments": MomentsConfig(n_train=200, n_val=100, num_epochs=1, hidden=(8, 8), lam=1.0,
                                          probe_every=1, probe_n=50),
        "ablation_weight_spread": AblationRunConfig(n_train=200, n_val=100, num_epochs=1, hidden=(8, 8),
                                                    optimizer="adam", lr=1e-3),
        "dfa_parity": ParityConfig(n_train=256, n_test=128, num_epochs=1, n_hidden=16),
        "dfa_parity_lazy": LazyParityConfig(n_train=256, n_test=128, num_epochs=1, n_hidden=16),
        "dfa_synthetic": SyntheticConfig(n=32, num_epochs=3, n_hidden=8, n_test=64),
        "dual_weight_cell": CellConfig(steps=200, eval_every=100),
        "foundations_gradient_flow": GradientFlowConfig(n_train=200, probe_size=50, depth=3, width=8,
                                                        num_epochs=1),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_small_configs()))
def test_every_function_a_run_executes_is_in_its_closure(name):
    config = _small_configs()[name]
    executed, closure = executed_and_closure(name, config)
    assert executed, "the trace saw no package code"
    assert executed <= closure, f"{name} ran code its key does not cover: {sorted(executed - closure)}"


# --------------------------------------------------------------------------- the rules, on a tiny package

TINY = {
    "__init__.py": "",
    "registry.py": "class Registry(dict):\n    def register(self, name, obj):\n        self[name] = obj\n\n"
                   "RULES = Registry()\n",
    "rules.py": "from .registry import RULES\n\n\ndef plain(x):\n    return x\n\n\ndef fancy(x):\n    return 2 * x\n\n\n"
                "RULES.register('plain', plain)\nRULES.register('fancy', fancy)\n",
    "kernels/__init__.py": "from .core import step\n",
    "kernels/core.py": "def step(x):\n    return x + 1\n\n\ndef unused(x):\n    return x\n",
    "typing_only.py": "class Shape:\n    pass\n",
    "runs.py": "from .registry import RULES\nfrom .typing_only import Shape\nfrom . import kernels\n\n\n"
               "def run_by_name(name, x: Shape) -> Shape:\n    return RULES[name](x)\n\n\n"
               "def run_kernel(x):\n    return getattr(kernels, 'step')(x)\n\n\n"
               "def run_local(x):\n    from .kernels.core import step\n    return step(x)\n\n\n"
               "def add_rule(f):\n    RULES.register('new', f)\n    return f\n",
}


@pytest.fixture
def tiny(tmp_path):
    for rel, text in TINY.items():
        path = tmp_path / "tiny" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return F.CodeIndex(tmp_path / "tiny")


def test_reading_a_registry_uses_everything_registered_into_it(tiny):
    closure = tiny.closure([("runs", "run_by_name")])
    assert {("rules", "plain"), ("rules", "fancy"), ("registry", "RULES")} <= closure
    assert ("typing_only", "Shape") not in closure  # annotations are not executed


def test_writing_into_a_registry_does_not_use_its_entries(tiny):
    closure = tiny.closure([("runs", "add_rule")])
    assert ("registry", "RULES") in closure and ("rules", "fancy") not in closure


def test_a_package_used_whole_includes_what_it_reexports(tiny):
    closure = tiny.closure([("runs", "run_kernel")])
    assert ("kernels.core", "step") in closure and ("kernels.core", "unused") not in closure
    assert ("kernels.core", "step") in tiny.closure([("runs", "run_local")])  # a function-level import
