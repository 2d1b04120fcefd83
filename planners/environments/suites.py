"""Frozen episode suites shipped as JSON manifests (``manifests/*.json``).

A manifest lists episodes by seed and task parameters; every episode is a pure function of its
entry, so a suite is a fixed benchmark. ``generate_suite`` is how the files were made (the tests
check the shipped files still match it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from promptopt import jsonio

from .household import HouseholdConfig
from .transport import TransportConfig

__all__ = ["SUITES", "EpisodeSpec", "Suite", "generate_suite", "load_suite"]

SUITES = ("test24", "household10", "dev100")
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class EpisodeSpec:
    id: str
    mode: str
    seed: int
    params: tuple[tuple[str, Any], ...]

    def config(self) -> TransportConfig | HouseholdConfig:
        p = dict(self.params)
        return TransportConfig(**p) if self.mode == "transport" else HouseholdConfig(**p)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "mode": self.mode, "seed": self.seed, **dict(self.params)}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    episodes: tuple[EpisodeSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": MANIFEST_VERSION, "description": self.description,
                "episodes": [e.to_dict() for e in self.episodes]}


def _transport(eid: str, seed: int, **params: Any) -> EpisodeSpec:
    return EpisodeSpec(eid, "transport", seed, tuple(sorted(params.items())))


def generate_suite(name: str) -> Suite:
    """Build a suite from its recipe (deterministic)."""
    if name == "test24":
        eps = []
        for layout in range(6):
            for kind in ("food", "stuff"):
                for containers in ("enough", "rare"):
                    i = len(eps)
                    eps.append(_transport(f"test24-{i:02d}", 24_000 + i, layout_seed=900 + layout, task_kind=kind,
                                          containers=containers, n_targets=10, horizon=3000))
        return Suite(name, "6 layouts x food/stuff x enough/rare containers; 10 targets, 3000 ticks", tuple(eps))
    if name == "dev100":
        eps = [_transport(f"dev100-{i:03d}", 10_000 + i, task_kind=("food", "stuff")[i % 2],
                          containers=("enough", "rare")[(i // 2) % 2], n_targets=10, horizon=3000)
               for i in range(100)]
        return Suite(name, "100 development episodes (layout from the seed) for calibration and tuning", tuple(eps))
    if name == "household10":
        eps = [EpisodeSpec(f"household10-{i:02d}", "household", 31_000 + i, (("horizon", 250),)) for i in range(10)]
        return Suite(name, "10 household episodes with 3-5 ON/IN goals, 250 steps", tuple(eps))
    raise ValueError(f"unknown suite {name!r}; suites are {', '.join(SUITES)}")


def load_suite(name: str) -> Suite:
    """Load a shipped manifest by name."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; suites are {', '.join(SUITES)}")
    text = resources.files(__package__).joinpath("manifests", f"{name}.json").read_text(encoding="utf-8")
    data = jsonio.loads(text)
    if data.get("version") != MANIFEST_VERSION:
        raise ValueError(f"suite {name}: manifest version {data.get('version')} is not {MANIFEST_VERSION}")
    eps = []
    for e in data["episodes"]:
        params = {k: v for k, v in e.items() if k not in ("id", "mode", "seed")}
        eps.append(EpisodeSpec(e["id"], e["mode"], int(e["seed"]), tuple(sorted(params.items()))))
    return Suite(data["name"], data["description"], tuple(eps))


def _write_all() -> None:  # python -m promptopt.planners.environments.suites
    import pathlib

    folder = pathlib.Path(__file__).parent / "manifests"
    for name in SUITES:
        (folder / f"{name}.json").write_text(json.dumps(generate_suite(name).to_dict(), indent=1) + "\n")


if __name__ == "__main__":
    _write_all()
