"""The portable llama.cpp install: one pinned version, one set of flags, one wheel folder."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

from promptopt.llm.backends import llama_build
from promptopt.llm.backends.llama_build import (
    LLAMA_CPP_VERSION,
    PORTABLE_CMAKE_ARGS,
    install_portable,
    non_portable_features,
    reinstall_command,
    wheelhouse,
)

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_pins_the_version_the_build_module_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [r for group in project["optional-dependencies"].values() for r in group if r.startswith("llama-cpp-python")]
    assert pins and all(re.fullmatch(rf"llama-cpp-python(\[server\])?=={re.escape(LLAMA_CPP_VERSION)}", p) for p in pins)


def test_the_makefile_installs_through_the_build_module_before_the_project():
    makefile = (ROOT / "Makefile").read_text()
    build = makefile.index("-m promptopt.llm.backends.llama_build install")
    assert build < makefile.index("pip install -q -e '.[local,dev]'")
    assert "promptopt models --check" in makefile


def test_flags_target_x86_64_v3_and_nothing_newer():
    flags = dict(f[2:].split("=") for f in PORTABLE_CMAKE_ARGS.split())
    assert flags["GGML_NATIVE"] == "OFF"
    assert all(flags[f] == "ON" for f in ("GGML_AVX", "GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_BMI2"))
    assert all(flags[f] == "OFF" for f in flags if f.startswith(("GGML_AVX512", "GGML_AMX")))


def test_reinstall_command_bypasses_pip_cache_and_binaries():
    command = reinstall_command("/venv/bin/python")
    assert command.startswith(f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" /venv/bin/python -m pip install ')
    for part in ("--no-cache-dir", "--force-reinstall", "--no-binary llama-cpp-python",
                 f"llama-cpp-python=={LLAMA_CPP_VERSION}"):
        assert part in command


def test_non_portable_features_reads_llamas_system_info():
    native = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
              "BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | "
              "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |")
    assert non_portable_features(native) == ["AMX_INT8", "AVX512", "AVX512_BF16", "AVX512_VBMI",
                                             "AVX512_VNNI", "AVX_VNNI"]
    portable = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 0 | OPENMP = 1 |"
    assert non_portable_features(portable) == []


def test_wheel_folder_is_keyed_by_version_and_flags(tmp_path, monkeypatch):
    folder = wheelhouse(tmp_path)
    assert folder.parent == tmp_path and LLAMA_CPP_VERSION in folder.name
    monkeypatch.setattr(llama_build, "PORTABLE_CMAKE_ARGS", PORTABLE_CMAKE_ARGS + " -DGGML_AVX512=ON")
    assert wheelhouse(tmp_path) != folder
    monkeypatch.setenv("PROMPTOPT_WHEELHOUSE", str(tmp_path / "elsewhere"))
    assert wheelhouse().parent == tmp_path / "elsewhere"


def _fake_wheel(folder: Path, marker: str) -> Path:
    """A minimal llama-cpp-python wheel whose module says where it came from."""
    name = f"llama_cpp_python-{LLAMA_CPP_VERSION}"
    files = {
        "llama_cpp/__init__.py": f"MARKER = {marker!r}\n",
        f"{name}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: llama-cpp-python\nVersion: {LLAMA_CPP_VERSION}\n",
        f"{name}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{name}.dist-info/RECORD"] = "\n".join(record + [f"{name}.dist-info/RECORD,,"]) + "\n"
    folder.mkdir(parents=True)
    wheel = folder / f"{name}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_install_uses_the_wheel_folder_and_never_an_index(tmp_path):
    """A wheel already in the folder is installed as is: no build, no index, no pip cache."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    _fake_wheel(wheelhouse(tmp_path / "wheels"), "from-our-wheelhouse")
    folder = install_portable(python, tmp_path / "wheels")
    assert folder == wheelhouse(tmp_path / "wheels")
    marker = subprocess.run([python, "-c", "import llama_cpp; print(llama_cpp.MARKER)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert marker == "from-our-wheelhouse"


def test_build_module_imports_only_the_standard_library():
    # the Makefile runs it before the project's dependencies are installed
    code = ("import sys; sys.path.insert(0, '.'); import promptopt.llm.backends.llama_build; "
            "third = {m.split('.')[0] for m in sys.modules} & {'pydantic', 'numpy', 'typer', 'rich', 'openai'}; "
            "print(sorted(third))")
    result = subprocess.run([sys.executable, "-I", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_readme_shows_the_same_reinstall_command():
    readme = (ROOT / "README.md").read_text().replace("\\\n  ", "")
    assert reinstall_command("python") in readme
