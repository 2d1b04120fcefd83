"""Shipped suites are frozen: the JSON files match their recipes and load as package data."""

from __future__ import annotations

import pytest
from promptopt.planners.environments import SUITES, generate_suite, load_suite
from promptopt.planners.scripted import run_episode


@pytest.mark.parametrize("name", SUITES)
def test_manifest_matches_recipe(name: str) -> None:
    assert load_suite(name) == generate_suite(name)


def test_suite_shapes() -> None:
    t = load_suite("test24").episodes
    assert len(t) == 24
    combos = {(dict(e.params)["layout_seed"], dict(e.params)["task_kind"], dict(e.params)["containers"]) for e in t}
    assert len(combos) == 24
    assert len(load_suite("dev100").episodes) == 100
    assert len(load_suite("household10").episodes) == 10


def test_layouts_are_shared_within_test24() -> None:
    from promptopt.planners.environments import TransportEnv

    houses = {}
    for e in load_suite("test24").episodes:
        env = TransportEnv(e.config())
        env.reset(e.seed)
        houses.setdefault(dict(e.params)["layout_seed"], set()).add(env.house)
    assert len(houses) == 6 and all(len(h) == 1 for h in houses.values())


def test_episode_is_pure_function_of_entry() -> None:
    e = load_suite("test24").episodes[3]
    assert run_episode(e.config(), "greedy", e.seed).event_hash == run_episode(e.config(), "greedy", e.seed).event_hash


def test_unknown_suite_names_the_choices() -> None:
    with pytest.raises(ValueError, match="test24"):
        load_suite("test25")


def test_a_manifest_of_another_version_or_with_a_bad_field_says_which() -> None:
    import json

    from promptopt.planners.environments.suites import MANIFEST_VERSION, parse_manifest
    from promptopt.records import RecordError

    manifest = generate_suite("household10").to_dict()
    assert list(manifest) == ["name", "version", "description", "episodes"]
    assert manifest["episodes"][0] == {"id": "household10-00", "mode": "household", "seed": 31000, "horizon": 250}
    assert parse_manifest(json.dumps(manifest), where="m.json") == generate_suite("household10")
    with pytest.raises(RecordError, match=rf"^m.json: version: unknown schema version 2 \(this promptopt reads {MANIFEST_VERSION}"):
        parse_manifest(json.dumps({**manifest, "version": 2}), where="m.json")
    manifest["episodes"][3]["mode"] = "boat"
    with pytest.raises(RecordError, match=r"^m.json: episodes.3.mode: Input should be 'transport' or 'household' \(got 'boat'\)"):
        parse_manifest(json.dumps(manifest), where="m.json")
    with pytest.raises(RecordError, match=r"^m.json:1:2: not valid JSON"):
        parse_manifest("{,", where="m.json")
