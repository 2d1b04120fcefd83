"""Which code this is: the release number and a fingerprint of the installed sources."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

__version__ = "0.1.0"

#: The packages whose code decides a run's result (the CLI and tests do not).
_PACKAGES = ("promptopt", "promptopt.operators", "promptopt.racing", "promptopt.planners", "promptopt.tasks")


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A short hash of every Python source of the product's packages.

    The release number does not change between commits; a benchmark cell measured by other code
    is not a measurement of this code, so bench cells record this and say when it differs.
    """
    digest = hashlib.sha256()
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        for root in (spec.submodule_search_locations or []) if spec is not None else []:
            base = Path(root)
            for path in sorted(base.rglob("*.py")):
                digest.update(f"{name}/{path.relative_to(base).as_posix()}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
