"""Packaging and the README's promises: ``python -m policyqa`` runs the CLI, the version has
one source, the command line works without the [web] extra, and the README's test command is
the one CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

import policyqa

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def run_python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def readme_lines() -> list[str]:
    return (ROOT / "README.md").read_text(encoding="utf-8").splitlines()


def ci_test_line() -> str:
    lines = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
             if "-m pytest" in line and not line.lstrip().startswith("#")]
    assert len(lines) == 1, f"expected one pytest line in .ci/run, found {lines}"
    return lines[0]


def test_python_m_policyqa_runs_the_cli():
    done = run_python("-m", "policyqa", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: policyqa")
    for command in ("index", "search", "ask", "eval", "compare", "precedents", "serve"):
        assert command in done.stdout


def test_version_has_one_source():
    project = pyproject()
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "policyqa.__version__"}
    Version(policyqa.__version__)  # a valid PEP 440 version
    assigned = [p.name for p in SRC.rglob("*.py") if re.search(r"^__version__\s*=", p.read_text(encoding="utf-8"), re.M)]
    assert assigned == ["__init__.py"]


def test_build_backend_reads_the_licence_expression_and_bm25s_is_capped():
    data = pyproject()
    (backend,) = [Requirement(r) for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    assert backend.specifier.contains("77") and not backend.specifier.contains("76.9")
    (bm25s,) = [Requirement(r) for r in data["project"]["dependencies"] if Requirement(r).name == "bm25s"]
    assert any(s.operator in ("<", "<=", "~=", "==") for s in bm25s.specifier), bm25s


def test_the_cli_and_the_api_run_without_gradio():
    code = ("import sys; sys.modules['gradio'] = None\n"
            "import policyqa.api, policyqa.engine, policyqa.build\n"
            "from policyqa.cli import main\n"
            "sys.exit(main(['serve']))\n")
    done = run_python("-c", code)
    assert done.returncode == 2, done.stderr
    assert "[web]" in done.stderr and "Traceback" not in done.stderr
    gradio = [r for r in pyproject()["project"]["dependencies"] if Requirement(r).name == "gradio"]
    assert gradio == []  # the web app is the optional [web] extra
    assert any(Requirement(r).name == "gradio" for r in pyproject()["project"]["optional-dependencies"]["web"])


def test_readme_test_command_is_the_one_ci_runs():
    assert ci_test_line() in readme_lines()


def test_readme_length_and_two_commands_stay_inside_the_repository():
    lines = readme_lines()
    assert 150 <= len(lines) <= 220, len(lines)
    text = "\n".join(lines)
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert ci_test_line() in section
    assert "../" not in section and not re.search(r"(?<![\w.])/(work|tmp|home|opt)/", section)
