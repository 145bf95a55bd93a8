"""The class server: deploy/jupyterhub/ (one Linux server) and deploy/zero-to-jupyterhub/ (Kubernetes).

The main test starts a real JupyterHub on 127.0.0.1 (free ports, its state in a temporary folder) with
the course's own jupyterhub_config.py, loaded by a small test overlay that swaps only what a test cannot
use: the authenticator (DummyAuthenticator instead of Linux passwords), the spawner
(SimpleLocalProcessSpawner, homes in the temporary folder, instead of one Linux account per student:
the test does not create accounts on this machine) and an admin API token. Through the hub's REST API it
creates three students, gives each a token, starts their servers and, in each server, runs lesson 00's
cells in a kernel over the server's REST + websocket kernel API (one student in Spanish). Then it stops
everything and checks that no process it started is left. It skips, saying why, without node,
configurable-http-proxy or jupyterhub.

The other tests are quick: the helpers of latentlab/hub.py, the config's settings, and the Kubernetes
values file and Dockerfile.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from latentlab import hub

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "jupyterhub"
CONFIG = DEPLOY / "jupyterhub_config.py"
K8S = ROOT / "deploy" / "zero-to-jupyterhub"
VENV_BIN = Path(sys.executable).parent
STUDENTS = {"alice": "00_welcome.ipynb", "bob": "es/00_welcome.ipynb", "carol": "00_welcome.ipynb"}
ADDRESS_SPACE = "4G"


# --- latentlab/hub.py ------------------------------------------------------------------------------------

def test_parse_bytes_reads_sizes_as_jupyterhub_does():
    assert hub.parse_bytes("4G") == 4 * 1024 ** 3
    assert hub.parse_bytes("512M") == 512 * 1024 ** 2
    assert hub.parse_bytes("1.5G") == int(1.5 * 1024 ** 3)
    assert hub.parse_bytes(1000) == 1000
    for bad in ("", "4X", "-1G", "0", "G"):
        with pytest.raises(ValueError):
            hub.parse_bytes(bad)


def test_thread_environment_sets_every_pool():
    env = hub.thread_environment(1)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    with pytest.raises(ValueError):
        hub.thread_environment(0)


def test_copy_course_copies_both_languages_once_and_never_overwrites(tmp_path):
    written = hub.copy_course(tmp_path)
    mine = tmp_path / "latentlab"
    for relative in ("notebooks/00_welcome.ipynb", "notebooks/es/00_welcome.ipynb",
                     "notebooks/solutions/03_adding_noise_solutions.ipynb",
                     "notebooks/es/solutions/03_adding_noise_solutions.ipynb",
                     "docs/notation.md", "docs/notacion.md", "docs/glosario.md"):
        assert (mine / relative).is_file(), relative
    assert len(written) == len(list(mine.rglob("*.*")))
    # every relative link of every copied notebook (lessons, notation pages, glossary) resolves in the copy
    import nbformat

    broken = [f"{path.relative_to(mine)}: {link}" for path in mine.rglob("*.ipynb")
              for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"
              for link in re.findall(r"\]\(([^)\s]+)\)", cell.source)
              if not link.startswith(("http:", "https:", "#", "mailto:"))
              and not (path.parent / link.split("#")[0]).exists()]
    assert broken == []
    # a student's work is kept; a deleted lesson comes back at the next start
    (mine / "notebooks" / "00_welcome.ipynb").write_text("my work", encoding="utf-8")
    (mine / "notebooks" / "03_adding_noise.ipynb").unlink()
    again = hub.copy_course(tmp_path)
    assert again == [mine / "notebooks" / "03_adding_noise.ipynb"]
    assert (mine / "notebooks" / "00_welcome.ipynb").read_text(encoding="utf-8") == "my work"


def test_copy_course_can_withhold_solutions_and_does_not_follow_a_students_links(tmp_path):
    hub.copy_course(tmp_path / "a", solutions=False)
    assert not list((tmp_path / "a").rglob("*solutions*"))
    assert (tmp_path / "a" / "latentlab" / "notebooks" / "es" / "00_welcome.ipynb").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "b" / "latentlab").mkdir(parents=True)
    (tmp_path / "b" / "latentlab" / "notebooks").symlink_to(elsewhere)
    hub.copy_course(tmp_path / "b")
    assert not list(elsewhere.iterdir())
    assert (tmp_path / "b" / "latentlab" / "docs" / "notation.md").is_file()


def test_copy_course_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebooks"):
        hub.copy_course(tmp_path, course=tmp_path / "not-a-clone")


def test_lab_language_settings_only_for_an_installed_pack(tmp_path):
    assert hub.lab_language_settings(tmp_path, "en") is None
    assert hub.lab_language_settings(tmp_path, "") is None
    path = hub.lab_language_settings(tmp_path, "es")
    import importlib.util
    if importlib.util.find_spec("jupyterlab_language_pack_es_ES") is None:
        assert path is None
    else:
        assert json.loads(path.read_text(encoding="utf-8")) == {"locale": "es_ES"}
        path.write_text('{"locale": "en"}', encoding="utf-8")
        assert hub.lab_language_settings(tmp_path, "es") is None  # the student's own choice stays
        assert "en" in path.read_text(encoding="utf-8")


def test_roster_and_add_students_dry_run(tmp_path, capsys):
    roster = tmp_path / "students.txt"
    roster.write_text("# class of 2027\nAna_G\nbeto, Beto Pérez\n\nana_g\nzz-latentlab-test-no-such-user\n",
                      encoding="utf-8")
    assert hub.read_roster(roster) == ["ana_g", "beto", "zz-latentlab-test-no-such-user"]
    commands = hub.add_students(roster, passwords=tmp_path / "p.csv", dry_run=True)
    assert ["useradd", "--create-home", "--shell", "/bin/bash", "beto"] in commands
    assert "useradd --create-home --shell /bin/bash ana_g" in capsys.readouterr().out
    assert not (tmp_path / "p.csv").exists()
    roster.write_text("ok\n1bad name\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        hub.read_roster(roster)


def test_nbgrader_config_is_python_that_sets_the_exchange():
    from traitlets.config import Config

    c = Config()
    exec(compile(hub.nbgrader_config("/srv/nbgrader/exchange", "latentlab"), "nbgrader_config.py", "exec"),
         {"get_config": lambda: c})
    assert c.Exchange.root == "/srv/nbgrader/exchange"
    assert c.CourseDirectory.course_id == "latentlab"


def test_start_limits_copies_and_execs(tmp_path):
    """`python -m latentlab.hub start` as a student's server would run it, with a tiny command instead."""
    probe = "import json, os, resource; print(json.dumps([os.getpid(), resource.getrlimit(resource.RLIMIT_AS)[0]]))"
    out = subprocess.run([sys.executable, "-c", "import os, sys; print(os.getpid()); sys.stdout.flush(); "
                          "os.execv(sys.executable, [sys.executable, '-m', 'latentlab.hub', 'start', "
                          f"'--address-space', '3G', '--', sys.executable, '-c', {probe!r}])"],
                         env=dict(os.environ, HOME=str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    pid, limit = json.loads(second)
    assert pid == int(first)  # the server's command replaces the wrapper: the spawner's pid stays right
    assert limit == 3 * 1024 ** 3
    assert (tmp_path / "latentlab" / "notebooks" / "00_welcome.ipynb").is_file()
    assert "copied" in out.stderr


# --- the config's settings, read without starting a hub -------------------------------------------------

def load_config(tmp_path, **settings):
    from traitlets.config.loader import PyFileConfigLoader

    before = dict(os.environ)
    os.environ.update({"LATENTLAB_HUB_STATE": str(tmp_path / "state"),
                       "LATENTLAB_HUB_EXCHANGE": str(tmp_path / "exchange"),
                       "LATENTLAB_HUB_JUPYTER_CONFIG": str(tmp_path / "jupyter-config"),
                       **{f"LATENTLAB_HUB_{k}": v for k, v in settings.items()}})
    try:
        return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()
    finally:
        os.environ.clear()
        os.environ.update(before)


def test_config_for_a_class(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "students.txt").write_text("ana\nbeto\n", encoding="utf-8")
    c = load_config(tmp_path, ADMINS="profe")
    assert c.JupyterHub.ip == "127.0.0.1" and c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.LocalProcessSpawner"
    assert c.Authenticator.allowed_users == {"ana", "beto"} and c.Authenticator.admin_users == {"profe"}
    cmd = c.Spawner.cmd
    assert cmd[1:4] == ["-m", "latentlab.hub", "start"] and cmd[-1].endswith("jupyterhub-singleuser")
    assert cmd[cmd.index("--address-space") + 1] == "4G" and c.Spawner.mem_limit == 4 * 1024 ** 3
    env = c.Spawner.environment
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert "LATENTLAB_LANG" not in env  # each notebook's folder decides: both editions in one class
    assert c.Spawner.default_url == "/lab/tree/latentlab/notebooks/00_welcome.ipynb"
    assert (tmp_path / "exchange").stat().st_mode & 0o7777 == 0o1777
    nbgrader = Path(env["JUPYTER_CONFIG_PATH"]) / "nbgrader_config.py"
    assert str(tmp_path / "exchange") in nbgrader.read_text(encoding="utf-8")
    assert nbgrader.parent.stat().st_mode & 0o777 == 0o755 and (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_config_in_spanish_with_a_shared_password_and_no_limits(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "class-password").write_text("clase-latente-2027\n", encoding="utf-8")
    c = load_config(tmp_path, LANG="es", AUTH="shared", MEM_LIMIT="", THREADS="2", SOLUTIONS="0", EXCHANGE="",
                    IDLE_KERNEL="0", IDLE_SERVER="0")
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "clase-latente-2027"
    assert c.Spawner.environment["LATENTLAB_LANG"] == "es" and c.Spawner.environment["OMP_NUM_THREADS"] == "2"
    assert c.Spawner.default_url == "/lab/tree/latentlab/notebooks/es/00_welcome.ipynb"
    assert "--address-space" not in c.Spawner.cmd and "--no-solutions" in c.Spawner.cmd
    assert "JUPYTER_CONFIG_PATH" not in c.Spawner.environment
    assert "services" not in c.JupyterHub
    with pytest.raises(ValueError, match="LANG"):
        load_config(tmp_path, LANG="fr")
    (tmp_path / "state" / "class-password").unlink()
    with pytest.raises(ValueError, match="class-password"):
        load_config(tmp_path, AUTH="shared")


# --- a real hub, three students --------------------------------------------------------------------------

def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def missing_for_a_hub() -> str | None:
    import importlib.util

    if shutil.which("node") is None:
        return "node is not installed (configurable-http-proxy runs on it): install Node.js"
    if shutil.which("configurable-http-proxy") is None:
        return "configurable-http-proxy is not installed: npm install -g configurable-http-proxy"
    if importlib.util.find_spec("jupyterhub") is None or not (VENV_BIN / "jupyterhub").is_file():
        return f"jupyterhub is not installed in {VENV_BIN.parent}: pip install -e '.[hub]'"
    return None


OVERLAY = """\
# The course's config, with what a test cannot use swapped out (tests/test_hub.py writes this file).
c = get_config()  # noqa: F821
load_subconfig({config!r})  # noqa: F821
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r}
if {root!r}:
    c.Spawner.args.append("--allow-root")
c.Spawner.environment["LATENTLAB_FAST"] = "1"
c.Spawner.environment["LATENTLAB_DEVICE"] = "cpu"
c.Spawner.environment["LATENTLAB_HUB_TEST_MARK"] = {mark!r}
c.Spawner.environment["JUPYTER_RUNTIME_DIR"] = {runtime!r}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.services.append({{"name": "test-admin", "api_token": {token!r}}})
c.JupyterHub.load_roles.append({{"name": "admin", "services": ["test-admin"]}})
"""

PROBE = """\
import json as _j, os as _o, resource as _r
from latentlab.i18n import language as _language
def _mb(pid, key):
    return next(int(l.split()[1]) // 1024 for l in open(f"/proc/{pid}/status") if l.startswith(key + ":"))
print("LATENTLAB_PROBE", _j.dumps({"cwd": _o.getcwd(), "home": _o.environ.get("HOME"), "lang": _language(),
      "as": _r.getrlimit(_r.RLIMIT_AS)[0], "omp": _o.environ.get("OMP_NUM_THREADS"),
      "fast": _o.environ.get("LATENTLAB_FAST"), "kernel_rss_mb": _mb("self", "VmHWM"),
      "server_rss_mb": _mb(_o.getppid(), "VmHWM"), "server_as_mb": _mb(_o.getppid(), "VmPeak")}))
"""

OVER_THE_LIMIT = """\
import torch as _t
try:
    _t.empty(6 * 2**30, dtype=_t.uint8)
    print("LATENTLAB_ALLOCATED")
except (RuntimeError, MemoryError) as _err:
    print("LATENTLAB_REFUSED", type(_err).__name__)
"""


def marked_processes(mark: str) -> list[int]:
    """Processes whose environment holds the test's mark (the students' servers and their kernels)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"LATENTLAB_HUB_TEST_MARK={mark}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def descendants(pid: int) -> dict[int, float]:
    """{pid: start time} of every process under `pid` (the proxy, the culler, servers, kernels)."""
    import psutil

    try:
        return {p.pid: p.create_time() for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return {}


def still_running(processes: dict[int, float]) -> list[str]:
    import psutil

    alive = []
    for pid, started in processes.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == started and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return alive


class Hub:
    def __init__(self, url: str, token: str):
        import requests

        self.url, self.session = url, requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def api(self, method: str, path: str, expect=(200, 201, 202, 204), **kwargs):
        r = self.session.request(method, f"{self.url}/hub/api{path}", timeout=30, **kwargs)
        assert r.status_code in expect, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content else None


def run_cells(base: str, token: str, notebook_path: str, cells: list[str], timeout: float = 180,
              before_shutdown=lambda: None) -> list[dict]:
    """Runs `cells` in a new kernel of the student's server (REST to start it, websocket to execute);
    returns [{'source', 'outputs', 'status'}] per cell. `before_shutdown` runs before the kernel is stopped."""
    import requests
    import websocket

    headers = {"Authorization": f"token {token}"}
    r = requests.post(f"{base}/api/sessions", headers=headers, timeout=60,
                      json={"path": notebook_path, "type": "notebook", "name": notebook_path.rsplit("/", 1)[-1],
                            "kernel": {"name": "python3"}})
    assert r.status_code == 201, f"{base}: starting a kernel: {r.status_code} {r.text[:300]}"
    kernel = r.json()["kernel"]["id"]
    ws = websocket.create_connection(f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels",
                                     header=[f"Authorization: token {token}"], timeout=timeout)
    results = []
    try:
        for source in cells:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({"header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                                           "msg_type": "execute_request", "version": "5.3"},
                                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                                "content": {"code": source, "silent": False, "store_history": True,
                                            "user_expressions": {}, "allow_stdin": False,
                                            "stop_on_error": True}}))
            outputs, status, idle = [], None, False
            deadline = time.monotonic() + timeout
            while status is None or not idle:
                assert time.monotonic() < deadline, f"{base}: a cell took over {timeout} s:\n{source[:200]}"
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "execute_reply":
                    status = msg["content"]["status"]
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                elif kind in ("stream", "error", "execute_result", "display_data"):
                    outputs.append({"output_type": kind, **msg["content"]})
            results.append({"source": source, "outputs": outputs, "status": status})
    finally:
        before_shutdown()
        ws.close()
        requests.delete(f"{base}/api/kernels/{kernel}", headers=headers, timeout=30)
    return results


def text_of(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)


def test_a_real_hub_serves_three_students(tmp_path):
    reason = missing_for_a_hub()
    if reason:
        print(f"test_hub: skipped: {reason}")
        pytest.skip(reason)
    import nbformat

    started = time.monotonic()
    port, hub_port, proxy_api_port = free_ports(3)
    token, mark = uuid.uuid4().hex + uuid.uuid4().hex, uuid.uuid4().hex
    homes = tmp_path / "home"
    overlay = tmp_path / "test_config.py"
    overlay.write_text(OVERLAY.format(config=str(CONFIG), homes=str(homes / "{username}"), root=os.geteuid() == 0,
                                      mark=mark, runtime=str(tmp_path / "runtime"), hub_port=hub_port,
                                      proxy_api_port=proxy_api_port, token=token), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATENTLAB_HUB_")}
    env.update({"LATENTLAB_HUB_STATE": str(tmp_path / "state"), "LATENTLAB_HUB_PORT": str(port),
                "LATENTLAB_HUB_EXCHANGE": str(tmp_path / "exchange"), "LATENTLAB_HUB_MEM_LIMIT": ADDRESS_SPACE,
                "LATENTLAB_HUB_JUPYTER_CONFIG": str(tmp_path / "jupyter-config"),
                "LATENTLAB_HUB_TEST_MARK": mark})
    log = open(tmp_path / "hub.log", "wb")
    process = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(overlay)], cwd=tmp_path, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[int, float] = {}
    phases: dict[str, float] = {}
    memory: dict[str, str] = {}

    def log_tail() -> str:
        return (tmp_path / "hub.log").read_text(encoding="utf-8", errors="replace")[-4000:]

    try:
        url = f"http://127.0.0.1:{port}"
        client = Hub(url, token)
        import requests

        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"the hub exited with {process.returncode}:\n{log_tail()}"
            assert time.monotonic() < deadline, f"the hub did not answer in 90 s:\n{log_tail()}"
            try:
                if client.session.get(f"{url}/hub/api/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)

        phases["hub started"] = time.monotonic() - started
        # Three students: created, each with a token, each with a server (started together, as a class does).
        client.api("POST", "/users", json={"usernames": list(STUDENTS)})
        tokens = {name: client.api("POST", f"/users/{name}/tokens", json={"note": "test", "expires_in": 900})["token"]
                  for name in STUDENTS}
        with ThreadPoolExecutor(len(STUDENTS)) as pool:  # at once, as a class logs in (a POST waits up to 10 s)
            list(pool.map(lambda name: client.api("POST", f"/users/{name}/server"), STUDENTS))
        deadline = time.monotonic() + 150
        waiting = set(STUDENTS)
        while waiting:
            assert process.poll() is None, f"the hub exited with {process.returncode}:\n{log_tail()}"
            assert time.monotonic() < deadline, f"servers not ready in 150 s: {sorted(waiting)}\n{log_tail()}"
            for name in sorted(waiting):
                server = client.api("GET", f"/users/{name}")["servers"].get("")
                if server and server.get("ready"):
                    waiting.discard(name)
            time.sleep(1)

        def lesson(name: str) -> list[dict]:
            base = f"{url}/user/{name}"
            path = f"latentlab/notebooks/{STUDENTS[name]}"
            r = requests.get(f"{base}/api/contents/{path}", headers={"Authorization": f"token {tokens[name]}"},
                             timeout=60)
            assert r.status_code == 200, f"{name}: the server does not see {path}: {r.status_code} {r.text[:200]}"
            nb = nbformat.from_dict(r.json()["content"])
            cells = [cell.source for cell in nb.cells if cell.cell_type == "code"] + [PROBE]
            if name == "alice":
                cells.append(OVER_THE_LIMIT)
            return run_cells(base, tokens[name], path, cells,
                             before_shutdown=lambda: seen.update(descendants(process.pid)))

        phases["servers ready"] = time.monotonic() - started - sum(phases.values())
        with ThreadPoolExecutor(len(STUDENTS)) as pool:
            futures = {name: pool.submit(lesson, name) for name in STUDENTS}
            results = {name: future.result() for name, future in futures.items()}

        for name, cells in results.items():
            for cell in cells:
                errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
                assert cell["status"] == "ok" and not errors, \
                    f"{name}: {cell['source'][:200]}\n{errors[:1] or cell['status']}"
                assert "Traceback" not in text_of(cell["outputs"]), f"{name}: {text_of(cell['outputs'])[:500]}"
            probe = next(json.loads(line.split(" ", 1)[1]) for cell in cells
                         for line in text_of(cell["outputs"]).splitlines() if line.startswith("LATENTLAB_PROBE "))
            home = homes / name
            assert probe["home"] == str(home)
            assert probe["cwd"] == str(home / "latentlab" / "notebooks" / STUDENTS[name]).rsplit("/", 1)[0]
            assert probe["lang"] == ("es" if STUDENTS[name].startswith("es/") else "en")
            assert probe["as"] == hub.parse_bytes(ADDRESS_SPACE)  # the limit reached the kernel
            assert probe["omp"] == "1" and probe["fast"] == "1"
            memory[name] = f"{name}: server {probe['server_rss_mb']} MB, kernel {probe['kernel_rss_mb']} MB"
            # each home got its own copy of the course, both languages
            for relative in ("notebooks/00_welcome.ipynb", "notebooks/es/00_welcome.ipynb",
                             "notebooks/solutions/05_samplers_solutions.ipynb", "docs/glosario.md"):
                assert (home / "latentlab" / relative).is_file(), f"{name}: {relative} was not copied"
        assert "LATENTLAB_REFUSED" in text_of(results["alice"][-1]["outputs"]), results["alice"][-1]
        assert (tmp_path / "exchange").is_dir()

        # The class ends: servers stopped through the API, then the hub.
        phases["lesson 00 run"] = time.monotonic() - started - sum(phases.values())
        with ThreadPoolExecutor(len(STUDENTS)) as pool:
            list(pool.map(lambda name: client.api("DELETE", f"/users/{name}/server"), STUDENTS))
        deadline = time.monotonic() + 60
        while any(client.api("GET", f"/users/{name}")["servers"] for name in STUDENTS):
            assert time.monotonic() < deadline, f"servers not stopped in 60 s:\n{log_tail()}"
            time.sleep(0.5)
    finally:
        seen.update(descendants(process.pid))  # the proxy and culler too, even if the test failed early
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        log.close()
        deadline = time.monotonic() + 20
        while (still_running(seen) or marked_processes(mark)) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = still_running(seen) + [f"{pid} (a student's server or kernel)" for pid in marked_processes(mark)
                                      if pid not in seen]
        for line in left:  # leave nothing behind, even when failing: only processes this test started
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert process.returncode == 0, f"the hub exited with {process.returncode}:\n{log_tail()}"
    assert not left, f"processes left after the hub stopped: {left}"
    assert len(seen) >= 1 + 1 + 2 * len(STUDENTS), f"expected proxy, culler, servers, kernels; saw {seen}"
    phases["stopped"] = time.monotonic() - started - sum(phases.values())
    print(f"test_hub: 3 students, lesson 00 each, {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + "; peak memory in use: " + "; ".join(memory.values()))


# --- Kubernetes: zero-to-jupyterhub ----------------------------------------------------------------------

def test_zero_to_jupyterhub_values_give_the_same_environment_and_limits():
    import yaml

    values = yaml.safe_load((K8S / "values.yaml").read_text(encoding="utf-8"))
    single = values["singleuser"]
    assert single["image"]["name"] and single["image"]["tag"]
    assert single["cpu"]["guarantee"] <= single["cpu"]["limit"]
    assert hub.parse_bytes(single["memory"]["guarantee"]) <= hub.parse_bytes(single["memory"]["limit"])
    for name, value in hub.thread_environment(1).items():
        assert single["extraEnv"][name] == value
    # the same start as on one server: copy the course into the home, then the server
    cmd = single["cmd"]
    assert cmd[:4] == ["python", "-m", "latentlab.hub", "start"] and cmd[-2:] == ["--", "jupyterhub-singleuser"]
    assert "--address-space" not in cmd  # the pod's memory limit is a cgroup limit: enforced by Kubernetes
    assert single["defaultUrl"] == "/lab/tree/latentlab/notebooks/00_welcome.ipynb"
    mounts = {m["mountPath"]: m["name"] for m in single["storage"]["extraVolumeMounts"]}
    volumes = {v["name"] for v in single["storage"]["extraVolumes"]}
    assert mounts["/srv/nbgrader/exchange"] in volumes
    nbgrader = single["extraFiles"]["nbgrader-config"]
    assert "c.Exchange.root = '/srv/nbgrader/exchange'" in nbgrader["stringData"]
    assert values["cull"]["enabled"] and values["cull"]["timeout"] == 3600
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"]
    # With the chart at hand (LATENTLAB_Z2JH_CHART: its jupyterhub/ folder, holding values.yaml and
    # values.schema.yaml), the values merged into the chart's defaults, as Helm does, must pass its schema.
    chart = os.environ.get("LATENTLAB_Z2JH_CHART")
    if chart:
        import jsonschema

        def merge(defaults, mine):
            out = dict(defaults)
            for key, value in mine.items():
                out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
            return out

        defaults = yaml.safe_load((Path(chart) / "values.yaml").read_text(encoding="utf-8"))
        schema = yaml.safe_load((Path(chart) / "values.schema.yaml").read_text(encoding="utf-8"))
        jsonschema.validate(merge(defaults, values), schema)


def test_dockerfile_installs_the_course_as_the_readmes_say():
    dockerfile = (K8S / "Dockerfile").read_text(encoding="utf-8")
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    runs = re.findall(r"^RUN ((?:[^\n]*\\\n)*[^\n]*)", dockerfile, re.MULTILINE)
    install = [r for r in runs if "install-course.sh" in r]
    assert install, "the Dockerfile does not run deploy/jupyterhub/install-course.sh"
    assert "deploy/jupyterhub/install-course.sh" in readme
    script = (DEPLOY / "install-course.sh").read_text(encoding="utf-8")
    course = (ROOT / "course").read_text(encoding="utf-8")
    # the torch requirement and the venv steps are ./course's
    assert re.search(r'"\$\{LATENTLAB_TORCH:-torch==[^}]+\}"', course).group(0) in script
    assert "-m venv" in script and "pip install" in script and "-e" in script
    # JupyterHub in the image is pinned (to the chart's hub), and the image starts as the values say
    assert re.search(r"^ARG JUPYTERHUB_VERSION=\d+\.\d+\.\d+$", dockerfile, re.MULTILINE)
    assert '"jupyterhub==${JUPYTERHUB_VERSION}"' in install[0]
    assert 'CMD ["python", "-m", "latentlab.hub", "start", "--", "jupyterhub-singleuser"]' in dockerfile
    # the build command the README gives is the Dockerfile's own, and the README says what was not tried
    text = (K8S / "README.md").read_text(encoding="utf-8")
    build = re.search(r"docker build -f deploy/zero-to-jupyterhub/Dockerfile -t \S+ \.", dockerfile).group(0)
    assert build in text and "not tried" in text.lower()
