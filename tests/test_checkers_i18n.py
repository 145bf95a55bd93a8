"""Every exercise checker speaks the learner's language: with LATENTLAB_LANG=es its verdict, the named
mistake and its hint are Spanish (latentlab/locale/es/checkers.po); without it, the English is what it
always was. The checkers are found through the lessons manifest, as in tests/test_checkers.py."""

import pytest
from checker_suite import checker_id, checkers_from_manifest

from latentlab.exercises.lesson06 import check_recognisable_denoise
from latentlab.exercises.lesson07 import FLOP_GAP_CHOICES, TIME_GAP_CHOICES, check_why_latent_gaps
from latentlab.i18n import tr
from latentlab.lessons import LESSONS
from latentlab.translations import looks_english, package_problems

CHECKERS = checkers_from_manifest(LESSONS)
IDS = [checker_id(c) for c, _, _ in CHECKERS]
MISTAKES = [(checker, m) for checker, _, mistakes in CHECKERS for m in mistakes]
MISTAKE_IDS = [f"{checker_id(c)}-{i}" for c, _, mistakes in CHECKERS for i, _ in enumerate(mistakes)]


def unwritten(*args, **kwargs):
    # your code here
    return None


def not_implemented(*args, **kwargs):
    raise NotImplementedError


def crashes(*args, **kwargs):
    return 1 / 0


def assert_spanish(out: str):
    """Something printed, and no line of it that reads as English."""
    assert out.strip(), "the checker printed nothing"
    english = [line for line in out.splitlines() if looks_english(line)]
    assert not english, f"lines left in English: {english}"


# -- Spanish ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("checker, mistake", MISTAKES, ids=MISTAKE_IDS)
def test_a_wrong_answer_is_told_in_spanish(checker, mistake, spanish, capsys):
    result = checker(mistake.fn)
    out = capsys.readouterr().out
    assert not result.passed and "❌" in out
    assert result.mistake == mistake.name  # the result keeps the English name: code and tests compare it
    assert tr(mistake.name) in out and tr(mistake.hint) in out and "Pista:" in out
    assert tr(mistake.name) != mistake.name and tr(mistake.hint) != mistake.hint
    assert_spanish(out)


@pytest.mark.parametrize("stub", [unwritten, not_implemented, crashes])
@pytest.mark.parametrize("checker", [c for c, _, _ in CHECKERS], ids=IDS)
def test_an_unwritten_or_crashing_answer_is_told_in_spanish(checker, stub, spanish, capsys):
    result = checker(stub)
    out = capsys.readouterr().out
    assert not result.passed and "❌" in out
    if stub is not crashes:
        assert "aún no está escrita" in out
    else:
        assert "ZeroDivisionError" in out and "lanzó" in out
    assert_spanish(out)


@pytest.mark.parametrize("checker, reference", [(c, r) for c, r, _ in CHECKERS], ids=IDS)
def test_a_right_answer_is_told_in_spanish(checker, reference, spanish, capsys):
    assert checker(reference).passed
    out = capsys.readouterr().out
    assert "✅" in out and "coincide con la referencia" in out
    assert_spanish(out)


STRIP = [{"denoise": 0.0, "ssim": 0.9}, {"denoise": 0.3, "ssim": 0.8}, {"denoise": 0.5, "ssim": 0.6},
         {"denoise": 0.8, "ssim": 0.2}]


@pytest.mark.parametrize("choice, strip, passed", [
    (None, STRIP, False), (0, STRIP, False), (0.4, STRIP, False), (0.8, STRIP, False), (0.3, None, False),
    (0.8, [{"denoise": 0.0, "ssim": 0.9}, {"denoise": 0.8, "ssim": 0.1}], False), (0.3, STRIP, True),
    (0.5, STRIP, True)])
def test_the_recognisable_denoise_question_speaks_spanish(choice, strip, passed, spanish, capsys):
    result = check_recognisable_denoise(choice, strip)
    out = capsys.readouterr().out
    assert result.passed is passed and ("✅" if passed else "❌") in out and "denoise reconocible" in out
    assert_spanish(out)


BENCH = {"rows": [{"space": "pixel", "latent_shape": [3, 64, 64], "gflops": 1000.0, "ms": 250.0},
                  {"space": "f8c4", "latent_shape": [4, 8, 8], "gflops": 1.0, "ms": 1.0}]}


@pytest.mark.parametrize("flops, time, bench, passed", [
    (None, "A", None, False), ("Z", "A", None, False), ("A", "B", {"rows": []}, False), ("B", "B", BENCH, False),
    ("A", "A", BENCH, False), ("A", "C", None, False), ("A", "B", BENCH, True), ("A", "B", None, True)])
def test_the_why_latent_question_speaks_spanish(flops, time, bench, passed, spanish, capsys):
    result = check_why_latent_gaps(flops, time, bench)
    out = capsys.readouterr().out
    assert result.passed is passed and ("✅" if passed else "❌") in out
    assert_spanish(out)
    if bench and bench["rows"]:
        assert "Tu medición" in out


def test_the_choices_a_lesson_prints_are_spanish(spanish):
    for choices in (FLOP_GAP_CHOICES, TIME_GAP_CHOICES):
        for letter, text in choices.items():
            assert text == choices[letter] == choices.get(letter) and not looks_english(text)
    assert "autoatención" in FLOP_GAP_CHOICES["A"]


# -- English, as before ----------------------------------------------------------------------------

@pytest.mark.parametrize("checker, mistake", MISTAKES, ids=MISTAKE_IDS)
def test_english_names_the_mistake_as_before(checker, mistake, english, capsys):
    result = checker(mistake.fn)
    out = capsys.readouterr().out
    assert out.startswith("❌ ") and f"looks like {mistake.name}" in out and f"Hint: {mistake.hint}" in out
    assert result.message == out.rstrip("\n")


@pytest.mark.parametrize("checker, reference", [(c, r) for c, r, _ in CHECKERS], ids=IDS)
def test_english_verdicts_are_as_before(checker, reference, english, capsys):
    result = checker(reference)
    assert result.message.startswith("✅ ") and "matches the reference on" in result.message
    assert checker(unwritten).message.endswith(
        ": not written yet — your function returns None. Write its body and `return` the answer.")
    assert checker(not_implemented).message.endswith(
        ": not written yet — replace the `raise NotImplementedError` with your code.")
    crashed = checker(crashes).message
    assert crashed.startswith("❌ ") and " raised ZeroDivisionError: division by zero (line " in crashed
    capsys.readouterr()


def test_english_of_the_question_checkers_is_as_before(english, capsys):
    assert check_recognisable_denoise(None, STRIP).message == (
        "❌ recognisable denoise: not answered yet — set the variable to one of the strip's denoise values.")
    assert check_recognisable_denoise(0.5, STRIP).message == (
        "✅ recognisable denoise: at denoise 0.5 the result's SSIM with the photo is 0.60, 67% of the VAE round "
        "trip's 0.90, the largest of the strip above 50%. Beyond it, the model pulls the latent toward what it knows.")
    assert check_why_latent_gaps("A", "B", BENCH).message == (
        "✅ why the gaps: Your measurement: 64× fewer positions, 1000× fewer FLOPs, 250× faster; here the speed-up "
        "fell below the FLOP ratio: the latent's small tensors left the cores idle. FLOPs: self-attention: its cost "
        "grows with the square of the positions; time: the hardware: a time ratio also measures how well each tensor "
        "size suits this machine (small tensors leave cores idle and pay fixed costs per layer, big ones spill out "
        "of the caches) and how busy it is; the FLOP ratio, counted from the shapes, is the same everywhere.")
    capsys.readouterr()
    assert dict(FLOP_GAP_CHOICES.items())["A"] == "self-attention: its cost grows with the square of the positions"


# -- the catalogue ---------------------------------------------------------------------------------

def test_the_checkers_catalogue_is_complete():
    problems = [line for line in package_problems("es") if "checkers.po" in line]
    assert not problems, "\n".join(problems)
