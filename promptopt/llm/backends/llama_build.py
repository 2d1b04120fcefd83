"""The llama.cpp build promptopt is tested with, and how to install it portably.

llama-cpp-python compiles llama.cpp on install with ``-march=native``. Some hosts advertise CPU
features they cannot execute (AMX on some virtual machines): a native build then dies with
SIGILL on the first matrix product. A portable build targets x86-64-v3 (AVX, AVX2, FMA, F16C,
BMI2) and nothing newer, so it runs on every x86-64 CPU of the last decade.

pip reuses a cached wheel whatever ``CMAKE_ARGS`` says, so a native build in pip's cache would
silently come back. ``install`` therefore builds with pip's cache off into a wheel folder of our
own, keyed by version and flags, and installs from there only.

This module imports nothing outside the standard library: the Makefile runs it
(``python -m promptopt.llm.backends.llama_build install``) before the project's dependencies
are installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "LLAMA_CPP_VERSION",
    "PORTABLE_CMAKE_ARGS",
    "install_portable",
    "non_portable_features",
    "reinstall_command",
    "wheelhouse",
]

#: The llama-cpp-python release the project is tested with (also pinned in pyproject.toml).
LLAMA_CPP_VERSION = "0.3.36"

#: x86-64-v3 and nothing newer: no AVX-512, no AMX, no -march=native.
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
    "-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF "
    "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)

#: Feature names in llama.cpp's system info that a portable build must not report.
_NON_PORTABLE = ("AVX512", "AMX", "AVX_VNNI")


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


def cmake_args() -> str:
    """The portable flags on x86-64; elsewhere (ARM) llama.cpp's own defaults are already safe."""
    return PORTABLE_CMAKE_ARGS if _is_x86() else "-DGGML_NATIVE=OFF"


def reinstall_command(python: str = "python") -> str:
    """The one shell command that replaces the installed llama-cpp-python with a portable build."""
    return (
        f'CMAKE_ARGS="{cmake_args()}" {python} -m pip install --no-cache-dir --force-reinstall '
        f"--no-binary llama-cpp-python --no-deps llama-cpp-python=={LLAMA_CPP_VERSION}"
    )


def non_portable_features(system_info: str) -> list[str]:
    """Features in llama.cpp's system info line that tie the build to the machine it was built on.

    The line looks like ``CPU : SSE3 = 1 | AVX = 1 | AVX512 = 1 | AMX_INT8 = 1 | ...``; features
    that are compiled out are absent or ``= 0``.
    """
    found: list[str] = []
    for part in system_info.replace("\n", "|").split("|"):
        name, sep, value = part.partition("=")
        name = name.split(":")[-1].strip()
        if sep and value.strip() not in ("", "0") and name.startswith(_NON_PORTABLE):
            found.append(name)
    return sorted(set(found))


def wheelhouse(root: Path | None = None) -> Path:
    """Where portable wheels are kept: one folder per version and set of flags."""
    if root is None:
        env = os.environ.get("PROMPTOPT_WHEELHOUSE")
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        root = Path(env) if env else cache / "promptopt" / "wheels"
    digest = hashlib.sha256(cmake_args().encode()).hexdigest()[:12]
    return root / f"llama-cpp-python-{LLAMA_CPP_VERSION}-{digest}"


def _pip(python: str, *args: str, env: dict[str, str] | None = None) -> int:
    command = [python, "-m", "pip", *args]
    print("+ " + " ".join(shlex.quote(c) for c in command), flush=True)
    return subprocess.run(command, env=env).returncode


def _install_from(folder: Path, python: str) -> int:
    return _pip(
        python, "install", "-q", "--no-index", "--find-links", str(folder), "--force-reinstall",
        "--no-deps", f"llama-cpp-python=={LLAMA_CPP_VERSION}",
    )


def _build_into(folder: Path, python: str) -> None:
    """Compile the wheel with pip's cache off; the folder appears only when the build succeeded."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    env = {**os.environ, "CMAKE_ARGS": cmake_args(), "FORCE_CMAKE": "1"}
    print(f"building llama-cpp-python {LLAMA_CPP_VERSION} portably (about 8 minutes on 2 cores)",
          flush=True)
    code = _pip(
        python, "wheel", "-q", "--no-cache-dir", "--no-deps", "--no-binary", "llama-cpp-python",
        "-w", str(staging), f"llama-cpp-python=={LLAMA_CPP_VERSION}", env=env,
    )
    if code != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(f"error: building llama-cpp-python failed (pip exited {code})")
    if folder.exists():  # another build finished first; keep it
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(folder)


def install_portable(python: str = sys.executable, root: Path | None = None) -> Path:
    """Install the portable llama-cpp-python into ``python``'s environment; returns the wheel folder.

    Builds once per version and flags (the folder is reused by later fresh checkouts on the same
    machine); never reads pip's wheel cache.
    """
    folder = wheelhouse(root)
    if not any(folder.glob("llama_cpp_python-*.whl")):
        _build_into(folder, python)
    code = _install_from(folder, python)
    if code != 0:  # e.g. a wheel for another Python version: build one for this interpreter
        shutil.rmtree(folder, ignore_errors=True)
        _build_into(folder, python)
        code = _install_from(folder, python)
    if code != 0:
        raise SystemExit(f"error: installing llama-cpp-python from {folder} failed (pip exited {code})")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m promptopt.llm.backends.llama_build",
        description="Install llama-cpp-python built portably (no -march=native).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="build (once) and install the portable wheel")
    install.add_argument("--python", default=sys.executable, help="interpreter to install into")
    install.add_argument("--wheelhouse", type=Path, default=None,
                         help="folder for built wheels (default: $PROMPTOPT_WHEELHOUSE or ~/.cache/promptopt/wheels)")
    sub.add_parser("command", help="print the equivalent one-line pip command")
    args = parser.parse_args(argv)
    if args.command == "command":
        print(reinstall_command())
        return
    folder = install_portable(args.python, args.wheelhouse)
    print(f"llama-cpp-python {LLAMA_CPP_VERSION} installed from {folder}")


if __name__ == "__main__":
    main()
