"""`latentlab lab` opens lesson 00 and hands unknown options on to JupyterLab (without starting it here)."""

import subprocess

import pytest

from latentlab import cli


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(subprocess, "call", lambda command, cwd=None, env=None: seen.append((command, cwd, env)) or 0)
    return seen


def test_lab_opens_lesson_00_with_jupyter_options_passed_on(calls):
    assert cli.main(["lab", "--no-browser", "--port", "8890"]) == 0
    command, cwd, _ = calls[0]
    assert command[1:4] == ["-m", "jupyter", "lab"]
    assert command[4].endswith("00_welcome.ipynb")
    assert command[5:8] == ["--no-browser", "--port", "8890"]
    assert cwd.name == "notebooks"


def test_lab_with_a_missing_notebook_says_so(calls, tmp_path, capsys):
    assert cli.main(["lab", "--notebook", str(tmp_path / "nope.ipynb")]) == 2
    assert "no notebook at" in capsys.readouterr().err and not calls


def test_other_commands_still_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "widgets", "--frobnicate"])
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


def test_lab_as_root_adds_allow_root(calls, monkeypatch):
    import os

    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    cli.main(["lab"])
    assert calls[0][0][-1] == "--allow-root"
    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    cli.main(["lab"])
    assert "--allow-root" not in calls[1][0]


def test_lab_in_spanish_opens_the_spanish_lesson_00_with_spanish_kernels(calls, monkeypatch):
    monkeypatch.delenv("LATENTLAB_LANG", raising=False)
    assert cli.main(["lab", "--lang", "es", "--no-browser"]) == 0
    command, cwd, env = calls[0]
    assert command[4].endswith("es/00_welcome.ipynb") and cwd.name == "es"
    assert env["LATENTLAB_LANG"] == "es"


def test_lab_with_an_unknown_language_lists_the_available_ones(calls, capsys):
    assert cli.main(["lab", "--lang", "xx"]) == 2
    assert "en (English), es (español)" in capsys.readouterr().err and not calls
