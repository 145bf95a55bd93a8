"""Atomic file writes: a crash, Ctrl-C or kill -9 mid-write never leaves half a file where a good one was.

Every writer in latentlab (checkpoints, run checkpoints, JSON results) goes through `atomic_write`:
the new content is written to a temporary file beside the target, flushed to disk, then renamed over
the target in one step (`os.replace` is atomic on POSIX and Windows).

The temporary file is named `.NAME.tmp-PID` (hidden, after its target, with the writer's process
id), so a file left behind by a killed writer is recognisable, and `clean_stale_temps` can tell
whether its writer is gone (remove it) or still running (leave it alone).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

TEMP_PATTERN = re.compile(r"^\.(?P<target>.+)\.tmp-(?P<pid>\d+)$")
# What latentlab <= 0.1 wrote (tempfile.mkstemp): 'NAME.<random>.tmp', no way to tell its writer.
_LEGACY_TEMP_PATTERN = re.compile(r"^(?P<target>.+\.safetensors)\.[A-Za-z0-9_]{8}\.tmp$")


def temp_path(path: str | Path) -> Path:
    """Where `atomic_write(path, ...)` writes before renaming: `.NAME.tmp-PID` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write(path: str | Path, write_fn: Callable[[Path], object]) -> Path:
    """Call `write_fn(tmp)` to write the whole file at a temporary path, then move it onto `path`.

    The folder must exist. On any error (or KeyboardInterrupt) the temporary file is removed and
    whatever was at `path` before is left untouched."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        write_fn(tmp)
        with open(tmp, "rb+") as f:  # the bytes must be on disk before the rename makes them "the file"
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically, e.g. a JSON result (see `atomic_write`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is someone else's
    except OSError:
        return False  # e.g. Windows, where os.kill(pid, 0) is not a probe: assume the writer is gone
    return True


def clean_stale_temps(folder: str | Path, targets: list[str] | None = None) -> list[Path]:
    """Remove the temporary files that killed writers left in `folder`; returns what was removed.

    targets: only temporaries of these file names (e.g. ['last.safetensors']); default: any.
    A `.NAME.tmp-PID` whose process is still running is another writer's work in progress: kept."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        match = TEMP_PATTERN.match(entry.name)
        stale = match is not None and not _alive(int(match["pid"]))
        if match is None:
            match = _LEGACY_TEMP_PATTERN.match(entry.name)
            stale = match is not None
        if stale and entry.is_file() and (targets is None or match["target"] in targets):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def check_writable(folder: str | Path) -> Path:
    """Create `folder` if needed and prove a file can be written in it (by writing and removing one).

    Permission bits alone do not tell (root ignores them; a full or read-only disk does not show
    in them), so this writes. Raises PermissionError naming the folder and what to do."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = temp_path(folder / "latentlab-write-check")  # named like a temporary: cleaned if we are killed here
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"cannot write in {folder} ({err.strerror or err}); "
                              "choose a folder you can write to, or fix its permissions") from err
    return folder


__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "check_writable", "clean_stale_temps",
           "temp_path"]
