"""The instructor guide (`docs/instructor/`), generated from what the course already holds, so it can
never disagree with the lessons: `latentlab lessons build` writes it with the notebooks and `--check`
fails when it is stale.

Per lesson (`docs/instructor/NN_slug.md`, and in Spanish `docs/instructor/es/NN_slug.md`):

* objectives and prerequisites (the manifest);
* time: compute time on a 2-core CPU measured by `latentlab lessons time` (`results/lesson-times.json`),
  GPU time where one was measured, and a time in class estimated by a stated rule;
* the misconceptions students bring, each with the place in the lesson that breaks it: every wrong
  choice of the lesson's quiz (`latentlab/quizzes/lessonNN.py`) is one, with its explanation;
* the exercises, with the mistakes each checker recognises by name;
* the answer key: every open question (Explore, Think, Things to try) with its answer from the
  lesson source's nbgrader answer cell, and the quiz's answers.

`docs/instructor/README.md` adds the course plans for 2 × 90 and 5 × 90 minutes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat

from .i18n import DEFAULT, LANGUAGES, N_, tr
from .lessons import LESSONS, NOTEBOOKS, SOURCES, Lesson

GUIDE = NOTEBOOKS.parent / "docs" / "instructor"
WORDS_PER_MINUTE = 120    # reading technical prose with formulas, a conservative rate
MINUTES_PER_EXERCISE = 10
MINUTES_PER_QUESTION = 5  # an open question discussed in class
MINUTES_FOR_QUIZ = 10
TITLE = N_("Instructor guide")


def _answer_cells(nb) -> list[tuple[str, str, str]]:
    """(grade_id, question, answer) for every open question: a markdown answer cell (nbgrader
    solution) and the markdown cell before it, which asks the question."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            question = next((c.source for c in reversed(nb.cells[:i]) if c.cell_type == "markdown"), "")
            out.append((meta.get("grade_id", f"cell{i}"), question, cell.source))
    return out


def _exercise_cells(nb) -> list[str]:
    return [c.metadata["nbgrader"].get("grade_id", "") for c in nb.cells
            if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def _words(nb) -> int:
    return sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")


def class_minutes(nb, compute_seconds: float | None, quiz_questions: int) -> int:
    """Time in class: reading at WORDS_PER_MINUTE + running the cells + each exercise + each open
    question + the quiz, rounded up to 5 minutes."""
    minutes = (_words(nb) / WORDS_PER_MINUTE + (compute_seconds or 0) / 60
               + MINUTES_PER_EXERCISE * len(_exercise_cells(nb)) + MINUTES_PER_QUESTION * len(_answer_cells(nb))
               + (MINUTES_FOR_QUIZ if quiz_questions else 0))
    return 5 * math.ceil(minutes / 5)


def _quiz(lesson: Lesson):
    from .quiz import quiz

    try:
        return quiz(lesson.number)
    except ValueError:
        return None


def _mistakes(lesson: Lesson) -> list[tuple[str, list[str]]]:
    module = lesson.checker_module()
    if module is None:
        return []
    out = []
    for checker, _reference, mistakes in getattr(module, "CHECKERS", []):
        out.append((checker.__name__, [m.name for m in mistakes]))
    return out


def lesson_page(lesson: Lesson, times: dict, lang: str = DEFAULT) -> str:
    """The guide's page of one lesson, in `lang`."""
    from .lessons.translate import catalogue_path, read_catalogue, translate_notebook

    def tl(message):  # tr in this page's language (a keyword of `latentlab translations extract`)
        return tr(message, lang)

    nb = nbformat.read(SOURCES / f"{lesson.stem}.ipynb", as_version=4)
    if lang != DEFAULT:
        po = catalogue_path(lesson, lang)
        nb = translate_notebook(nb, read_catalogue(po) if po.is_file() else None)
    mine = lesson.localized(lang)
    entry = times.get(f"{lesson.number:02d}") or {}
    measured = entry.get("seconds") if not entry.get("fast") else None
    the_quiz = _quiz(lesson)
    minutes = class_minutes(nb, measured, len(the_quiz.questions) if the_quiz else 0)
    folder = "notebooks" if lang == DEFAULT else f"notebooks/{lang}"
    up = "../../" if lang == DEFAULT else "../../../"
    lines = [f"# {lesson.number:02d} · {mine.title} — {tl(TITLE)}", "",
             tl("Student notebook: [{path}]({link}); solutions: [{solutions}]({solutions_link}).").format(
                 path=f"{folder}/{lesson.stem}.ipynb", link=f"{up}{folder}/{lesson.stem}.ipynb",
                 solutions=f"{folder}/solutions/{lesson.stem}_solutions.ipynb",
                 solutions_link=f"{up}{folder}/solutions/{lesson.stem}_solutions.ipynb"), "",
             "## " + tl("Learning objectives"), ""]
    lines += [f"* {o}" for o in mine.objectives] or ["* " + mine.learn]
    lines += ["", "**" + tl("Prerequisites.") + "** " + (mine.prerequisites or tl("none.")), "", "## " + tl("Time"), ""]
    compute = (tl("{seconds:.0f} s of computing on a {cores}-core CPU ({hardware}, {date}), measured by "
                 "`latentlab lessons time`").format(seconds=measured, cores=entry.get("cpu_cores", "?"),
                                                    hardware=entry.get("hardware", "?"), date=entry.get("date", "?"))
               if measured is not None else tl("not measured yet: run `latentlab lessons time`"))
    lines += [tl("* **Compute:** {compute}.").format(compute=compute),
              tl("* **GPU:** not measured (no GPU was available when the times were taken; every lesson runs on a CPU)."),
              tl("* **In class:** about {minutes} minutes: reading at {wpm} words a minute, running the cells, {ex} "
                "minutes per exercise, {q} per open question and {quiz} for the quiz.").format(
                  minutes=minutes, wpm=WORDS_PER_MINUTE, ex=MINUTES_PER_EXERCISE, q=MINUTES_PER_QUESTION,
                  quiz=MINUTES_FOR_QUIZ), ""]
    if the_quiz is not None:
        lines += ["## " + tl("Misconceptions students bring, and what breaks them"), "",
                  tl("Each wrong answer of the lesson's quiz is one; the explanation is what to say, the place is "
                    "where the lesson shows it."), ""]
        for question in the_quiz.questions:
            if question.numeric:
                continue
            for letter, text in zip("abcdefgh", question.choices):
                if letter != question.answer:
                    lines.append(tl("* «{belief}» ({key}) — {why} *Where:* {source}.").format(
                        belief=tr(text, lang), key=question.key, why=tr(question.why[letter], lang),
                        source=question.source))
        lines.append("")
    mistakes = _mistakes(lesson)
    if mistakes:
        lines += ["## " + tl("Exercises and the mistakes their checkers recognise"), ""]
        for name, named in mistakes:
            listed = "; ".join(tr(m, lang) for m in named) or tl("(none named: the checker reports how far off)")
            lines.append(f"* `{name}`: {listed}")
        lines.append("")
    answers = _answer_cells(nb)
    lines += ["## " + tl("Answer key: open questions"), ""]
    if not answers:
        lines += [tl("This lesson has no open questions."), ""]
    for grade_id, question, answer in answers:
        lines += [f"### `{grade_id}`", "", _quote(question), "", answer, ""]
    if the_quiz is not None:
        lines += ["## " + tl("Answer key: quiz"), ""]
        for question in the_quiz.questions:
            right = (f"{question.answer}) {tr(question.choices['abcdefgh'.index(question.answer)], lang)}"
                     if not question.numeric else f"{question.answer:g}")
            explain = f" — {tr(question.why[''], lang)}" if question.numeric else ""
            lines.append(f"* **{question.key}** {tr(question.text, lang)} → **{right}**{explain}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def plans_page(times: dict, lang: str = DEFAULT) -> str:
    """docs/instructor/README.md: the lessons with their times, and two course plans."""
    def tl(message):  # tr in this page's language (a keyword of `latentlab translations extract`)
        return tr(message, lang)

    rows, total = [], 0
    for lesson in LESSONS:
        nb = nbformat.read(SOURCES / f"{lesson.stem}.ipynb", as_version=4)
        entry = times.get(f"{lesson.number:02d}") or {}
        the_quiz = _quiz(lesson)
        minutes = class_minutes(nb, entry.get("seconds") if not entry.get("fast") else None,
                                len(the_quiz.questions) if the_quiz else 0)
        total += minutes
        rows.append((lesson, minutes))
    lines = [f"# latentlab — {tl(TITLE)}", "",
             tl("Generated by `latentlab lessons build` from the lessons, their quizzes and checkers, and the measured "
               "lesson times; edit those, never these pages."), "",
             "| # | " + tl("lesson") + " | " + tl("in class (min)") + " | " + tl("guide") + " |", "|---|---|---|---|"]
    for lesson, minutes in rows:
        lines.append(f"| {lesson.number:02d} | {lesson.localized(lang).title} | {minutes} | "
                     f"[{lesson.stem}.md]({lesson.stem}.md) |")
    lines += ["", tl("All lessons: about {minutes} minutes in class.").format(minutes=total), "",
              "## " + tl("A 5 × 90 minute course"), ""]
    lines += _plan(rows, 5, lang)
    lines += ["", "## " + tl("A 2 × 90 minute course"), "",
              tl("Two sessions cannot hold every lesson: keep the spine in class (what a latent is, noise, the whole "
                "pipeline), have students run lesson 00 before the first session, and set the rest as homework with "
                "its checkers and quiz."), ""]
    lines += _plan(rows, 2, lang)
    lines += ["", "## " + tl("Running it"), "",
              tl("Serving the course to a class and grading the exercises: see the README's *For teachers* section.")]
    return "\n".join(lines).rstrip() + "\n"


# Which lessons a short course keeps in class (the rest is homework, in order): the spine of what a latent
# is, noise, and the whole pipeline; lesson 00 is done before the first session.
CORE = {2: (1, 3, 6), 5: (0, 1, 2, 3, 4, 5, 6)}


def _plan(rows, sessions: int, lang: str) -> list[str]:
    """The core lessons packed in order into `sessions` sessions of 90 minutes; a lesson that does not
    fit in what is left of a session continues in the next; what is left over is homework."""
    def tl(message):  # tr in this page's language (a keyword of `latentlab translations extract`)
        return tr(message, lang)

    budget, session, used = 90, 1, 0
    plan: dict[int, list[str]] = {}
    core = CORE.get(sessions, tuple(lesson.number for lesson, _ in rows))
    homework = [lesson for lesson, _ in rows if lesson.number not in core]
    for lesson, minutes in rows:
        if lesson.number not in core:
            continue
        left, parts = minutes, 0
        while left > 0 and session <= sessions:
            take = min(left, budget - used)
            if take < min(left, 15):  # too little time left for a useful part: next session
                session, used = session + 1, 0
                continue
            parts += 1
            label = lesson.localized(lang).title
            whole = take == minutes
            plan.setdefault(session, []).append(
                f"{lesson.number:02d} {label} ({take} min)" if whole else
                tl("{number} {title} (part {part}, {minutes} min)").format(
                    number=f"{lesson.number:02d}", title=label, part=parts, minutes=take))
            left -= take
            used += take
            if used >= budget:
                session, used = session + 1, 0
        if left > 0:
            homework.append(lesson)
    out = [tl("* **Session {n}:** {lessons}").format(n=number, lessons=", ".join(plan.get(number, [])) or "—")
           for number in range(1, sessions + 1)]
    if homework:
        homework.sort(key=lambda x: x.number)
        out.append(tl("* **Homework** (notebook, checkers and quiz, discussed at the start of the next session): "
                     "{lessons}").format(lessons=", ".join(f"{x.number:02d} {x.localized(lang).title}" for x in homework)))
    return out


def pages(times: dict) -> dict[Path, str]:
    """Every guide page, in every language: {path: text}."""
    out = {}
    for lang in LANGUAGES:
        folder = GUIDE if lang == DEFAULT else GUIDE / lang
        out[folder / "README.md"] = plans_page(times, lang)
        for lesson in LESSONS:
            out[folder / f"{lesson.stem}.md"] = lesson_page(lesson, times, lang)
    return out


def open_question_labels(text: str) -> bool:
    """A markdown cell that asks an open question (the test checks each has an answer cell)."""
    return bool(re.search(r"\*\*(?:\d+\.\s*)?\(?(Explore|Think about it|Things to try)", text))
