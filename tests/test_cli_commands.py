"""The ``learning-rules`` command line: parsing, delegation, user errors (exit 2, no traceback)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from learning_rules import book, cli
from learning_rules.experiments import (
    ARTIFACTS,
    EXPERIMENTS,
    config_from_strings,
    parse_field_value,
)
from learning_rules.experiments.datasets import DatasetsSummaryConfig

ROOT = Path(__file__).resolve().parents[1]


def test_build_arguments_reach_the_pipeline(monkeypatch, capsys):
    seen = {}

    def fake_build(profile, **kwargs):
        seen.update(profile=profile, **kwargs)
        return book.BuildResult(profile, None, ["a"], ["b"], 0.5)

    monkeypatch.setattr(book, "build", fake_build)
    assert cli.main(["build", "--profile", "smoke", "--jobs", "3", "--force"]) == 0
    assert seen["profile"] == "smoke" and seen["n_jobs"] == 3 and seen["force"] is True
    assert seen["render"] is True
    assert cli.main(["build"]) == 0
    assert seen["profile"] == "quick" and seen["n_jobs"] is None and seen["force"] is False
    assert "1 notebook(s) executed, 1 from cache" in capsys.readouterr().out


def test_build_rejects_unknown_profile(capsys):
    assert cli.main(["build", "--profile", "huge"]) == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_build_errors_are_one_message(monkeypatch, capsys):
    def failing(profile, **kwargs):
        raise book.BuildError("book/x.ipynb: cell 3 failed with ValueError: nope")

    monkeypatch.setattr(book, "build", failing)
    assert cli.main(["build", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: book/x.ipynb: cell 3") and "Traceback (most recent call last)" not in err


def test_run_with_bad_key_lists_fields(capsys):
    assert cli.main(["run", "datasets_summary", "--set", "datset=digits"]) == 2
    err = capsys.readouterr().err
    assert "unknown field 'datset'" in err and "datasets" in err and "splits" in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_run_unknown_experiment_lists_names(capsys):
    assert cli.main(["run", "no_such_experiment"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'no_such_experiment'" in err and "datasets_summary" in err


def test_run_datasets_summary_prints_and_writes(tmp_path, capsys, shared_data):
    assert cli.main(["run", "datasets_summary", "--set", "datasets=digits,wine-quality-red",
                     "--no-store"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "wine-quality-red" in out and "1797" in out
    target = tmp_path / "summary.csv"
    assert cli.main(["run", "datasets_summary", "--set", "datasets=digits", "--out", str(target)]) == 0
    frame = pd.read_csv(target)
    assert list(frame["dataset"]) == ["digits"] and frame["n_samples"].iloc[0] == 1797
    assert cli.main(["run", "datasets_summary", "--out", str(tmp_path / "x.xlsx")]) == 2


def test_make_artifacts(tmp_path, capsys, shared_data):
    table = tmp_path / "t.md"
    assert cli.main(["make", "datasets-table", "--out", str(table), "--profile", "smoke"]) == 0
    text = table.read_text()
    assert "profile: smoke" in text and "| mnist | train |" in text
    figure = tmp_path / "f.png"
    assert cli.main(["make", "datasets-figure", "--out", str(figure), "--profile", "smoke"]) == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "t.md"]  # no temporary file left
    assert cli.main(["make", "nope"]) == 2
    assert "unknown artifact 'nope'" in capsys.readouterr().err


def test_artifact_parameters_follow_the_profile():
    smoke = cli.artifact_parameters("datasets-figure", "smoke", ROOT)
    quick = cli.artifact_parameters("datasets-figure", "quick", ROOT)
    assert smoke["profile"] == "smoke" and quick["profile"] == "quick"
    assert set(smoke) == set(book.notebook_parameters(ROOT / "book" / "datasets.ipynb"))
    assert smoke["n_examples"] != quick["n_examples"]


def test_store_list_and_clear(tmp_path, capsys):
    from learning_rules.store import Store

    store = Store(tmp_path)
    store.put("datasets_summary", DatasetsSummaryConfig(datasets=("digits",)), pd.DataFrame({"a": [1]}))
    assert cli.main(["store", "list", "--store", str(tmp_path)]) == 0
    assert "datasets_summary" in capsys.readouterr().out
    assert cli.main(["store", "clear", "--store", str(tmp_path)]) == 0
    assert "removed 1" in capsys.readouterr().out
    assert cli.main(["store", "list", "--store", str(tmp_path)]) == 0
    assert "no entries" in capsys.readouterr().out


def test_data_command_is_delegated(capsys):
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "wine-quality-red" in out


def test_data_errors_exit_2(capsys):
    assert cli.main(["data", "where", "no-such-dataset"]) == 2
    assert "no-such-dataset" in capsys.readouterr().err


def test_list_and_help(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "datasets_summary" in out and "datasets-figure" in out and "datasets-table" in out
    assert cli.main(["--help"]) == 0
    assert cli.main([]) == 2


def test_field_parsing():
    assert parse_field_value("3", int) == 3
    assert parse_field_value("0.5", float) == 0.5
    assert parse_field_value("yes", bool) is True
    assert parse_field_value("none", int | None) is None
    assert parse_field_value("4", int | None) == 4
    assert parse_field_value("a, b", tuple[str, ...]) == ("a", "b")
    assert parse_field_value("1,2", tuple[int, ...]) == (1, 2)
    for text, tp in (("x", int), ("x", float), ("maybe", bool), ("1,x", tuple[int, ...])):
        with pytest.raises(ValueError):
            parse_field_value(text, tp)
    cfg = config_from_strings(DatasetsSummaryConfig, ["splits=test"])
    assert cfg == DatasetsSummaryConfig(splits=("test",))
    with pytest.raises(ValueError, match="key=value"):
        config_from_strings(DatasetsSummaryConfig, ["splits"])


def test_registries_hold_the_datasets_chapter():
    assert EXPERIMENTS["datasets_summary"].cache is False
    assert ARTIFACTS["datasets-figure"].notebook == "book/datasets.ipynb"


def test_save_figure_writes_the_book_resolution_atomically(tmp_path):
    """Artifacts are PNGs at the kernels' 200 dpi; the figure is closed; a failed write keeps the
    old file."""
    import struct

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from learning_rules.experiments import ARTIFACT_DPI, save_figure

    out = tmp_path / "fig.png"
    fig = plt.figure(figsize=(4, 3))
    fig.add_subplot().plot([0, 1], [1, 0])
    assert save_figure(fig, out) == out
    assert not plt.fignum_exists(fig.number)
    width, height = struct.unpack(">II", out.read_bytes()[16:24])
    assert (width, height) == (4 * ARTIFACT_DPI, 3 * ARTIFACT_DPI) and ARTIFACT_DPI == 200
    before = out.read_bytes()
    bad = plt.figure()
    with pytest.raises(TypeError):
        save_figure(bad, out, format="svg")  # savefig refuses a second format: the write fails
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
    assert not plt.fignum_exists(bad.number)


#: The DFA thesis' figures and tables: artifact -> (its notebook, the start of its description
#: (the source and number as printed), the page-module function the notebook calls to draw it).
DFA_THESIS_ARTIFACTS = {
    "dfa-figure-2-1-samples": ("book/dfa/parity.ipynb", "thesis Fig. 2.1 (bottom)", "plot_parity_examples"),
    "dfa-parity-figure": ("book/dfa/parity.ipynb", "thesis Figs. 2.1 (top) and 3.1", "plot_parity_curves"),
    "dfa-parity-table": ("book/dfa/parity.ipynb", "thesis Figs. 2.1 and 3.1", "final_parity_table"),
    "dfa-figure-2-2-clusters": ("book/dfa/synthetic.ipynb", "thesis Fig. 2.2 (left", "plot_clusters"),
    "dfa-figure-2-2": ("book/dfa/synthetic.ipynb", "thesis Fig. 2.2 (middle and right)", "plot_figure_2_2"),
    "dfa-figure-2-2-table": ("book/dfa/synthetic.ipynb", "thesis Fig. 2.2:", "table_2_2"),
    "dfa-figure-3-8": ("book/dfa/synthetic.ipynb", "thesis Fig. 3.8 (middle and right)", "plot_figure_3_8"),
    "dfa-figure-3-8-table": ("book/dfa/synthetic.ipynb", "thesis Fig. 3.8:", "table_3_8"),
    "dfa-figure-3-7": ("book/dfa/representations.ipynb", "thesis Fig. 3.7, corrected", "plot_figure_3_7"),
    "dfa-figure-3-7-as-published": ("book/dfa/representations.ipynb", "thesis Fig. 3.7 as its code made it",
                                    "plot_figure_3_7"),
    "dfa-alignment-figure": ("book/dfa/alignment.ipynb", "thesis Figs. 3.2/3.5", "plot_page"),
    "dfa-feedback-figure": ("book/dfa/feedback.ipynb", "thesis Fig. 3.3", "plot_page"),
    "dfa-optimizers-figure": ("book/dfa/optimizers.ipynb", "thesis Fig. 3.4", "plot_page"),
}


def _notebook_code(notebook: str) -> str:
    import json

    cells = json.loads((ROOT / notebook).read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_dfa_thesis_artifacts_are_listed_and_drawn_by_their_pages(capsys):
    """Every figure and table of the DFA thesis the book regenerates is an artifact of the page
    that shows it, its description names the thesis' number as printed, and the page draws it with
    the function the artifact calls (one code path)."""
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name, (notebook, source, function) in DFA_THESIS_ARTIFACTS.items():
        art = ARTIFACTS[name]
        assert f"  {name} " in out
        assert art.notebook == notebook and art.description.startswith(source), (name, art)
        assert f"{function}(" in _notebook_code(notebook), (name, function)
        assert art.suffix == (".csv" if name.endswith("-table") else ".png")


def test_artifact_descriptions_name_their_source():
    """A reproduced figure or table names its source and number as printed (the thesis, Wang 2025,
    Okoma 2025); the book's own figures say what they illustrate."""
    sources = {"dfa-": ("thesis Fig",), "dual-weight-": ("Wang 2025 ",), "ablation-": ("Okoma 2025 ",),
               "foundations-": ("lecture notes", "the optimizers of Okoma 2025", "L2 weight-decay Q&A, claim"),
               "datasets-": ("",)}
    for art in ARTIFACTS.values():
        prefix = next(p for p in sources if art.name.startswith(p))
        assert art.description.startswith(sources[prefix]), (art.name, art.description)


def test_make_dfa_thesis_artifacts_at_smoke(tmp_path, monkeypatch, capsys, shared_data):
    """Each new DFA-thesis artifact is made at the smoke profile, from an empty result store of the
    test's own (the runs are a few seconds at smoke): PNGs are images, tables carry the published
    column next to ours."""
    monkeypatch.setenv("LEARNING_RULES_STORE", str(tmp_path / "store"))
    for name in DFA_THESIS_ARTIFACTS:
        out = tmp_path / f"{name}{ARTIFACTS[name].suffix}"
        assert cli.main(["make", name, "--profile", "smoke", "--out", str(out)]) == 0, name
        if out.suffix == ".png":
            assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        else:
            table = pd.read_csv(out)
            assert len(table) and "mean" in table and any(c.startswith("published") for c in table), name
    tables = {n: pd.read_csv(tmp_path / f"{n}.csv") for n in DFA_THESIS_ARTIFACTS if n.endswith("-table")}
    assert set(tables["dfa-parity-table"]["k"]) == {1, 3}  # the smoke profile's ks
    assert set(tables["dfa-figure-3-8-table"]["method"]) == {"BP SGD", "DFA SGD", "DFA RMSProp", "BP RMSProp"}
    assert "wrote" in capsys.readouterr().out
