#!/usr/bin/env bash
# Create one virtual environment per compared library under bench/versus/.venvs/ and install it
# from PyPI. Our code never imports theirs: each runs in its own process (run_*.py).
# Usage: bash bench/versus/setup.sh [promptolution] [dspy]      (both when none is named)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
libraries=("$@")
[ ${#libraries[@]} -eq 0 ] && libraries=(promptolution dspy)
for lib in "${libraries[@]}"; do
  case "$lib" in
    promptolution) package="promptolution" ;;
    dspy) package="dspy" ;;
    *) echo "unknown library '$lib' (known: promptolution, dspy)" >&2; exit 2 ;;
  esac
  venv="$here/.venvs/$lib"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade "$package"
  "$venv/bin/python" -c "import importlib.metadata as m; print('$lib', m.version('$package'), 'in $venv')"
done
