"""Frozen episode suites shipped as JSON manifests (``manifests/*.json``).

A manifest lists episodes by seed and task parameters; every episode is a pure function of its
entry, so a suite is a fixed benchmark. ``generate_suite`` is how the files were made (the tests
check the shipped files still match it). A manifest's ``version`` is its schema version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from pydantic import SerializerFunctionWrapHandler, model_serializer, model_validator

from promptopt import records

from .household import HouseholdConfig
from .transport import TransportConfig

__all__ = ["SUITES", "EpisodeSpec", "Suite", "generate_suite", "load_suite", "parse_manifest"]

SUITES = ("test24", "household10", "dev100")
MANIFEST_VERSION = 1
#: An episode entry's own keys; every other key of the entry is a task parameter.
_OWN = ("id", "mode", "seed")


@dataclass(frozen=True)
class EpisodeSpec(records.Record):
    """One episode: its world, seed and task parameters (written beside ``id``, ``mode``, ``seed``)."""

    id: str
    mode: Literal["transport", "household"]
    seed: int
    params: tuple[tuple[str, Any], ...]

    def config(self) -> TransportConfig | HouseholdConfig:
        p = dict(self.params)
        return TransportConfig(**p) if self.mode == "transport" else HouseholdConfig(**p)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "params" not in data:
            params = tuple(sorted((k, v) for k, v in data.items() if k not in _OWN))
            return {**{k: data[k] for k in _OWN if k in data}, "params": params}
        return data

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        return {**{k: data[k] for k in _OWN}, **dict(data["params"])}


@dataclass(frozen=True)
class Suite(records.Record):
    """A fixed benchmark: named episodes, shipped as a manifest."""

    name: str
    description: str
    episodes: tuple[EpisodeSpec, ...]

    @model_serializer(mode="wrap")
    def _manifest(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The manifest layout: the schema version after the name."""
        data = handler(self)
        return {"name": data.pop("name"), "version": MANIFEST_VERSION, **data}


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
    return parse_manifest(text, where=f"manifests/{name}.json")


def parse_manifest(text: str, *, where: str) -> Suite:
    """The suite of a manifest's text: its schema ``version`` is checked before its fields; a bad
    one raises :class:`~promptopt.records.RecordError` naming ``where`` and the field."""
    data = records.parse_json(text, where=where)
    records.check_schema(data, where=where, known=(MANIFEST_VERSION,), key="version")
    return Suite.from_dict(data, where=where)


def _write_all() -> None:  # python -m promptopt.planners.environments.suites
    import pathlib

    folder = pathlib.Path(__file__).parent / "manifests"
    for name in SUITES:
        (folder / f"{name}.json").write_text(json.dumps(generate_suite(name).to_dict(), indent=1) + "\n")


if __name__ == "__main__":
    _write_all()
