"""The set-up files agree with each other, and the CLI is wired to the package."""

import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name_and_spec(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";")[0]  # an environment marker (python_version < '3.11') is pip's business
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def test_environment_yml_lists_the_same_runtime_dependencies_as_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = dict(_name_and_spec(r) for r in pyproject["project"]["dependencies"])
    conda = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"\s*-\s+([A-Za-z][^#:]*)$", line)
        if m and not m.group(1).startswith(("pip", "python", "-e")):
            name, spec = _name_and_spec(m.group(1))
            conda[CONDA_TO_PYPI.get(name, name)] = spec
    assert conda == runtime


def test_torch_requirement_is_a_range_not_a_pin():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    torch_req = [r for r in pyproject["project"]["dependencies"] if r.startswith("torch")]
    assert torch_req and ">=" in torch_req[0] and "==" not in torch_req[0]


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "./course lab" in readme and "./course test" in readme
    assert "./course test" in (ROOT / ".ci" / "run").read_text()


def test_python_dash_m_latentlab_works():
    out = subprocess.run([sys.executable, "-m", "latentlab", "--help"], capture_output=True, text=True, check=True)
    for command in ("lab", "train", "encode", "eval", "bench"):
        assert command in out.stdout
