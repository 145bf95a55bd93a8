"""The classroom's command line: `configure` adds its sub-commands to a parser (its own, or
`latentlab classroom`'s in latentlab/cli.py), `run` runs the parsed command and prints one clear
message on a ClassroomError, `main` is `python -m latentlab.classroom`.

(Not named cli.py: latentlab.translations files the `tr()` messages of every cli.py in the `cli`
catalogue, and these help texts live in the `latentlab` one.)
"""

from __future__ import annotations

import argparse
import sys

from .commands import autograde, collect, feedback, import_submissions, init, release, write_grades
from .course import (
    CONFIG,
    COURSE_ID,
    OPEN_POINTS,
    POINTS,
    PROG,
    TIMEOUT,
    ClassroomError,
    assignment_id,
    find_lesson,
)


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the classroom sub-commands to `parser` (its own, or `latentlab classroom`'s); help in the
    learner's language (`tr`), like the rest of the command line."""
    from ..i18n import tr

    course = argparse.ArgumentParser(add_help=False)
    course.add_argument("-C", "--course-dir", default=".", help=tr("the course directory (default: the current folder)"))
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", help=tr("do not show nbgrader's log"))
    sub = parser.add_subparsers(dest="classroom_command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help=tr("create an nbgrader course directory from the lesson sources"))
    p.add_argument("course_dir", metavar="COURSE_DIR")
    p.add_argument("--course-id", default=COURSE_ID, help=tr("nbgrader's course id (default {value})").format(value=COURSE_ID))
    p.add_argument("--exchange", help=tr("the exchange folder shared with the students (default COURSE_DIR/exchange)"))
    p.add_argument("--lessons", nargs="+", metavar="LESSON", help=tr("only these lessons (default: every lesson with exercises)"))
    p.add_argument("--points", type=float, default=POINTS, help=tr("points per exercise (default {value})").format(value=f"{POINTS:g}"))
    p.add_argument("--open-points", type=float, default=OPEN_POINTS,
                   help=tr("points per open question, graded by hand (default {value}; 0: feedback only)").format(
                       value=f"{OPEN_POINTS:g}"))
    p.add_argument("--lang", default="en", help=tr("the lessons' language: en (default) or es"))
    p.add_argument("--timeout", type=int, default=TIMEOUT, help=tr("seconds a cell may run when autograding (default {value})").format(value=TIMEOUT))
    p.add_argument("--force", action="store_true", help=tr("rewrite an existing course's config and sources"))

    p = sub.add_parser("release", parents=[course, quiet], help=tr("generate a lesson's student version and release it"))
    p.add_argument("lesson", metavar="LESSON", help=tr("3, 03, lesson03 or adding_noise"))
    p.add_argument("--no-exchange", action="store_true", help=tr("only write release/lessonNN/ (to hand out yourself)"))
    p.add_argument("--force", action="store_true", help=tr("release again over an earlier release in the exchange"))

    p = sub.add_parser("collect", parents=[course, quiet], help=tr("collect the submissions from the exchange"))
    p.add_argument("lesson", metavar="LESSON")

    p = sub.add_parser("import-submissions", parents=[course],
                       help=tr("import a folder of student notebooks named by student id (alice.ipynb, …)"))
    p.add_argument("lesson", metavar="LESSON")
    p.add_argument("folder", metavar="FOLDER")

    p = sub.add_parser("autograde", parents=[course, quiet], help=tr("run and score the submissions of a lesson"))
    p.add_argument("lesson", metavar="LESSON")
    p.add_argument("--student", help=tr("only this student"))
    p.add_argument("--force", action="store_true", help=tr("grade again even submissions already graded"))

    p = sub.add_parser("feedback", parents=[course, quiet], help=tr("write (and release) the students' HTML feedback"))
    p.add_argument("lesson", metavar="LESSON")
    p.add_argument("--student", help=tr("only this student"))
    p.add_argument("--no-exchange", action="store_true", help=tr("only write feedback/ (to hand out yourself)"))

    p = sub.add_parser("grades", parents=[course], help=tr("write the grades: one CSV row per student and exercise"))
    p.add_argument("--csv", required=True, metavar="OUT", help=tr("the CSV file to write ('-' for stdout)"))
    p.add_argument("--lesson", help=tr("only this lesson"))
    return parser


def run(args) -> int:
    """Run a parsed classroom command; errors are printed as one clear message (exit 1)."""
    command = args.classroom_command
    try:
        if command == "init":
            lessons = [find_lesson(name) for name in args.lessons] if args.lessons else None
            result = init(args.course_dir, course_id=args.course_id, exchange=args.exchange, lessons=lessons,
                          points=args.points, open_points=args.open_points, lang=args.lang, timeout=args.timeout,
                          force=args.force)
            print(f"course directory {result['config'].parent} (config {CONFIG}):")
            for path, (name, exercises) in zip(result["notebooks"], result["exercises"].items()):
                auto = [e for e in exercises if e.kind == "auto"]
                manual = [e for e in exercises if e.kind == "manual"]
                line = (f"  {name}: {path.relative_to(result['config'].parent)}: {len(auto)} exercise(s), "
                        f"{sum(e.points for e in auto):g} point(s) autograded")
                if manual:
                    line += (f"; {len(manual)} open question(s), {sum(e.points for e in manual):g} point(s) graded "
                             "by hand")
                print(line)
            print(f"next: {PROG} release LESSON -C {args.course_dir}")
        elif command == "release":
            folder = release(args.course_dir, args.lesson, exchange=not args.no_exchange, force=args.force,
                             quiet=args.quiet)
            print(f"released {folder.name}: {folder}" + ("" if args.no_exchange else " (and to the exchange)"))
        elif command == "collect":
            students = collect(args.course_dir, args.lesson, quiet=args.quiet)
            print(f"{len(students)} submission(s): {', '.join(students) or 'none yet'}")
        elif command == "import-submissions":
            students = import_submissions(args.course_dir, args.lesson, args.folder)
            print(f"imported {len(students)} submission(s): {', '.join(students)}")
        elif command == "autograde":
            for row in autograde(args.course_dir, args.lesson, student=args.student, force=args.force,
                                 quiet=args.quiet):
                print(f"{row['student_id']}: {row['score']:g} / {row['max_score']:g}")
        elif command == "feedback":
            result = feedback(args.course_dir, args.lesson, student=args.student, exchange=not args.no_exchange,
                              quiet=args.quiet)
            print(f"feedback written to {result['folder']}/<student>/{assignment_id(find_lesson(args.lesson))}/")
            if result["released"]:
                print(f"  released to the exchange (nbgrader fetch_feedback): {', '.join(result['released'])}")
            if result["hand_out"]:
                print(f"  to hand out yourself (not submitted through the exchange): {', '.join(result['hand_out'])}")
        elif command == "grades":
            rows = write_grades(args.course_dir, args.csv, args.lesson)
            if args.csv != "-":
                print(f"{len(rows)} row(s) written to {args.csv}")
    except ClassroomError as err:
        print(f"{PROG} {command}: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = configure(argparse.ArgumentParser(prog=PROG,
                                                description="Lessons as nbgrader assignments, autograded by their "
                                                            "checkers."))
    return run(parser.parse_args(argv))
