"""The built wheel: sibling folders install as promptopt.* subpackages and nothing else is top-level."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("racing", "tasks", "operators", "planners")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Build from a copy so no stale build/ folder of the working tree can leak into the wheel.
    source = tmp_path_factory.mktemp("src") / "promptopt"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        timeout=300,
    )
    [built] = out.glob("promptopt-*.whl")
    return built


def test_wheel_has_no_top_level_siblings(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"promptopt"}
    for sub in SUBPACKAGES:
        assert f"promptopt/{sub}/__init__.py" in names
        assert sub not in top
    assert "promptopt/py.typed" in names
    assert "promptopt/llm/client.py" in names
    assert "promptopt/testing/server.py" in names
    manifests = {n.rsplit("/", 1)[-1] for n in names if n.startswith("promptopt/planners/environments/manifests/")}
    assert {"test24.json", "household10.json", "dev100.json"} <= manifests


def test_fresh_venv_imports_the_subpackages(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    code = (
        "import promptopt.racing, promptopt.tasks, promptopt.operators, promptopt.planners, promptopt; "
        "print(promptopt.__file__)"
    )
    # run from an empty folder so the source tree cannot be imported by accident
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert str(venv) in result.stdout
    for sub in SUBPACKAGES:
        probe = subprocess.run([str(python), "-c", f"import {sub}"], capture_output=True, text=True, cwd=tmp_path)
        assert probe.returncode != 0, f"a top-level '{sub}' package is importable"
