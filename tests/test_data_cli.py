"""``learning-rules data list|where|verify|fetch``: output lines, exit status, no tracebacks."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from learning_rules import data
from learning_rules.data import cli


@pytest.fixture
def offline_shared(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNING_RULES_DATA", str(shared_data))
    monkeypatch.setenv("LEARNING_RULES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNING_RULES_OFFLINE", "1")
    return shared_data


def test_list_names_every_dataset(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in data.DATASETS:
        assert f"\n{name} " in out
    assert "cifar-10-python.tar.gz" in out and "CC BY-SA 3.0" in out


def test_where_prints_paths(offline_shared, capsys):
    assert cli.main(["where", "mnist"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(ln.startswith(str(offline_shared)) for ln in lines)


def test_verify_prints_ok_and_sha256(offline_shared, capsys):
    assert cli.main(["verify", "wine-quality-red"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok  ") and "winequality-red.csv" in out
    assert "sha256 4a402cf041b025d4566d954c3b9ba8635a3a8a01e039005d97d6a710278cf05e" in out


def test_fetch_of_a_present_dataset_downloads_nothing(offline_shared, capsys):
    assert cli.main(["fetch", "california-housing"]) == 0
    assert "cal_housing.data" in capsys.readouterr().out


def test_errors_exit_1_with_message(offline_shared, capsys):
    assert cli.main(["where", "cifar10"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: dataset 'cifar10' not found")
    assert "learning-rules data fetch cifar10" in err
    assert cli.main(["verify", "no-such-set"]) == 1
    assert "valid names: mnist" in capsys.readouterr().err


def test_register_attaches_to_a_parent_parser():
    top = argparse.ArgumentParser(prog="learning-rules")
    cli.register(top.add_subparsers(dest="command"))
    args = top.parse_args(["data", "verify", "mnist"])
    assert args.func is cli.run and args.data_command == "verify" and args.name == "mnist"
    with pytest.raises(SystemExit):
        top.parse_args(["data", "bogus"])


def test_subprocess_missing_dataset_has_no_traceback(tmp_path):
    env = {**os.environ, "LEARNING_RULES_DATA": str(tmp_path),
           "LEARNING_RULES_CACHE": str(tmp_path / "cache"), "LEARNING_RULES_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "learning_rules.data.cli", "fetch", "cifar10"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "not found" in proc.stderr
    assert str(tmp_path) in proc.stderr
