"""Rubric records, guards, canaries and the gate's pure checks (no LLM)."""

from __future__ import annotations

import json
import re

import pytest
import world
from promptopt.judging import brief_summary

from promptopt.judging.canaries import CANARY_KINDS, build_canaries
from promptopt.judging.gate import (
    GateConfig,
    check_leakage,
    check_shape,
    rank_agreement,
)
from promptopt.judging.guards import GuardConfig, check_output, detect_language
from promptopt.judging.judge import parse_judgement, reward_of
from promptopt.judging.rubric import Rubric, RubricError, parse_rubric_text, rubric_path


def test_rubric_round_trips_through_a_versioned_file(tmp_path):
    rubric = Rubric.from_dict({"items": world.GOOD_ITEMS}).with_version(3, 2)
    path = rubric.save(rubric_path(tmp_path, rubric.version))
    assert path == tmp_path / "rubrics" / "v003.json"
    loaded = Rubric.load(path)
    assert loaded == rubric and loaded.version == 3 and loaded.parent == 2
    assert [i.max_score for i in loaded.items] == [4, 4, 4]


@pytest.mark.parametrize(
    "items, field",
    [
        ([{"name": "a", "description": "x"}], "items.0.max: Field required"),
        ([{"name": "a", "description": "x", "max": 0}], "items.0.max: Input should be greater than or equal to 1 (got 0)"),
        ([{"name": "a", "description": "x", "max": True}], "items.0.max: Input should be a valid integer (got True)"),
        ([{"name": "a", "description": "x", "max": 2}, {"name": "b", "description": "", "max": 2}],
         "items.1.description: must be a non-empty string (got '')"),
        ([{"name": "a", "description": "x", "max": 2}, {"name": "a", "description": "y", "max": 2}],
         "rubric item names must be distinct; repeated: a"),
        ([], "items: a rubric needs at least one item"),
    ],
)
def test_a_bad_rubric_file_names_the_item_and_field(tmp_path, items, field):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"items": items}))
    with pytest.raises(RubricError) as info:
        Rubric.load(path)
    assert str(info.value) == f"{path}: {field}"


@pytest.mark.parametrize(
    "content, message",
    [
        ({"schema_version": 2, "items": []}, "schema_version: unknown schema version 2 (this promptopt reads 1"),
        ({"format": "promptopt.racing.ScoreBook", "items": []}, "format: 'promptopt.racing.ScoreBook' is not a rubric"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_a_rubric_file_of_another_schema_or_kind_says_so_before_any_field(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(content))
    with pytest.raises(RubricError, match=re.escape(f"{path}: {message}")):
        Rubric.load(path)
    path.write_text('{"items": [}')
    with pytest.raises(RubricError, match=re.escape(f"{path}:1:12: not valid JSON")):
        Rubric.load(path)


def test_rubric_items_read_the_spellings_models_write():
    rubric = Rubric.from_dict({"items": [
        {"description": "Names  the subject.", "max_score": "5"},
        {"name": "Word Limit!", "description": "d", "max": 4.0},
        {"name": "tone", "description": "e", "max": " 7 "},
    ], "version": 2, "parent": 1})
    assert [(i.name, i.description, i.max_score) for i in rubric.items] == [
        ("names_the_subject", "Names the subject.", 5), ("word_limit", "d", 4), ("tone", "e", 7)]
    assert (rubric.version, rubric.parent, rubric.origin) == (2, 1, "file")
    assert list(rubric.to_dict()) == ["format", "version", "parent", "origin", "notes", "items"]
    assert rubric.to_dict()["items"][0] == {"name": "names_the_subject", "description": "Names the subject.", "max": 5}


def test_rubric_text_parses_from_json_or_lines_and_says_when_absent():
    from_json = parse_rubric_text('Sure! <rubric>{"items": [{"name": "x", "description": "d", "max": 3}]}</rubric>')
    assert from_json.items[0].max_score == 3
    from_lines = parse_rubric_text("- Word limit (max 4): at most 20 words\n2. Subject (max 3): names it")
    assert from_lines.names == ("word_limit", "subject") and from_lines.items[1].max_score == 3
    with pytest.raises(RubricError, match="no rubric found"):
        parse_rubric_text("I think the rubric is fine.")


def test_complete_items_of_a_cut_off_or_malformed_rubric_answer_are_kept():
    # Qwen2.5-Coder-0.5B as meta-judge: cut off at max_tokens inside the fourth item (a repeated
    # name and an item without a maximum on the way), then a list with nested objects
    cut = ('<rubric>{"items": [{"name": "word_limit", "description": "At most 20 words.", "max": 10}, '
           '{"name": "word_limit", "description": "Again.", "max": 5}, {"name": "no_max", "description": "x"}, '
           '{"name": "names_place", "description": "Names the place.", "max": 5}, {"name": "tone", "descr')
    rubric = parse_rubric_text(cut)
    assert [(i.name, i.max_score) for i in rubric.items] == [("word_limit", 10), ("names_place", 5)]
    assert "2 complete item(s)" in rubric.notes and "not valid JSON" in rubric.notes
    nested = ('{"items": [{"name": "a", "description": "first", "max": 3}], {"items": [{"name": "b", '
              '"description": "second", "max": 2}]}]}')
    assert parse_rubric_text(nested).names == ("a", "b")
    with pytest.raises(RubricError, match="not valid JSON"):  # nothing complete to keep
        parse_rubric_text('{"items": [{"name": "a", "descr": "x"}, {"name": "b", "descr')


def test_judgement_scores_are_clipped_and_reward_is_the_mean_share():
    rubric = Rubric.from_dict({"items": [{"name": "a", "description": "d", "max": 4}, {"name": "b", "description": "d", "max": 10}]})
    items = parse_judgement('{"items": [{"name": "a", "score": 9}, {"name": "b", "score": "-3"}]}', rubric)
    assert [(i.score, i.clipped) for i in items] == [(4, True), (0, True)]
    assert reward_of(items) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no score for item 'b'"):
        parse_judgement('{"items": [{"name": "a", "score": 1}]}', rubric)
    with pytest.raises(ValueError, match="not a number"):
        parse_judgement('{"a": 1, "b": "great"}', rubric)


def test_judge_requests_have_room_for_every_rubric_item():
    from promptopt.judging.judge import TOKENS_PER_ITEM, RubricJudge
    from promptopt.llm.records import Sampling

    six = Rubric.from_dict({"items": [{"name": f"i{n}", "description": "d", "max": 2} for n in range(6)]})
    judge = RubricJudge(None, six, "task", str, sampling=Sampling(max_tokens=160))  # type: ignore[arg-type]
    assert judge.request_sampling.max_tokens == 6 * TOKENS_PER_ITEM + 16  # 160 cannot hold six entries
    roomy = judge.with_rubric(Rubric.from_dict({"items": [{"name": "a", "description": "d", "max": 2}]}))
    assert roomy.request_sampling == Sampling(max_tokens=160)  # a cap that fits is kept as it is


def test_judgement_parser_survives_what_a_real_small_judge_wrote():
    # Qwen2.5-Coder-0.5B as judge: the passage's place in "name", and the object closed twice
    rubric = Rubric.from_dict({"items": [{"name": "a", "description": "d", "max": 10}]})
    items = parse_judgement('{"items": [{"name": "Oshaven", "rationale": "fine", "score": 10}]}}', rubric)
    assert [(i.name, i.score, i.rationale) for i in items] == [("a", 10, "fine")]
    assert parse_judgement('Here: {"a": 3} and that is all. {"b": 1}', rubric)[0].score == 3
    two = Rubric.from_dict({"items": [{"name": "a", "description": "d", "max": 4},
                                      {"name": "b", "description": "d", "max": 4}]})
    with pytest.raises(ValueError, match="no score for item 'b'"):  # one known name: matched by name only
        parse_judgement('{"items": [{"name": "a", "score": 1}, {"name": "x", "score": 2}]}', two)
    with pytest.raises(ValueError, match="does not parse"):  # cut off at max_tokens
        parse_judgement('{"items": [{"name": "a", "rationale": "The passage', rubric)


def test_scores_written_before_a_runaway_rationale_survive_the_token_cap():
    # Qwen2.5-Coder-0.5B as judge repeated a phrase in its last rationale until max_tokens
    two = Rubric.from_dict({"items": [{"name": "a", "description": "d", "max": 4},
                                      {"name": "b", "description": "d", "max": 4}]})
    cut = ('{"items": [{"name": "a", "score": 3, "rationale": "names \\"Oshaven\\" once"}, '
           '{"name": "b", "score": 9, "rationale": "it is short and it is short and it is')
    items = parse_judgement(cut, two, truncated=True)
    assert [(i.name, i.score, i.clipped, i.rationale) for i in items] == [
        ("a", 3, False, 'names "Oshaven" once'), ("b", 4, True, "")]
    assert parse_judgement(cut, two) == items  # the same fields, whatever stopped the answer
    # closed with a stray bracket (Qwen2.5-Coder-0.5B, one judge answer in eight)
    stray = '{"items": [{"name": "Brenholt", "score": 5, "rationale": "most visitors arrive by bicycle."}]]}'
    one = Rubric.from_dict({"items": [{"name": "a", "description": "d", "max": 10}]})
    assert [(i.name, i.score) for i in parse_judgement(stray, one)] == [("a", 5)]
    with pytest.raises(ValueError, match="does not parse"):  # nothing readable: still an error
        parse_judgement('{"items": [{"name": "a", "rationale": "fine"}]]}', one)
    with pytest.raises(ValueError, match="no score for item 'b'"):  # cut before b's score
        parse_judgement('{"items": [{"name": "a", "score": 3, "rationale": "it is short and', two, truncated=True)
    with pytest.raises(ValueError, match="before any score"):
        parse_judgement('{"items": [{"name": "a", "rationale": "it is', two, truncated=True)


def test_guards_catch_empty_echo_length_and_language():
    config = GuardConfig(min_words=2, max_words=30, language="en")
    passage = "Varholt is a river town in the northern hills. It is best known for its stone bridges."
    assert check_output("   ", input_text=passage, config=config) == "empty"
    assert check_output(passage, input_text=passage, config=config) == "echo_input"
    assert check_output("Summarize the passage briefly.", prompt_text="Summarize the passage briefly.", config=config) == "echo_prompt"
    assert check_output("word " * 40, input_text=passage, config=config) == "too_long"
    assert check_output("Varholt ist eine Stadt und sie ist für ihre Brücken bekannt.", config=config) == "wrong_language"
    assert check_output("Varholt is a river town known for its stone bridges.", input_text=passage, config=config) is None
    assert detect_language("Это короткий текст") == "non-latin"


def test_canaries_cover_every_kind_and_the_gate_checks_shape_and_leakage():
    task = brief_summary.load()
    rubric = Rubric.from_dict({"items": world.GOOD_ITEMS})
    canaries = build_canaries(task.dev[:1], task.render_input, task_description=task.description, rubric=rubric, language="en")
    assert [c.kind for c in canaries] == list(CANARY_KINDS)
    salad = next(c.output for c in canaries if c.kind == "keyword_salad")
    assert "subject" in salad and "complete" in salad  # the rubric's own words
    config = GateConfig()
    assert check_shape(rubric, config).passed
    assert not check_shape(Rubric.from_dict({"items": world.TWO_ITEMS}), config).passed
    inputs = [task.render_input(e) for e in task.dev]
    assert check_leakage(rubric, task.dev, inputs, config).passed
    leaky = check_leakage(Rubric.from_dict({"items": world.leaky_items(task)}), task.dev, inputs, config)
    assert not leaky.passed and "quotes dev input 0" in leaky.detail
    named = Rubric.from_dict({"items": world.GOOD_ITEMS + [{"name": "x", "description": f"Mentions {task.dev[3].target}.", "max": 1}]})
    assert "names the reference" in check_leakage(named, task.dev, inputs, config).detail


def test_rank_agreement_counts_concordant_pairs():
    assert rank_agreement([0.9, 0.1, 0.2], [1, 0, 0]) == 1.0
    assert rank_agreement([0.2, 0.9, 0.2], [1, 0, 0]) == 0.25  # one discordant pair, one tie
    assert rank_agreement([0.5, 0.5], [1, 1]) is None


def test_analysis_sample_takes_the_top_first_one_output_per_prompt_and_skips_guard_stops():
    import random

    from promptopt.judging.judge import Verdict
    from promptopt.optimizers.rubric_step import JudgedOutput, sample_for_analysis

    task = brief_summary.load()
    pool = [
        JudgedOutput(f"p{i % 10}", task.dev[i], f"out {i}", Verdict(reward=i / 40, rubric_version=1))
        for i in range(40)
    ]
    pool.append(JudgedOutput("guarded", task.dev[0], "", Verdict(0.99, 1, guard="empty")))
    pool.append(JudgedOutput("broken", task.dev[0], "x", Verdict(0.0, 1, error="judge failed")))
    chosen = sample_for_analysis(pool, 6, random.Random(0))
    prompts = [o.candidate for o in chosen]
    assert len(chosen) == 6 and len(set(prompts)) == 6  # deduplicated by prompt
    assert prompts[:3] == ["p9", "p8", "p7"]  # the top-scored first (their best outputs: 39, 38, 37)
    assert "guarded" not in prompts and "broken" not in prompts
    assert chosen[0].output == "out 39"
