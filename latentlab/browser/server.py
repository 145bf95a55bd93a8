"""The JupyterLab that the browser drives: a throw-away server on 127.0.0.1 (a free port, a random
token, settings and checkpoints in a temporary folder, the notebooks never written), and the CPU
time its processes use, read from /proc.

    LabServer(root)        JupyterLab serving `root`; kernels get LATENTLAB_FAST=1 and OMP_NUM_THREADS=1;
                           `with` starts it and, at the end, stops it and its kernels
    cpu_seconds()          CPU seconds of this process and every descendant (server, kernels, browser)
    cpu_seconds(kernel_id=…)   the same for one notebook's kernel
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]   # the repository: latentlab/browser/server.py → ../../
NOTEBOOKS = ROOT / "notebooks"

# Settings of the throw-away JupyterLab: every cell kept in the page (windowing off: the driver looks
# for widgets in cells out of view), nothing saved behind the driver's back, no news fetched.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
}


# --- /proc: processes and their CPU time -------------------------------------------------------------------


def _processes(with_cmdline: bool = False) -> dict[int, tuple[int, int, bytes]]:
    """{pid: (parent pid, CPU ticks, command line)} of every live process, read from /proc (Linux; {}
    elsewhere). The ticks are utime + stime + cutime + cstime: the process's own CPU time and that of
    the children it has already reaped. The command line is read only when asked for (b"" otherwise)."""
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return {}
    table = {}
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                # the command name (in parentheses) may hold spaces: the fields proper start after its ')'
                fields = handle.read().rsplit(b")", 1)[1].split()
            cmdline = b""
            if with_cmdline:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    cmdline = handle.read()
        except OSError:  # the process ended while we read
            continue
        table[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]), cmdline)
    return table


def _descendants(table: dict[int, tuple[int, int, bytes]], root: int) -> list[int]:
    """The pids of the live descendants of `root` in a `_processes()` table."""
    found, todo = [], [root]
    while todo:
        here = todo.pop()
        children = [pid for pid, (parent, _, _) in table.items() if parent == here]
        found += children
        todo += children
    return found


def cpu_seconds(root: int | None = None, *, kernel_id: str | None = None) -> float:
    """CPU seconds (user + system) used so far by a process and every live descendant, with the
    children each has already reaped. The process is `root` (this one by default: then the server,
    its kernels and the browser are included) or, given `kernel_id`, the Jupyter kernel whose command
    line names that kernel's connection file (`kernel-<id>.json`).

    Linux only (reads /proc); 0.0 elsewhere, and 0.0 for an empty or unknown `kernel_id`. Unlike wall
    time, it hardly depends on what else the machine is doing."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    if kernel_id is not None:
        if not kernel_id:
            return 0.0
        table = _processes(with_cmdline=True)
        needle = f"kernel-{kernel_id}".encode()
        root = next((pid for pid, (_, _, cmdline) in table.items() if needle in cmdline), None)
        if root is None:
            return 0.0
    else:
        table = _processes()
        root = os.getpid() if root is None else root
    pids = [root] + _descendants(table, root)
    return sum(table[pid][1] for pid in pids if pid in table) / tick



# --- the server ----------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """JupyterLab serving `root` on 127.0.0.1 for a browser to drive; a context manager.

    The notebooks are never written: saving is refused (ReadOnlyContentsManager) and checkpoints go to
    a temporary folder, as do the settings, workspaces and runtime files. Kernels inherit the
    environment with LATENTLAB_FAST=1 and OMP_NUM_THREADS=1 (and MPLBACKEND unset: figures inline,
    as a student sees them)."""

    def __init__(self, root: str | Path = NOTEBOOKS, env: dict | None = None, startup_timeout: float = 180.0):
        self.root = Path(root).resolve()
        self.token = secrets.token_hex(24)
        self.port = 0
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self) -> str:
        return f"{self.url}/lab?reset&token={self.token}"

    def start(self) -> LabServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="latentlab-browser-")
        tmp = Path(self._tmp.name)
        for relative, values in LAB_SETTINGS.items():
            path = tmp / "settings" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        for name in ("workspaces", "checkpoints", "runtime", "config"):
            (tmp / name).mkdir(exist_ok=True)
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)
        env.update({"LATENTLAB_FAST": "1", "OMP_NUM_THREADS": "1", "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
                    "JUPYTER_CONFIG_DIR": str(tmp / "config"), "PYTHONUNBUFFERED": "1"})
        env.update(self.extra_env)
        self.log_path = tmp / "jupyterlab.log"
        for attempt in range(3):  # a free port can be taken between the probe and the bind: try another
            self.port = _free_port()
            command = [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                f"--LabApp.user_settings_dir={tmp / 'settings'}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
                "--ServerApp.contents_manager_class=latentlab.browser.server.ReadOnlyContentsManager",
                f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",
                "--ServerApp.terminals_enabled=False", "--MappingKernelManager.cull_idle_timeout=0",
            ]
            with open(self.log_path, "ab") as log:  # the server keeps its own copy of the descriptor
                self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True)
            if self._wait_ready():
                return self
            self._kill()
            if attempt == 2 or "address already in use" not in self.log_tail().lower():
                break
        raise RuntimeError(f"JupyterLab did not start within {self.startup_timeout:.0f} s; its log:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                self.api("GET", "/api/status", timeout=5)
                return True
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        return False

    def api(self, method: str, path: str, timeout: float = 10.0):
        """One REST call to the server (token in the header) → the decoded JSON, or None."""
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except (OSError, AttributeError):
            return ""

    def stop(self) -> None:
        """Shut every kernel down, then the server; kill what is left of its process group."""
        if self.process is not None and self.process.poll() is None:
            try:
                for kernel in self.api("GET", "/api/kernels") or []:
                    self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=20)
                self.api("POST", "/api/shutdown", timeout=10)
            except (OSError, urllib.error.URLError, ValueError):
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            self._kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _kill(self) -> None:
        """End the server and what it started, by their ids: its process group (SIGTERM, then SIGKILL
        after 10 s), then any of its descendants left in groups of their own (kernels)."""
        if self.process is None:
            return
        left = _descendants(_processes(), self.process.pid)
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
            pass
        for kill, target in [(os.killpg, self.process.pid)] + [(os.kill, pid) for pid in left]:
            try:
                kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_only_manager():
    from jupyter_server.services.contents.largefilemanager import LargeFileManager
    from tornado import web

    class ReadOnlyContentsManager(LargeFileManager):
        """Serves the notebooks but refuses to write them: a driven notebook (outputs and all) is never saved."""

        def save(self, model, path=""):
            raise web.HTTPError(403, "latentlab.browser: this server never writes the course's files")

        def rename_file(self, old_path, new_path):
            raise web.HTTPError(403, "latentlab.browser: this server never writes the course's files")

        def delete_file(self, path):
            raise web.HTTPError(403, "latentlab.browser: this server never writes the course's files")

    return ReadOnlyContentsManager


def __getattr__(name: str):
    # Imported by the JupyterLab server (--ServerApp.contents_manager_class); built on first use so that
    # importing this module does not import jupyter_server.
    if name == "ReadOnlyContentsManager":
        return _read_only_manager()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
