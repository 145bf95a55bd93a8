"""The command line speaks the learner's language: with LATENTLAB_LANG=es its help, its usage errors and
its messages are Spanish (latentlab/locale/es/cli.po); without it, the English is what it always was.
argparse's own words ("usage:", "options:", "error:") stay English (see the comment at the top of cli.py)."""

import argparse
import os
import subprocess
import sys

import pytest

from latentlab import cli
from latentlab.translations import looks_english, package_problems

# Help texts that read the same in both languages (names and values only).
SAME_IN_BOTH = {"ddim, ddpm, euler, dpmpp_2m, … (latentlab.samplers.SAMPLERS)"}


@pytest.fixture
def calls(monkeypatch):
    """subprocess.call recorded, so `latentlab lab` never starts JupyterLab here."""
    seen = []
    monkeypatch.setattr(subprocess, "call", lambda command, **kwargs: seen.append((command, kwargs)) or 0)
    return seen


def run(argv, capsys):
    """(exit code, stdout, stderr) of `latentlab ARGV` in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


def parsers(parser, path=()):
    """(sub-command path, parser) of the whole command tree."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def help_texts(parser) -> dict:
    """{(path, option or sub-command): help text} of every help= in the tree, and the description."""
    texts = {((), "description"): parser.description}
    for path, p in parsers(parser):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    texts[(path, choice.dest)] = choice.help
            elif action.help and action.dest != "help":  # -h is argparse's own
                texts[(path, action.dest)] = action.help
    return texts


def test_latentlab_help_is_spanish(spanish, capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "difusión latente desde cero: las herramientas del curso" in out
    assert "abre el curso en JupyterLab" in out
    assert "entrena un modelo" in out and "evalúa un modelo" in out
    assert "open the course" not in out
    assert not [line for line in out.splitlines() if looks_english(line)]


def test_lab_help_is_spanish(spanish, capsys):
    code, out, _ = run(["lab", "--help"], capsys)
    assert code == 0
    assert "cuaderno que se abre (por defecto: la lección 00 en el idioma elegido)" in out
    assert "idioma del curso: en (por defecto) o es; fija LATENTLAB_LANG para los kernels" in out
    assert "--notebook" in out and "--lang" in out  # option names are not translated
    assert not [line for line in out.splitlines() if looks_english(line)]


def test_every_help_text_of_every_command_is_spanish(english, monkeypatch):
    english_texts = help_texts(cli.build_parser())
    monkeypatch.setenv("LATENTLAB_LANG", "es")
    spanish_texts = help_texts(cli.build_parser())
    assert spanish_texts.keys() == english_texts.keys()
    left = {key: text for key, text in spanish_texts.items()
            if text == english_texts[key] and text not in SAME_IN_BOTH}
    assert not left, f"help texts still in English: {left}"
    assert not [text for text in spanish_texts.values() if looks_english(text)]


def test_every_sub_command_help_prints_in_spanish(spanish, capsys):
    for path, _ in parsers(cli.build_parser()):
        code, out, _ = run([*path, "--help"], capsys)
        assert code == 0, path
        assert not [line for line in out.splitlines() if looks_english(line)], path


@pytest.mark.parametrize("argv, words", [
    (["train", "vae", "--steps", "0"], "argument --steps: debe ser como mínimo 1; se recibió 0"),
    (["train", "vae", "--steps", "many"], "argument --steps: se esperaba un número entero; se recibió 'many'"),
    (["train", "vae"], "train vae necesita --steps N o --minutes M"),
    (["eval", "ldm", "--cfg", "nan"], "argument --cfg: debe ser un número finito ≥ 0; se recibió nan"),
    (["bench", "why-latent", "--size", "100"], "debe ser un múltiplo de 64, como mínimo 64; se recibió 100"),
    (["bench", "widgets", "--frobnicate"], "argumentos no reconocidos: --frobnicate"),
])
def test_usage_errors_are_spanish(spanish, capsys, argv, words):
    code, out, err = run(argv, capsys)
    assert code == 2 and not out
    assert words in err
    assert not looks_english(err.splitlines()[-1])


def test_lab_with_an_unknown_language_lists_the_available_ones(spanish, calls, capsys):
    code, _, err = run(["lab", "--lang", "xx"], capsys)
    assert code == 2 and not calls
    assert err == "latentlab lab: no hay traducción para el idioma 'xx'; idiomas del curso: en (English), es (español)\n"


def test_lab_with_an_unknown_language_in_english(english, calls, capsys):
    code, _, err = run(["lab", "--lang", "xx"], capsys)
    assert code == 2 and not calls
    assert err == "latentlab lab: no translation for the language 'xx'; the course speaks en (English), es (español)\n"


def test_an_unknown_latentlab_lang_is_a_usage_error_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("LATENTLAB_LANG", "xx")
    code, out, err = run(["--help"], capsys)
    assert code == 2 and not out
    assert err.startswith("latentlab: LATENTLAB_LANG: ") and "en (English), es (español)" in err


def test_lab_lang_es_speaks_spanish_and_passes_the_language_on(english, calls, tmp_path, capsys):
    notebook = tmp_path / "00_welcome.ipynb"
    notebook.write_text("{}")
    code, _, err = run(["lab", "--lang", "es", "--notebook", notebook, "--no-browser"], capsys)
    assert code == 0
    command, kwargs = calls[0]
    assert kwargs["env"]["LATENTLAB_LANG"] == "es" and "--no-browser" in command
    assert "iniciando: " in err and "starting:" not in err


def test_lab_missing_notebook_in_spanish(spanish, calls, tmp_path, capsys):
    code, _, err = run(["lab", "--notebook", tmp_path / "nope.ipynb"], capsys)
    assert code == 2 and not calls
    assert "latentlab lab: no hay ningún cuaderno en" in err


def test_a_bug_is_reported_in_spanish(spanish, capsys, monkeypatch):
    from latentlab import commands

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(commands, "cmd_lab", broken)
    monkeypatch.delenv("LATENTLAB_DEBUG", raising=False)
    code, _, err = run(["lab"], capsys)
    assert code == 1
    assert err == ("latentlab lab: RuntimeError inesperado: boom\n"
                   "  esto es un fallo de latentlab: vuelve a ejecutar el comando con LATENTLAB_DEBUG=1 para ver "
                   "la traza (traceback) y notifícalo\n")


def test_english_is_unchanged_without_the_variable(english, capsys, monkeypatch):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "latent diffusion, from scratch: the course's tools" in out
    assert "open the course in JupyterLab" in out
    code, out, _ = run(["lab", "--help"], capsys)
    assert "notebook to open (default: lesson 00 in the chosen language)" in out
    code, _, err = run(["train", "vae", "--steps", "0"], capsys)
    assert code == 2 and "argument --steps: must be at least 1; got 0" in err
    code, _, err = run(["train", "vae"], capsys)
    assert code == 2 and "train vae needs --steps N or --minutes M" in err
    code, _, err = run(["bench", "why-latent", "--size", "100"], capsys)
    assert "must be a multiple of 64, at least 64; got 100" in err
    code, _, err = run(["eval", "ldm", "--cfg", "inf"], capsys)
    assert "must be a finite number ≥ 0; got inf" in err

    from latentlab import commands

    monkeypatch.setattr(commands, "cmd_lab", lambda args: (_ for _ in ()).throw(KeyboardInterrupt))
    code, _, err = run(["lab"], capsys)
    assert code == 130 and err == "latentlab lab: interrupted\n"


def test_the_spanish_help_does_not_load_torch():
    script = ("import sys\nfrom latentlab import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
              "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "LATENTLAB_LANG": "es"})
    assert done.returncode == 0, done.stderr
    assert "abre el curso en JupyterLab" in done.stdout


def test_the_cli_catalogue_is_complete():
    assert not [line for line in package_problems("es") if "cli.po" in line]
