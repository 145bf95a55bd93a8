"""Lesson quizzes: 5–8 questions per lesson that check themselves, graded like the exercises.

A quiz is data (`latentlab/quizzes/lessonNN.py` holds `QUIZ`): multiple-choice questions with an
explanation for every wrong choice, and numeric questions with a tolerance and an explanation of
the usual wrong number. In a lesson a student answers it twice over, as they prefer:

    quiz(3).show()                      # radio buttons and a "Check" button (self-check)
    my_quiz = {"q1": "b", "q2": 0.25}   # the graded answers, in code (nbgrader grades this cell)
    check_quiz(3, my_quiz)              # ✅/❌ per question, with the explanation of each wrong answer

Questions, choices and explanations are English marked `N_("…")`; they are shown in the learner's
language from the `quizzes` catalogue (`latentlab translations extract`). `check_quiz` never raises on
a student's answers: a missing, malformed or unknown answer is a ❌ line that says what was expected.
"""

from __future__ import annotations

import html
import importlib
import math
import re
from dataclasses import dataclass, field

from .exercises.core import CheckResult
from .i18n import tr

LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Question:
    """One question. Multiple choice: `choices` and `answer` a letter ("b"); `why` maps each wrong
    letter to why it is wrong. Numeric: no choices, `answer` a number, `tolerance` relative, `why`
    maps "" to the explanation shown for any wrong number. `source`: where the lesson or a paper shows it."""

    key: str
    text: str
    answer: str | float
    choices: tuple[str, ...] = ()
    why: dict[str, str] = field(default_factory=dict)
    tolerance: float = 0.01
    source: str = ""

    @property
    def numeric(self) -> bool:
        return not self.choices

    def validate(self) -> None:
        """Raise ValueError when the question cannot be graded as written (used by the tests)."""
        if self.numeric:
            if not isinstance(self.answer, (int, float)) or not math.isfinite(self.answer):
                raise ValueError(f"{self.key}: a numeric question needs a finite number as its answer")
            if not self.why.get(""):
                raise ValueError(f"{self.key}: a numeric question needs why[''], the explanation of a wrong number")
            return
        letters = LETTERS[:len(self.choices)]
        if not 2 <= len(self.choices) <= len(LETTERS):
            raise ValueError(f"{self.key}: a multiple-choice question needs 2–{len(LETTERS)} choices")
        if self.answer not in letters:
            raise ValueError(f"{self.key}: the answer {self.answer!r} is not one of the choices {letters}")
        missing = [letter for letter in letters if letter != self.answer and not self.why.get(letter)]
        if missing:
            raise ValueError(f"{self.key}: every wrong choice needs its explanation; missing {missing}")

    def grade(self, given) -> tuple[bool, str]:
        """(right?, what to tell the student) for one answer."""
        if given is None:
            return False, tr("not answered yet")
        if self.numeric:
            if isinstance(given, bool) or not isinstance(given, (int, float)) or not math.isfinite(given):
                return False, tr("expected a number, got {given!r}").format(given=given)
            scale = max(abs(float(self.answer)), 1e-12)
            if abs(given - float(self.answer)) <= self.tolerance * scale:
                return True, ""
            return False, tr(self.why[""])
        letters = LETTERS[:len(self.choices)]
        letter = given.strip().lower() if isinstance(given, str) else given
        if letter not in tuple(letters):
            return False, tr("expected one of the letters {letters}, got {given!r}").format(
                letters=", ".join(letters), given=given)
        if letter == self.answer:
            return True, ""
        return False, tr(self.why[letter])


@dataclass(frozen=True)
class Quiz:
    lesson: int
    questions: tuple[Question, ...]

    def validate(self) -> None:
        keys = [q.key for q in self.questions]
        if len(set(keys)) != len(keys):
            raise ValueError(f"lesson {self.lesson:02d}: question keys repeat: {keys}")
        if not 5 <= len(self.questions) <= 8:
            raise ValueError(f"lesson {self.lesson:02d}: a quiz has 5–8 questions, this one {len(self.questions)}")
        for question in self.questions:
            question.validate()

    def solution(self) -> dict:
        return {q.key: q.answer for q in self.questions}

    def check(self, answers, verbose: bool = True) -> CheckResult:
        """Grade `answers` ({"q1": "b", "q2": 0.25, …}); print one line per question."""
        name = tr("quiz {lesson}").format(lesson=f"{self.lesson:02d}")
        if not isinstance(answers, dict):
            message = tr("❌ {name}: expected a dict of answers like {example}, got {kind}").format(
                name=name, example='{"q1": "b"}', kind=type(answers).__name__)
            if verbose:
                print(message)
            return CheckResult(False, message, None)
        unknown = sorted(set(answers) - {q.key for q in self.questions}, key=str)
        lines, right = [], 0
        for question in self.questions:
            ok, why = question.grade(answers.get(question.key))
            right += ok
            lines.append(f"✅ {question.key}" if ok else f"❌ {question.key}: {why}")
        if unknown:
            lines.append(tr("❌ unknown question(s) {keys}: the questions are {all}").format(
                keys=", ".join(map(repr, unknown)), all=", ".join(q.key for q in self.questions)))
        total = len(self.questions)
        head = tr("{mark} {name}: {right} of {total} right").format(
            mark="✅" if right == total and not unknown else "❌", name=name, right=right, total=total)
        message = "\n".join([head, *lines])
        if verbose:
            print(message)
        return CheckResult(right == total and not unknown, message, None)

    def show(self) -> None:
        """The quiz as widgets: one radio group (or number box) per question and a Check button."""
        import ipywidgets as W
        from IPython.display import display

        controls = {}
        boxes = []
        for question in self.questions:
            text = f"<b>{question.key}.</b> {_inline(tr(question.text))}"
            if question.numeric:
                control = W.Text(value="", description=tr("answer"), placeholder=tr("a number"),
                                 layout=W.Layout(width="260px"))
            else:  # the choices as text, the buttons as letters: a long choice wraps without covering the next
                letters = LETTERS[:len(question.choices)]
                text += "<br>" + "<br>".join(f"{letter}) {_inline(tr(choice))}"
                                             for letter, choice in zip(letters, question.choices))
                control = W.RadioButtons(options=list(letters), value=None, description=tr("answer"),
                                         orientation="horizontal", layout=W.Layout(width="auto"))
            controls[question.key] = control
            boxes.append(W.VBox([W.HTML(text), control]))
        button = W.Button(description=tr("Check my answers"), button_style="primary",
                          layout=W.Layout(width="auto"))  # the label in full, in every language
        out = W.Output()

        def on_click(_):
            out.clear_output()
            with out:
                self.check({key: _typed(control.value) for key, control in controls.items()})

        button.on_click(on_click)
        display(W.VBox([*boxes, button, out]))


def _inline(text: str) -> str:
    """A question's light Markdown as HTML: `code`, **bold**, *italics*; everything else escaped."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"\*([^*]+)\*", r"<i>\1</i>", text)


def _typed(value):
    """A widget's value as an answer: '' → None, '0.25' → 0.25, a letter stays a letter."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value not in LETTERS:
        try:
            return float(value.replace(",", "."))  # "0,25" as many Spanish speakers write it
        except ValueError:
            return value
    return value


def quiz(lesson: int) -> Quiz:
    """The quiz of a lesson (`latentlab/quizzes/lessonNN.py`)."""
    try:
        module = importlib.import_module(f"latentlab.quizzes.lesson{int(lesson):02d}")
    except (ModuleNotFoundError, ValueError, TypeError):
        raise ValueError(tr("lesson {lesson!r} has no quiz").format(lesson=lesson)) from None
    return module.QUIZ


def check_quiz(lesson: int, answers) -> CheckResult:
    """Grade a student's answers to a lesson's quiz (prints ✅/❌ per question)."""
    return quiz(lesson).check(answers)
