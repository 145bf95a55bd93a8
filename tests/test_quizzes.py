"""Every lesson's quiz can be graded: valid questions, the solution scores full marks, every wrong
answer is caught with its own explanation, and bad input is a ❌ line, never a traceback."""

import importlib
import pkgutil

import pytest

import latentlab.quizzes
from latentlab.i18n import catalogue
from latentlab.quiz import LETTERS, check_quiz, quiz
from latentlab.translations import looks_english

NUMBERS = sorted(int(m.name[len("lesson"):]) for m in pkgutil.iter_modules(latentlab.quizzes.__path__)
                 if m.name.startswith("lesson"))


def test_there_are_quizzes():
    assert NUMBERS, "no quiz modules in latentlab/quizzes"


@pytest.mark.parametrize("lesson", NUMBERS)
def test_quiz_is_well_formed(lesson):
    quiz(lesson).validate()


@pytest.mark.parametrize("lesson", NUMBERS)
def test_the_solution_scores_full_marks(lesson, capsys):
    assert check_quiz(lesson, quiz(lesson).solution())
    assert "❌" not in capsys.readouterr().out


@pytest.mark.parametrize("lesson", NUMBERS)
def test_every_wrong_answer_gets_its_own_explanation(lesson, english):
    the_quiz = quiz(lesson)
    for question in the_quiz.questions:
        wrong = ([letter for letter in LETTERS[:len(question.choices)] if letter != question.answer]
                 if question.choices else [question.answer * 2 + 1, -question.answer - 1])
        for answer in wrong:
            answers = the_quiz.solution() | {question.key: answer}
            result = the_quiz.check(answers, verbose=False)
            assert not result
            line = next(x for x in result.message.splitlines() if x.startswith(f"❌ {question.key}:"))
            expected = question.why[answer if question.choices else ""]
            assert expected in line


@pytest.mark.parametrize("answers", [None, [], {"q1": 3.5}, {"q1": "z"}, {"nope": "a"}, {"q2": "lots"}, {}])
def test_bad_answers_are_a_clear_cross_not_a_traceback(answers, capsys):
    result = check_quiz(NUMBERS[0], answers)
    assert not result
    assert "❌" in capsys.readouterr().out


def test_a_lesson_without_a_quiz_says_so(english):
    with pytest.raises(ValueError, match="has no quiz"):
        quiz(99)


@pytest.mark.parametrize("lesson", NUMBERS)
def test_quizzes_speak_spanish(lesson, monkeypatch):
    monkeypatch.setenv("LATENTLAB_LANG", "es")
    catalogue.cache_clear()
    try:
        the_quiz = quiz(lesson)
        wrong = {q.key: (("a" if q.answer != "a" else "b") if q.choices else q.answer * 2 + 1)
                 for q in the_quiz.questions}
        message = the_quiz.check(wrong, verbose=False).message
        assert not any(looks_english(line) for line in message.splitlines()), message
    finally:
        catalogue.cache_clear()


def test_quiz_modules_import():
    for lesson in NUMBERS:
        importlib.import_module(f"latentlab.quizzes.lesson{lesson:02d}")
