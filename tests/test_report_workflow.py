"""The continuous-delivery workflow (.github/workflows/book.yml) cannot run here, so check what it
calls: every ``run:`` step is a Makefile target or a ``learning-rules`` command that exists and accepts
those arguments, and the paths it caches, uploads and publishes are the ones the build and the report
write."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from learning_rules import cli, report, store
from learning_rules._registry import Registry
from learning_rules.data import locate

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(workflow, job="build"):
    return workflow["jobs"][job]["steps"]


def run_commands(workflow, job="build") -> list[list[str]]:
    env = {k: str(v) for k, v in {**workflow.get("env", {}), **workflow["jobs"][job].get("env", {})}.items()}
    commands = []
    for step in steps(workflow, job):
        if "run" not in step:
            continue
        text = step["run"].replace("${{ env.PROFILE }}", env["PROFILE"])
        assert "${{" not in text, f"unexpanded expression in {text!r}"
        commands.append(shlex.split(text))
    return commands


def test_triggers_permissions_and_pages_deploy(workflow):
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    uses = [s.get("uses", "") for s in steps(workflow)]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert set(workflow["jobs"]["deploy"]["needs"]) == {"check", "build"}
    assert steps(workflow, "deploy")[0]["uses"].startswith("actions/deploy-pages@")
    # the published book is the paper profile; quick still runs, as a check
    assert workflow["jobs"]["build"]["env"]["PROFILE"] == "paper"
    assert workflow["jobs"]["check"]["env"]["PROFILE"] == "quick"


def test_results_are_saved_even_when_the_paper_build_stops(workflow):
    save = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/cache/save@"))
    restore = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/cache/restore@"))
    assert save["if"] == "always()" and ".lr-cache" in save["with"]["path"].split()
    assert save["with"]["path"] == restore["with"]["path"]


@pytest.mark.parametrize("job, profile", [("build", "paper"), ("check", "quick")])
def test_make_target_exists_and_runs_the_build(workflow, job, profile):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    make_cmds = [c for c in run_commands(workflow, job) if c[0] == "make"]
    assert make_cmds == [["make", "book", f"PROFILE={profile}"]]
    dry = subprocess.run([make, "-n", *make_cmds[0][1:]], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert f"learning-rules build --profile {profile}" in dry.stdout


@pytest.mark.parametrize("job, profile", [("build", "paper"), ("check", "quick")])
def test_cli_commands_parse(workflow, job, profile):
    parser = cli.build_parser()
    cli_cmds = [c for c in run_commands(workflow, job) if c[0].endswith("learning-rules")]
    assert cli_cmds, "the workflow should write the reproduction ledger"
    for cmd in cli_cmds:
        assert cmd[0] == ".venv/bin/learning-rules"  # what `make book` installs
        args = parser.parse_args(cmd[1:])
        assert callable(args.func)
        assert args.command in ("report", "store")
        if args.command == "report":
            assert args.timings or args.profile == [profile]
            assert not args.compute and not args.accept  # CI never computes behind the report's back
        else:
            assert args.store_command == "export" and args.profile == profile
            assert args.target.startswith("_build/html/")  # published beside the HTML
    reports = [parser.parse_args(c[1:]) for c in cli_cmds if c[1] == "report"]
    assert any(not a.timings for a in reports), "no ledger step"
    assert any(a.timings for a in reports), "no timings step"


def test_paper_job_publishes_ledgers_and_bundle(workflow):
    cmds = run_commands(workflow, "build")
    assert ["cp", "_build/reproduction.csv", "_build/html/reproduction.csv"] in cmds
    assert any(c[:2] == ["cp", "reproduction/paper.csv"] for c in cmds)
    assert any("store" in c and "export" in c for c in cmds)


def test_console_script_help():
    exe = ROOT / ".venv" / "bin" / "learning-rules"
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (make install)")
    proc = subprocess.run([str(exe), "report", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--profile" in proc.stdout and "--accept" in proc.stdout


def test_paths_match_what_the_package_writes(workflow, tmp_path, monkeypatch):
    env = workflow["env"]
    assert "LEARNING_RULES_STORE" in env and store.STORE_ENV == "LEARNING_RULES_STORE"
    assert "LEARNING_RULES_CACHE" in env and locate.ENV_CACHE == "LEARNING_RULES_CACHE"
    pages = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert pages["with"]["path"] == "_build/html"  # book.build(output=root) renders into <root>/_build/html
    cache = next(s for s in steps(workflow, "check") if s.get("uses", "").startswith("actions/cache@"))
    cached = cache["with"]["path"].split()
    assert "_build/executed" in cached
    paper_cache = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/cache/restore@"))
    assert "_build/executed" in paper_cache["with"]["path"].split()

    # run the report on a tiny synthetic source: the files it writes are the ones the workflow
    # caches (the accepted ledger) and uploads (the ledger)
    ref = tmp_path / "ref"
    ref.mkdir()
    pd.DataFrame([["toy", "T", "a|m", "c", 50.0, "accuracy %"]],
                 columns=report.PUBLISHED_COLUMNS).to_csv(ref / "toy.csv", index=False)
    registry = Registry("reproduction")
    monkeypatch.setattr(report, "REPRODUCTIONS", registry)
    monkeypatch.setattr(report, "discover_reproductions", lambda: registry)
    result = report.run_report(["quick"], output=tmp_path, reference=ref, log=lambda s: None)
    written = {p.relative_to(tmp_path).as_posix() for p in (result.path, result.baseline)}
    assert written == {"_build/reproduction.csv", "_build/reproduction.prev.csv"}
    assert "_build/reproduction.prev.csv" in cached  # the quick check's accepted ledger
    upload = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact@"))
    patterns = upload["with"]["path"].split()
    assert all(any(Path(p).match(pat) for pat in patterns) for p in written)
    assert "_build/timings.csv" in patterns  # book.build writes <output>/_build/timings.csv
    assert "_build/build.json" in patterns  # and its measurements
    # the paper ledger's accepted copy is the committed one, not a cache entry
    assert report.committed_ledger(ROOT).relative_to(ROOT).as_posix() == "reproduction/paper.csv"
