"""Assignments with nbgrader: the course's lessons as autograded homework (`latentlab classroom …`).

    python -m latentlab.classroom init COURSE_DIR [--course-id ID] [--exchange DIR] [--lessons 3 5]
                                                  [--points 1] [--open-points 1] [--lang es] [--force]
    python -m latentlab.classroom release LESSON        [-C COURSE_DIR] [--no-exchange] [--force] [-q]
    python -m latentlab.classroom collect LESSON        [-C COURSE_DIR] [-q]
    python -m latentlab.classroom import-submissions LESSON FOLDER [-C COURSE_DIR]
    python -m latentlab.classroom autograde LESSON      [-C COURSE_DIR] [--student ID] [--force] [-q]
    python -m latentlab.classroom feedback LESSON       [-C COURSE_DIR] [--student ID] [--no-exchange] [-q]
    python -m latentlab.classroom grades --csv OUT      [-C COURSE_DIR] [--lesson LESSON]

(`latentlab classroom …` is the same command: the CLI forwards to `configure`/`run`.)

The package, one concern per module:

    course.py      the course model: the graded lessons, the nbgrader copy of a lesson source (an
                   autograder test after each answer cell, asserting the exercise's own checker; open
                   questions graded by hand), the course directory and its nbgrader_config.py
    commands.py    init, release, collect, import-submissions, autograde, feedback, grades: nbgrader's
                   own command line run in the course directory, and the grades CSV
    arguments.py   the command line: `configure`, `run`, `main`
"""

from .arguments import configure, main, run
from .commands import (
    CSV_FIELDS,
    autograde,
    cell_feedback,
    collect,
    feedback,
    grade_rows,
    import_submissions,
    init,
    nbgrader,
    release,
    submitted_students,
    totals,
    write_grades,
)
from .course import (
    CONFIG,
    CONFIG_TEMPLATE,
    COURSE_ID,
    OPEN_POINTS,
    POINTS,
    PROG,
    TEST_SUFFIX,
    TIMEOUT,
    ClassroomError,
    Exercise,
    assignment_id,
    autograder_cell,
    checker_call,
    course_directory,
    find_lesson,
    graded_lessons,
    nbgrader_notebook,
)

__all__ = [
    "CONFIG", "CONFIG_TEMPLATE", "COURSE_ID", "CSV_FIELDS", "OPEN_POINTS", "POINTS", "PROG", "TEST_SUFFIX", "TIMEOUT",
    "ClassroomError", "Exercise", "assignment_id", "autograde", "autograder_cell", "cell_feedback", "checker_call",
    "collect", "configure", "course_directory", "feedback", "find_lesson", "grade_rows", "graded_lessons",
    "import_submissions", "init", "main", "nbgrader", "nbgrader_notebook", "release", "run", "submitted_students",
    "totals", "write_grades",
]
