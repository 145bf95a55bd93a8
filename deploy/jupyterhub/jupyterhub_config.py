"""JupyterHub for a class: the latentlab course, many students, one Linux server.

    jupyterhub -f deploy/jupyterhub/jupyterhub_config.py        (as root; README.md in this folder)

The pieces: JupyterHub (PyPI, the course's `hub` extra) with configurable-http-proxy (npm) in front;
each student is a Linux account (`python -m latentlab.hub add-students roster.txt …`) and gets their
own JupyterLab server, started by JupyterHub's LocalProcessSpawner as that account, from the one
shared virtual environment this hub runs in (the course installed once: install-course.sh). On its
first start a server copies the course's notebooks (English and Spanish) into ~/latentlab/.

Settings: edit the defaults below, or set the LATENTLAB_HUB_* variables in the hub's environment
(the systemd unit in this folder does). Every one is read once, when the hub starts.
"""

import os
import sys
from pathlib import Path

from latentlab.hub import COURSE, FOLDER, nbgrader_config, parse_bytes, read_roster, thread_environment

c = get_config()  # noqa: F821 - JupyterHub defines get_config in a config file's namespace


def setting(name: str, default: str) -> str:
    return os.environ.get(f"LATENTLAB_HUB_{name}", default).strip()


STATE = Path(setting("STATE", "/srv/latentlab-hub"))    # the hub's database, cookie secret, roster, passwords
IP = setting("IP", "127.0.0.1")                          # 127.0.0.1: behind a reverse proxy (README); 0.0.0.0: open
PORT = int(setting("PORT", "8000"))
AUTH = setting("AUTH", "pam")                            # pam (one password per student) | shared (one class password)
ROSTER = Path(setting("ROSTER", str(STATE / "students.txt")))  # one user name a line: who may log in
ADMINS = [name for name in setting("ADMINS", "").split(",") if name.strip()]  # the teachers' user names
LANG = setting("LANG", "")                               # "" (each notebook's folder decides), en or es
THREADS = int(setting("THREADS", "1"))                   # torch/BLAS threads per kernel
MEM_LIMIT = setting("MEM_LIMIT", "4G")                   # address space per process (server, each kernel); "" = none
SOLUTIONS = setting("SOLUTIONS", "1") == "1"             # copy notebooks/solutions too (0: withhold them)
EXCHANGE = setting("EXCHANGE", "/srv/nbgrader/exchange")  # nbgrader's exchange directory ("" = no nbgrader)
JUPYTER_CONFIG = Path(setting("JUPYTER_CONFIG", "/etc/latentlab-hub/jupyter"))  # students' servers read it
COURSE_ID = setting("COURSE_ID", "latentlab")
IDLE_SERVER = int(setting("IDLE_SERVER", "3600"))        # stop a student's server idle this many seconds (0 = never)
IDLE_KERNEL = int(setting("IDLE_KERNEL", "1800"))        # stop a kernel idle this many seconds (0 = never)

if LANG not in ("", "en", "es"):
    raise ValueError(f"LATENTLAB_HUB_LANG={LANG!r}: the course speaks en and es (or leave it empty)")
if not (COURSE / "notebooks").is_dir():
    raise ValueError(f"{COURSE}/notebooks is missing: run the hub from the venv install-course.sh made from the clone")
BIN = Path(sys.executable).parent  # the shared venv: the course, jupyterlab, jupyterhub-singleuser

# --- the hub and its proxy --------------------------------------------------------------------------
STATE.mkdir(parents=True, exist_ok=True)
STATE.chmod(0o700)  # the database holds the users' token hashes: root only
c.JupyterHub.ip = IP
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
c.JupyterHub.cleanup_servers = True   # stopping the hub stops the students' servers (a class ends; nothing lingers)

# --- who may log in ---------------------------------------------------------------------------------
allowed = set(read_roster(ROSTER)) if ROSTER.is_file() else set()
if AUTH == "pam":
    # Linux accounts and their passwords (add-students --passwords students.csv makes both).
    c.JupyterHub.authenticator_class = "pam"
elif AUTH == "shared":
    # One password for the class, from a file only root reads (8 characters or more). Anyone who has it can
    # log in as any roster name: for a workshop, not for graded work. Teachers (ADMINS) log in with the
    # admin password (32 characters or more), in the second line of the same file.
    c.JupyterHub.authenticator_class = "shared-password"
    password_file = STATE / "class-password"
    if not password_file.is_file():
        raise ValueError(f"LATENTLAB_HUB_AUTH=shared needs the class's password in {password_file} (README.md)")
    lines = password_file.read_text(encoding="utf-8").splitlines()
    c.SharedPasswordAuthenticator.user_password = lines[0].strip()
    if len(lines) > 1 and lines[1].strip():
        c.SharedPasswordAuthenticator.admin_password = lines[1].strip()
else:
    raise ValueError(f"LATENTLAB_HUB_AUTH={AUTH!r}: expected pam or shared")
c.Authenticator.allowed_users = allowed
c.Authenticator.admin_users = set(ADMINS)

# --- each student's server ---------------------------------------------------------------------------
# LocalProcessSpawner: one process tree per student, running as the student's own Linux account: their files
# are theirs (home 0700), a student's kernel cannot touch another's, and the limits below apply per account.
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
start = [str(BIN / "python"), "-m", "latentlab.hub", "start", "--folder", FOLDER]
if MEM_LIMIT:
    start += ["--address-space", MEM_LIMIT]
    c.Spawner.mem_limit = parse_bytes(MEM_LIMIT)  # MEM_LIMIT in the server's environment (a resource display reads it)
if not SOLUTIONS:
    start.append("--no-solutions")
c.Spawner.cmd = [*start, "--", str(BIN / "jupyterhub-singleuser")]
# The server starts in the home (the spawner starts it there), so paths are relative to it.
lesson = f"{FOLDER}/notebooks/{'es/' if LANG == 'es' else ''}00_welcome.ipynb"
c.Spawner.default_url = f"/lab/tree/{lesson}"
c.Spawner.start_timeout = 180  # a class logging in at once on a small server: JupyterLab starts slowly
c.Spawner.http_timeout = 180
environment = {
    "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
    **thread_environment(THREADS),
}
if LANG:
    # Without it (the default) a kernel speaks the language of its notebook's folder (notebooks/es → Spanish),
    # so a class can use both editions; with it, every widget and checker speaks LANG.
    environment["LATENTLAB_LANG"] = LANG
if IDLE_KERNEL:
    c.Spawner.args = [f"--MappingKernelManager.cull_idle_timeout={IDLE_KERNEL}",
                      "--MappingKernelManager.cull_interval=300"]

# --- nbgrader: where assignments are exchanged ------------------------------------------------------
if EXCHANGE:
    # Not in STATE, which only root may enter (the hub's database): the students' servers read this one.
    JUPYTER_CONFIG.mkdir(parents=True, exist_ok=True)
    JUPYTER_CONFIG.chmod(0o755)
    (JUPYTER_CONFIG / "nbgrader_config.py").write_text(nbgrader_config(EXCHANGE, COURSE_ID), encoding="utf-8")
    environment["JUPYTER_CONFIG_PATH"] = str(JUPYTER_CONFIG)
    try:  # world-writable with the sticky bit, as nbgrader's docs ask (students submit, cannot delete others')
        Path(EXCHANGE).mkdir(parents=True, exist_ok=True)
        Path(EXCHANGE).chmod(0o1777)
    except OSError as err:
        print(f"jupyterhub_config: cannot prepare nbgrader's exchange {EXCHANGE}: {err}", file=sys.stderr)
c.Spawner.environment = environment

# --- idle servers are stopped, so a class does not leave 30 kernels holding memory overnight ---------
if IDLE_SERVER:
    try:
        import jupyterhub_idle_culler  # noqa: F401 - in the course's hub extra
    except ImportError:
        print("jupyterhub_config: jupyterhub-idle-culler is not installed; idle servers are not stopped",
              file=sys.stderr)
    else:
        c.JupyterHub.services = [{"name": "idle-culler",
                                  "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                                              f"--timeout={IDLE_SERVER}", "--cull-every=300"]}]
        c.JupyterHub.load_roles = [{"name": "idle-culler", "services": ["idle-culler"],
                                    "scopes": ["list:users", "read:users:activity", "read:servers",
                                               "delete:servers"]}]
