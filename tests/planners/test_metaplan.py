"""Meta-plan records and the tolerant parsers: every way a reply can be read is exercised."""

from __future__ import annotations

import json

import pytest

from promptopt.planners.execution import match_step, parse_choice
from promptopt.planners.metaplan import MetaPlan, Subtask, default_plan, parse_critique, parse_metaplan

TEAM = ("Alice", "Bob")
PLAN = {"subtasks": [{"id": "s1", "agent": "Alice", "goal": "explore Kitchen", "steps": ["go to Kitchen; go to Porch", "wait"],
                      "status": "todo"},
                     {"id": "s2", "agent": "bob", "goal": "explore Office", "steps": "go to Office; explore current room Office"}],
        "rationale": "split"}


def test_plan_from_json_with_prose_around_it_and_normalised_fields() -> None:
    parsed = parse_metaplan("Here is the plan:\n" + json.dumps(PLAN) + "\nGood luck!", TEAM)
    assert parsed.method == "json"
    plan = parsed.value
    assert [s.agent for s in plan.subtasks] == ["Alice", "Bob"]
    # Qwen2.5-Coder-0.5B packs several steps into one list item: each is its own step
    assert plan.subtasks[0].steps == ("go to Kitchen", "go to Porch", "wait")
    assert plan.subtasks[1].steps == ("go to Office", "explore current room Office")
    assert plan.rationale == "split"


def test_plan_repaired_from_fences_single_quotes_and_trailing_commas() -> None:
    text = "```json\n{'subtasks': [{'id': 's1', 'agent': 'Alice', 'goal': 'explore', 'steps': ['go to Kitchen',],},],}\n```"
    parsed = parse_metaplan(text, TEAM)
    assert parsed.method == "repaired"
    assert parsed.value.subtasks[0].steps == ("go to Kitchen",)
    cut = json.dumps(PLAN)[:-30]  # a reply cut off by the token cap
    assert parse_metaplan(cut, TEAM).method == "repaired"


def test_plan_read_from_lines_and_default_when_nothing_usable() -> None:
    parsed = parse_metaplan("1. Alice: go to Kitchen; explore current room Kitchen\n2. Bob: go to Office\nZed: dance", TEAM)
    assert parsed.method == "lines"
    assert [(s.agent, s.steps) for s in parsed.value.subtasks] == [
        ("Alice", ("go to Kitchen", "explore current room Kitchen")), ("Bob", ("go to Office",))]
    fallback = parse_metaplan("I like turtles", TEAM)
    assert fallback.method == "default" and fallback.value == default_plan(TEAM)
    previous = MetaPlan((Subtask("x", "Bob", "keep going"),), "old", 4)
    kept = parse_metaplan("I like turtles", TEAM, previous)
    assert kept.method == "default" and kept.value.subtasks == previous.subtasks


def test_unknown_agents_are_dropped_and_duplicate_ids_renamed() -> None:
    text = json.dumps({"subtasks": [{"id": "a", "agent": "Zed", "goal": "g"}, {"id": "a", "agent": "Alice", "goal": "g"},
                                    {"id": "a", "agent": "Bob", "goal": "h"}]})
    plan = parse_metaplan(text, TEAM).value
    assert [(s.id, s.agent) for s in plan.subtasks] == [("a", "Alice"), ("a-2", "Bob")]


def test_merge_changes_only_named_subtasks_and_never_finished_ones() -> None:
    plan = MetaPlan((Subtask("s1", "Alice", "a", ("go to Kitchen",), "done"), Subtask("s2", "Bob", "b"),
                     Subtask("s3", "Alice", "c")), "r", 2)
    update = MetaPlan((Subtask("s1", "Alice", "changed"), Subtask("s2", "Bob", "b2", ("wait",)), Subtask("s4", "Bob", "new")))
    merged = plan.merge(update)
    assert merged.version == 3
    assert merged.subtasks[0] == plan.subtasks[0]  # done: frozen
    assert merged.subtasks[1].goal == "b2"
    assert merged.subtasks[2] == plan.subtasks[2]  # not named: untouched
    assert merged.subtasks[3].id == "s4"
    assert MetaPlan.from_dict(merged.to_dict()) == merged


def test_critique_json_words_and_default() -> None:
    c = parse_critique('{"agree": false, "issues": ["Bob is far"], "suggested_changes": "swap", "new_information": []}')
    assert c.method == "json" and not c.value.agree and c.value.issues == ("Bob is far",)
    assert c.value.suggested_changes == ("swap",)
    assert parse_critique("{'agree': True}").method == "repaired"
    no = parse_critique("I do not agree, the kitchen is empty")
    assert no.method == "lines" and not no.value.agree
    yes = parse_critique("Yes, looks good.")
    assert yes.method == "lines" and yes.value.agree
    silent = parse_critique("...")
    assert silent.method == "default" and silent.value.agree


ACTIONS = ("go to Kitchen", "explore current room Office", "go grasp target object apple (12)",
           "send a message: <text>", "wait")


def test_action_choice_exact_letter_fuzzy_default() -> None:
    assert parse_choice("go grasp target object apple (12)", ACTIONS) == ("go grasp target object apple (12)", "exact")
    assert parse_choice("C. go grasp target object apple (12)", ACTIONS)[1] == "exact"
    assert parse_choice("B", ACTIONS) == ("explore current room Office", "letter")
    assert parse_choice("The answer is A.", ACTIONS) == ("go to Kitchen", "letter")
    assert parse_choice("(c)", ACTIONS) == ("go grasp target object apple (12)", "letter")
    assert parse_choice("go grab target objet apple (12)", ACTIONS) == ("go grasp target object apple (12)", "fuzzy")
    assert parse_choice("I think so", ACTIONS) == ("wait", "default")
    assert parse_choice("Z", ACTIONS) == ("wait", "default")  # a letter with no action


def test_plan_steps_match_the_one_action_holding_their_words() -> None:
    assert match_step("Go to kitchen.", ACTIONS) == "go to Kitchen"
    assert match_step("go to the Kitchen and look", ACTIONS) is None
    assert match_step("grasp apple (12)", ACTIONS) == "go grasp target object apple (12)"
    assert match_step("grasp apple (13)", ACTIONS) == "go grasp target object apple (12)"  # the only apple
    assert match_step("grasp pear (12)", ACTIONS) is None
    fruit = ("go to Kitchen", "go grasp target object apple (12)", "go grasp target object pear (3)", "wait")
    # a step for an object nobody has seen takes the first action of its kind
    assert match_step("go grasp target object 1", fruit) == "go grasp target object apple (12)"
    assert match_step("go grasp target object <name> (<id>)", fruit) == "go grasp target object apple (12)"
    assert match_step("grasp pear", fruit) == "go grasp target object pear (3)"
    assert match_step("grab target object key (89)", fruit) is None  # "grab": no action of that kind
    two_rooms = ("explore current room Office", "go to Office", "go to Kitchen", "wait")
    assert match_step("Office", two_rooms) is None  # two actions hold it: ambiguous
    assert match_step("", two_rooms) is None
    assert match_step("send a message: I take the Office", ACTIONS) == "send a message: I take the Office"
    assert match_step("send a message: <text>", ACTIONS) is None


def test_records_keep_the_layout_episode_files_were_written_in() -> None:
    from promptopt.planners.adaptation import ProgressEvent
    from promptopt.planners.discussion import DiscussionResult
    from promptopt.planners.environments import Event
    from promptopt.planners.metaplan import Critique
    from promptopt.records import RecordError

    plan = MetaPlan((Subtask("s1", "Alice", "a", ("go to Kitchen",), "done"),), "r", 2)
    subtask = {"id": "s1", "agent": "Alice", "goal": "a", "steps": ["go to Kitchen"], "status": "done"}
    assert plan.to_dict() == {"version": 2, "rationale": "r", "subtasks": [subtask]}
    assert list(plan.to_dict()) == ["version", "rationale", "subtasks"]
    assert plan.to_json() == json.dumps({"subtasks": [subtask], "rationale": "r"}, separators=(",", ":"))
    result = DiscussionResult(plan, None, 1, 2, 3, ({"module": "draft"},)).to_dict()
    assert list(result) == ["plan", "consensus", "rounds", "messages", "characters", "log"]
    assert list(result["plan"]) == ["version", "rationale", "subtasks"] and result["log"] == [{"module": "draft"}]
    assert Critique(False, ("x",)).to_dict() == {"agree": False, "issues": ["x"], "suggested_changes": [], "new_information": []}
    assert ProgressEvent(3, "Bob", "goal found", "bed").to_dict() == {"tick": 3, "agent": "Bob", "kind": "goal found", "detail": "bed"}
    event = Event(4, "Bob", "go", "finished", data=(("room", "Office"), ("found", [1, 2])))
    assert event.to_dict() == {"tick": 4, "agent": "Bob", "action": "go", "kind": "finished", "reason": "",
                               "data": {"room": "Office", "found": [1, 2]}}
    with pytest.raises(RecordError, match=r"^MetaPlan: subtasks.0.agent: Field required$"):
        MetaPlan.from_dict({"subtasks": [{"id": "s1", "goal": "g"}]})
