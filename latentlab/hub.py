"""Serving the course to a class from one JupyterHub (`deploy/jupyterhub/`, `deploy/zero-to-jupyterhub/`).

Three small jobs, run from the command line (`python -m latentlab.hub …`), standard library only (the
hub imports nothing heavy, and no torch):

    python -m latentlab.hub start [--address-space 4G] -- jupyterhub-singleuser …
        what a student's server is started with: caps the address space of the server and of every
        kernel it starts (RLIMIT_AS, per process), copies the course's notebooks into the student's
        home unless they are already there, then replaces itself with the command after `--`
        (same process id, so the hub's spawner tracks it as usual).
    python -m latentlab.hub copy --home DIR
        the same copy, by hand (e.g. to give a student back a lesson they deleted).
    python -m latentlab.hub add-students ROSTER [--passwords FILE | --no-passwords] [--dry-run]
        one Linux account per name of the roster (as root), for the hub's local-process spawner.

The copy runs inside the student's server, as the student: the hub (root) never writes into a home
that a student controls, so a symbolic link planted there cannot make root write elsewhere.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

# The clone the course is installed from (editable install: `pip install -e .`), which holds notebooks/ and docs/.
COURSE = Path(__file__).resolve().parent.parent
FOLDER = "latentlab"  # the folder each student gets in their home: ~/latentlab/notebooks, ~/latentlab/docs
# The pages the notebooks link to (`../docs/notation.md`, `../../docs/notacion.md`, `../../docs/glosario.md`).
DOCS = ("notation.md", "notacion.md", "glosario.md")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")
# A Linux user name useradd accepts on every distribution (JupyterHub lower-cases names already).
USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_bytes(text: str | int) -> int:
    """'4G' → 4294967296, as JupyterHub reads `mem_limit` (K, M, G, T are powers of 1024); an int is bytes."""
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", str(text), re.IGNORECASE)
        if not match:
            raise ValueError(f"{text!r} is not a size; expected e.g. 4G, 512M or a number of bytes")
        value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return value


def thread_environment(threads: int) -> dict[str, str]:
    """The variables that size the thread pools of torch (OpenMP), MKL, OpenBLAS and numexpr."""
    if int(threads) < 1:
        raise ValueError(f"threads must be at least 1, got {threads!r}")
    return {name: str(int(threads)) for name in THREAD_VARIABLES}


def limit_address_space(limit: int) -> None:
    """Caps this process's address space (and its children's, which inherit it) at `limit` bytes.
    An allocation beyond it fails with a MemoryError / torch 'can't allocate memory' in that kernel,
    instead of the whole machine swapping or the kernel's out-of-memory killer picking a victim."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and limit > hard:
        limit = hard  # an unprivileged process cannot raise its hard limit; keep the lower one
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _course_files(course: Path, solutions: bool) -> list[tuple[Path, Path]]:
    """(source, path relative to the student's folder) of every file a student gets."""
    files = []
    notebooks = course / "notebooks"
    for path in sorted(notebooks.rglob("*.ipynb")):
        relative = path.relative_to(notebooks)
        if ".ipynb_checkpoints" in relative.parts or (not solutions and "solutions" in relative.parts):
            continue
        files.append((path, Path("notebooks") / relative))
    for name in DOCS:
        if (course / "docs" / name).is_file():
            files.append((course / "docs" / name, Path("docs") / name))
    return files


def copy_course(home: str | Path, *, course: str | Path = COURSE, folder: str = FOLDER,
                solutions: bool = True) -> list[Path]:
    """Copies the course's notebooks (every language, and the solutions unless `solutions=False`) and the
    pages they link to into `home/folder`, keeping the layout (`notebooks/es/…` stays Spanish by folder).
    A file that is already there is never touched: a student's work is never overwritten, and a lesson
    added to the course later is copied at the next start. Returns the files written.
    Meant to run as the student (see the module's docstring): it does not follow symbolic links it finds."""
    home, course = Path(home), Path(course)
    if not (course / "notebooks").is_dir():
        raise FileNotFoundError(f"{course / 'notebooks'} does not exist: install latentlab from a clone of the course "
                                "(`pip install -e .`), so the notebooks are next to the package")
    target = home / folder
    written = []
    for source, relative in _course_files(course, solutions):
        destination = target / relative
        if os.path.lexists(destination):
            continue
        if any(p.is_symlink() for p in [target, *(target / q for q in relative.parents if str(q) != ".")]):
            continue  # the student made this a link: theirs to keep
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination, follow_symlinks=True)
        written.append(destination)
    return written


def lab_language_settings(home: str | Path, lang: str) -> Path | None:
    """Selects `lang` for JupyterLab's own menus in the student's settings, when its language pack is
    installed and the student has not chosen a language yet. Returns the file written, or None."""
    if not lang or lang == "en":
        return None
    pack = f"jupyterlab_language_pack_{lang}_{lang.upper()}"
    if importlib.util.find_spec(pack) is None:
        return None
    path = (Path(home) / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "translation-extension"
            / "plugin.jupyterlab-settings")
    if os.path.lexists(path):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"locale": f"{lang}_{lang.upper()}"}), encoding="utf-8")
    return path


def nbgrader_config(exchange: str | Path, course_id: str) -> str:
    """The nbgrader_config.py every student's server reads (through JUPYTER_CONFIG_PATH): where the
    exchange directory is, and the course's id."""
    return ("# Written by the course's jupyterhub_config.py: nbgrader's exchange directory for this hub.\n"
            "c = get_config()  # noqa: F821\n"
            f"c.Exchange.root = {str(exchange)!r}\n"
            f"c.CourseDirectory.course_id = {course_id!r}\n")


def read_roster(path: str | Path) -> list[str]:
    """The user names of a roster: one a line; blank lines, `#` comments and a trailing `,…` (a CSV
    with more columns) ignored; names lower-cased, as JupyterHub does. A name Linux would refuse is an error."""
    names = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        name = line.split("#", 1)[0].split(",", 1)[0].strip().lower()
        if not name:
            continue
        if not USERNAME.match(name):
            raise ValueError(f"{path}, line {number}: {name!r} is not a valid Linux user name "
                             "(a–z, 0–9, _ and -, starting with a letter or _, at most 32 characters)")
        if name not in names:
            names.append(name)
    return names


def add_students(roster: str | Path, *, passwords: str | Path | None, dry_run: bool = False,
                 shell: str = "/bin/bash") -> list[list[str]]:
    """One Linux account per roster name that has none yet (home 0700, so students cannot read each
    other's work). With `passwords`, each new account gets a random password, written to that CSV
    (mode 0600) for the teacher to hand out; without, the accounts have no password (shared-password
    hub: the hub checks the password, Linux needs only the account). Returns the commands run."""
    import pwd

    commands, rows = [], []
    for name in read_roster(roster):
        try:
            pwd.getpwnam(name)
            continue  # already there: never touched
        except KeyError:
            pass
        commands.append(["useradd", "--create-home", "--shell", shell, name])
        commands.append(["chmod", "700", f"~{name}"])
        if passwords is not None:
            rows.append([name, secrets.token_urlsafe(9)])
    if dry_run:
        for command in commands:
            print(" ".join(command))
        return commands
    if os.geteuid() != 0:
        raise PermissionError("add-students creates Linux accounts: run it as root")
    for command in commands:
        if command[0] == "chmod":
            os.chmod(os.path.expanduser(command[2]), 0o700)
        else:
            subprocess.run(command, check=True)
    if rows:
        subprocess.run(["chpasswd"], input="".join(f"{n}:{p}\n" for n, p in rows), text=True, check=True)
        path = Path(passwords)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    return commands


def start(argv: list[str]) -> int:
    """`python -m latentlab.hub start [options] -- COMMAND…`: limits, copy, then exec COMMAND."""
    parser = argparse.ArgumentParser(prog="python -m latentlab.hub start")
    parser.add_argument("--address-space", help="cap each process's address space, e.g. 4G (RLIMIT_AS)")
    parser.add_argument("--folder", default=FOLDER, help="the course's folder in the home (default latentlab)")
    parser.add_argument("--no-solutions", action="store_true", help="do not copy notebooks/solutions")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the server's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the server's command after --")
    if args.address_space:
        limit_address_space(parse_bytes(args.address_space))
    home = Path(os.environ.get("HOME") or Path.home())
    try:
        written = copy_course(home, folder=args.folder, solutions=not args.no_solutions)
        if written:
            print(f"latentlab: copied {len(written)} course file(s) into {home / args.folder}", file=sys.stderr)
        lab_language_settings(home, os.environ.get("LATENTLAB_LANG", ""))
    except OSError as err:  # a full or read-only home must not stop the server: the student can still work
        print(f"latentlab: could not copy the course into {home}: {err}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(command[0], command)
    return 127  # pragma: no cover - execvp does not return


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["start"]:
        return start(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m latentlab.hub", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("start", help="start a student's server: limits, copy the course, then the command after --")
    copy = sub.add_parser("copy", help="copy the course's notebooks into a home (files already there are kept)")
    copy.add_argument("--home", default=str(Path.home()))
    copy.add_argument("--folder", default=FOLDER)
    copy.add_argument("--no-solutions", action="store_true")
    add = sub.add_parser("add-students", help="one Linux account per roster name (run as root)")
    add.add_argument("roster", help="a text file: one user name a line")
    how = add.add_mutually_exclusive_group(required=True)
    how.add_argument("--passwords", help="give each new account a random password, appended to this CSV (0600)")
    how.add_argument("--no-passwords", action="store_true", help="accounts without a password (shared-password hub)")
    add.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    args = parser.parse_args(argv)
    try:
        if args.what == "copy":
            written = copy_course(args.home, folder=args.folder, solutions=not args.no_solutions)
            print(f"copied {len(written)} file(s) into {Path(args.home) / args.folder}")
        else:
            commands = add_students(args.roster, passwords=None if args.no_passwords else args.passwords,
                                    dry_run=args.dry_run)
            if not args.dry_run:
                print(f"created {sum(c[0] == 'useradd' for c in commands)} account(s)"
                      + (f"; passwords in {args.passwords}" if args.passwords else ""))
    except (OSError, ValueError, subprocess.CalledProcessError) as err:
        print(f"python -m latentlab.hub {args.what}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
