"""Answer parsers: tags, every kind, failures that never fall back to a default, specs."""

from __future__ import annotations

import json
import re
import time
import warnings

import pytest

from promptopt.tasks import parsers
from promptopt.tasks.parsers import (
    ChoiceParser,
    ExactParser,
    JsonFieldParser,
    LabelParser,
    NumberParser,
    RegexParser,
    normalize_label,
    normalize_number,
    parser_from_spec,
)
from promptopt.tasks.records import AnswerParser, ParsedAnswer

SENTIMENT = LabelParser(("positive", "negative"))
SST5 = LabelParser(("terrible", "bad", "okay", "good", "great"))


def tagged(*answers: str) -> str:
    return " ".join(f"<final_answer>{a}</final_answer>" for a in answers)


def assert_failed(answer: ParsedAnswer, *fragments: str) -> None:
    assert answer.ok is False
    assert answer.value is None
    assert answer.error
    for fragment in fragments:
        assert fragment in answer.error


# ---------------------------------------------------------------------------- tags


def test_answer_inside_chatter_is_read_from_the_tag() -> None:
    text = "Sure! The answer is <final_answer>Positive</final_answer>. Hope this helps"
    assert SENTIMENT.parse(text) == ParsedAnswer("positive", True)


def test_missing_tag_fails_instead_of_defaulting_to_a_class() -> None:
    assert_failed(SENTIMENT.parse("The review is clearly positive."), "no <final_answer> tag")


def test_tag_is_case_insensitive_and_whitespace_is_stripped() -> None:
    assert SENTIMENT.parse("<FINAL_ANSWER>  POSITIVE \n</Final_Answer>").value == "positive"
    assert SENTIMENT.parse("< final_answer >negative</ final_answer >").value == "negative"


def test_several_tags_agreeing_are_fine_and_conflicting_ones_fail() -> None:
    assert SENTIMENT.parse(tagged("Positive", "positive.")).value == "positive"
    assert_failed(SENTIMENT.parse(tagged("positive", "negative")), "conflicting answers", "positive", "negative")


def test_one_unparseable_tag_among_several_fails() -> None:
    assert_failed(SENTIMENT.parse(tagged("positive", "no idea")), "2 of 2", "no label")


def test_empty_tag_fails() -> None:
    assert_failed(SENTIMENT.parse(tagged("  \n ")), "empty")
    assert_failed(ExactParser().parse(tagged("")), "empty")


def test_unclosed_last_tag_reads_to_the_end() -> None:
    # What a stop sequence of "</final_answer>" leaves behind.
    assert SENTIMENT.parse("Reasoning... <final_answer>negative").value == "negative"


def test_custom_tag_and_no_tag() -> None:
    parser = LabelParser(("yes", "no"), tag="answer")
    assert parser.parse("<answer>Yes</answer>").value == "yes"
    assert_failed(parser.parse("<final_answer>yes</final_answer>"), "no <answer> tag")
    untagged = LabelParser(("yes", "no"), tag=None)
    assert untagged.parse("  YES! ").value == "yes"
    assert_failed(untagged.parse("   "), "empty")


@pytest.mark.parametrize("tag", ["", "a b", "<x>", "x>", 3])
def test_bad_tag_names_are_rejected(tag: object) -> None:
    with pytest.raises(ValueError, match="tag"):
        ExactParser(tag=tag)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- labels


def test_normalize_label() -> None:
    assert normalize_label('  "Very   Positive!" \n') == "very positive"
    assert normalize_label("«okay»") == "okay"


def test_labels_keep_their_canonical_spelling() -> None:
    parser = LabelParser(("Positive", "Negative"))
    assert parser.parse(tagged("positive")).value == "Positive"
    assert parser.parse(tagged("'NEGATIVE'")).value == "Negative"


def test_label_found_as_a_whole_word_in_longer_text() -> None:
    assert SENTIMENT.parse(tagged("The sentiment is negative overall.")).value == "negative"
    assert_failed(SENTIMENT.parse(tagged("It is negatively framed")), "no label")


def test_no_label_and_ambiguous_labels_fail() -> None:
    assert_failed(SENTIMENT.parse(tagged("neutral")), "no label from ['positive', 'negative']")
    assert_failed(SENTIMENT.parse(tagged("positive or negative")), "ambiguous", "positive", "negative")


def test_aliases_map_to_their_label() -> None:
    parser = LabelParser(("positive", "negative"), aliases={"pos": "positive", "neg": "negative", "good": "positive"})
    assert parser.parse(tagged("POS")).value == "positive"
    assert parser.parse(tagged("This is good.")).value == "positive"
    assert parser.parse(tagged("good", "positive")).value == "positive"  # alias and label agree
    assert_failed(parser.parse(tagged("good, not neg")), "ambiguous")


def test_sst5_labels_do_not_match_inside_other_words() -> None:
    assert SST5.parse(tagged("Good")).value == "good"
    assert SST5.parse(tagged("I'd say it's okay")).value == "okay"
    assert SST5.parse(tagged("not bad")).value == "bad"  # negations are not interpreted
    assert_failed(SST5.parse(tagged("badly made")), "no label")
    assert_failed(SST5.parse(tagged("goodness")), "no label")
    assert_failed(SST5.parse(tagged("good, maybe great")), "ambiguous", "good", "great")


def test_longest_label_at_a_position_wins() -> None:
    parser = LabelParser(("very negative", "negative", "neutral", "positive", "very positive"))
    assert parser.parse(tagged("very positive")).value == "very positive"
    assert parser.parse(tagged("I'd call it Very\n Positive, honestly")).value == "very positive"
    assert parser.parse(tagged("positive")).value == "positive"
    assert parser.parse(tagged("It is positive, very.")).value == "positive"
    assert_failed(parser.parse(tagged("very positive or positive")), "ambiguous")


def test_label_parser_validation() -> None:
    with pytest.raises(ValueError, match="labels"):
        LabelParser(())
    with pytest.raises(ValueError, match="labels"):
        LabelParser(("Yes", "yes"))
    with pytest.raises(ValueError, match="aliases"):
        LabelParser(("yes", "no"), aliases={"y": "maybe"})
    with pytest.raises(ValueError, match="aliases"):
        LabelParser(("yes", "no"), aliases={"no": "yes"})


def test_label_parser_is_frozen_and_keeps_a_copy_of_aliases() -> None:
    aliases = {"pos": "positive"}
    parser = LabelParser(("positive", "negative"), aliases=aliases)
    aliases["neg"] = "negative"
    assert_failed(parser.parse(tagged("neg")), "no label")
    with pytest.raises(AttributeError):
        parser.labels = ("x",)  # type: ignore[misc]
    assert hash(parser) == hash(LabelParser(("positive", "negative"), aliases={"pos": "positive"}))


# ---------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("24", "24"),
        ("24.0", "24"),
        ("The total is 1,234 apples.", "1234"),
        ("It costs $1,234.50", "1234.5"),
        ("The change is -7 degrees", "-7"),
        ("a loss of -$3.25", "-3.25"),
        ("0.5", "0.5"),
        (".75", "0.75"),
        ("So she has 18.", "18"),
        ("3 + 4 = 7, then 7 * 2 = 14", "14"),
        ("pages 3-4", "4"),
        ("1,2,3", "3"),
        ("1,000,000", "1000000"),
    ],
)
def test_number_last(text: str, value: str) -> None:
    assert NumberParser(tag=None).parse(text).value == value
    assert NumberParser().parse(f"Let me think. <final_answer>{text}</final_answer>").value == value


def test_number_after_hashes() -> None:
    parser = NumberParser(mode="after_hashes", tag=None)
    assert parser.parse("She sold 48 then 24 more.\n#### 72").value == "72"
    assert parser.parse("#### $1,080.00").value == "1080"
    assert parser.parse("#### -5").value == "-5"
    assert_failed(parser.parse("The answer is 72"), "no number after ####")
    assert_failed(parser.parse("#### 3\n#### 4"), "conflicting")
    assert parser.parse("#### 3\n#### 3.0").value == "3"


def test_number_failures() -> None:
    assert_failed(NumberParser().parse(tagged("twelve")), "no number")
    assert_failed(NumberParser().parse("The answer is 12"), "no <final_answer> tag")
    assert_failed(NumberParser().parse(tagged("12", "13")), "conflicting")
    assert NumberParser().parse(tagged("12", "12.0", "$12")).value == "12"


def test_number_tolerance_decides_agreement() -> None:
    assert NumberParser(tolerance=0.01).parse(tagged("0.333", "0.3333")).ok
    assert not NumberParser(tolerance=1e-9).parse(tagged("0.333", "0.3333")).ok


def test_normalize_number() -> None:
    assert normalize_number(" $1,234.50. ") == "1234.5"
    assert normalize_number("-0") == "0"
    assert normalize_number("72") == "72"
    assert normalize_number("about 72") is None
    assert normalize_number("") is None


def test_number_parser_validation() -> None:
    with pytest.raises(ValueError, match="mode"):
        NumberParser(mode="first")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance"):
        NumberParser(tolerance=-1)
    with pytest.raises(ValueError, match="tolerance"):
        NumberParser(tolerance=float("nan"))


# ---------------------------------------------------------------------------- choices


@pytest.mark.parametrize(
    "text",
    ["(B)", "B", "b", "B)", " (b) ", "B.", "The answer is (B).", "answer is B", "Answer: (B)",
     "I choose option b", "option B.", "The answer is b.", "Between the options, (B) fits best."],
)
def test_choice_formats(text: str) -> None:
    assert ChoiceParser().parse(tagged(text)) == ParsedAnswer("(B)", True)
    assert ChoiceParser(tag=None).parse(text).value == "(B)"


def test_choice_is_conservative_about_bare_letters() -> None:
    parser = ChoiceParser(tag=None)
    assert_failed(parser.parse("A dog is the best pet"), "no choice")
    assert_failed(parser.parse("the answer is a dog"), "no choice")
    assert parser.parse("A").value == "(A)"
    assert parser.parse("The answer is A because it fits").value == "(A)"


def test_choice_prefers_the_stated_answer_over_discussed_options() -> None:
    text = "Option A is too small. Option C is red. (D) is wrong. So the answer is (C)."
    assert ChoiceParser(tag=None).parse(text).value == "(C)"


def test_choice_conflicts_fail() -> None:
    assert_failed(ChoiceParser().parse(tagged("(A) or (C)")), "conflicting", "(A)", "(C)")
    assert_failed(ChoiceParser().parse(tagged("(A)", "(B)")), "conflicting")
    assert_failed(ChoiceParser().parse(tagged("(G)")), "no choice")


def test_choice_custom_letters() -> None:
    parser = ChoiceParser(letters=tuple("ABCDEFGHIJK"))
    assert parser.parse(tagged("(K)")).value == "(K)"
    assert_failed(ChoiceParser().parse(tagged("(K)")), "no choice")
    with pytest.raises(ValueError, match="letters"):
        ChoiceParser(letters=("A", "BB"))
    with pytest.raises(ValueError, match="letters"):
        ChoiceParser(letters=("A", "a"))


# ---------------------------------------------------------------------------- exact, regex, JSON


def test_exact() -> None:
    assert ExactParser().parse("Here: <final_answer>  Paris, France \n</final_answer>").value == "Paris, France"
    assert ExactParser(tag=None).parse("  Paris ").value == "Paris"
    assert_failed(ExactParser().parse("Paris"), "no <final_answer> tag")
    assert_failed(ExactParser().parse(tagged("Paris", "Lyon")), "conflicting")


def test_regex_groups_and_flags() -> None:
    parser = RegexParser(r"answer:\s*(\w+)", flags="i", tag=None)
    assert parser.parse("ANSWER: Paris").value == "Paris"
    assert_failed(RegexParser(r"answer:\s*(\w+)", tag=None).parse("ANSWER: Paris"), "no match")
    named = RegexParser(r"(?P<city>[A-Z]\w+) is the capital", group="city")
    assert named.parse(tagged("I think Paris is the capital")).value == "Paris"
    whole = RegexParser(r"\d+-\d+", group=0, tag=None)
    assert whole.parse("score 3-2 final").value == "3-2"
    assert_failed(RegexParser(r"x(y)?", tag=None).parse("x"), "empty")


def test_regex_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match=r"\(unclosed"):
        RegexParser("(unclosed")
    with pytest.raises(ValueError, match="group"):
        RegexParser(r"(a)", group=2)
    with pytest.raises(ValueError, match="group"):
        RegexParser(r"(a)", group="name")
    with pytest.raises(ValueError, match="flags"):
        RegexParser(r"(a)", flags="x")  # type: ignore[arg-type]


def test_an_artifacts_nested_repetition_pattern_answers_at_once_with_no_answer() -> None:
    """Issue 14, row 16: ``(a+)+$`` took 1.45 s on 24 characters under ``re``, doubling per
    character; 31 characters would take minutes. Parsing must stay bounded."""
    parser = parser_from_spec({"kind": "regex", "pattern": "(a+)+$", "group": 1, "tag": None})
    start = time.monotonic()
    answer = parser.parse("a" * 30 + "!")
    assert time.monotonic() - start < 1.0
    assert_failed(answer)


def test_a_search_that_backtracks_past_the_bound_is_stopped_and_warned_once(monkeypatch) -> None:
    """A pattern even the bounded engine backtracks on: stopped after REGEX_TIMEOUT_S, the answer
    unparsed, one warning naming the pattern however many answers hit it."""
    monkeypatch.setattr(parsers, "_slow_patterns", set())
    parser = RegexParser(r"(a|aa)+$")
    text = tagged("a" * 32 + "!")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            start = time.monotonic()
            answer = parser.parse(text)
            assert time.monotonic() - start < parsers.REGEX_TIMEOUT_S + 0.5
            assert_failed(answer, "(a|aa)+$", "stopped after")
    messages = [str(w.message) for w in caught if "(a|aa)+$" in str(w.message)]
    assert len(messages) == 1 and "catastrophic backtracking" in messages[0]
    # the pattern still parses outputs it does not backtrack on
    assert RegexParser(r"(a|aa)+$", tag=None).parse("aaa").value == "a"


def test_json_field_with_fences_and_chatter() -> None:
    parser = JsonFieldParser("answer", tag=None)
    text = 'Sure, here it is:\n```json\n{"reasoning": "because {x}", "answer": " Paris "}\n```\nAnything else?'
    assert parser.parse(text).value == "Paris"
    assert parser.parse('{"answer": 3.0}').value == "3"
    assert parser.parse('{"answer": true}').value == "true"
    assert parser.parse('{"answer": ["a", "b"]}').value == '["a", "b"]'
    assert JsonFieldParser("answer").parse(tagged('{"answer": "yes"}')).value == "yes"


def test_json_field_failures() -> None:
    parser = JsonFieldParser("answer", tag=None)
    assert_failed(parser.parse('{"label": "yes"}'), "'answer'")
    assert_failed(parser.parse("answer: yes"), "no JSON object")
    assert_failed(parser.parse('{"answer": "yes"'), "no JSON object")
    assert_failed(parser.parse('{"answer": null}'), "null")
    assert_failed(parser.parse('{"answer": ""}'), "empty")
    assert_failed(parser.parse("[1, 2]"), "no JSON object")


# ---------------------------------------------------------------------------- specs

ALL_PARSERS: list[AnswerParser] = [
    LabelParser(("positive", "negative")),
    LabelParser(("Yes", "No"), aliases={"y": "Yes", "n": "No"}, tag=None),
    NumberParser(),
    NumberParser(tolerance=0.01, mode="after_hashes", tag="answer"),
    ChoiceParser(),
    ChoiceParser(letters=("A", "B", "C"), tag=None),
    ExactParser(),
    ExactParser(tag=None),
    RegexParser(r"(?P<x>\d+)", group="x", flags="i"),
    RegexParser(r"a(b)c"),
    JsonFieldParser("answer"),
    JsonFieldParser("label", tag=None),
]


@pytest.mark.parametrize("parser", ALL_PARSERS, ids=lambda p: type(p).__name__)
def test_spec_round_trips_through_json(parser: AnswerParser) -> None:
    spec = parser.spec()
    assert isinstance(spec["kind"], str)
    rebuilt = parser_from_spec(json.loads(json.dumps(spec)))
    assert rebuilt == parser
    assert rebuilt.spec() == spec
    assert isinstance(rebuilt, AnswerParser)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({}, "'kind'"),
        ({"kind": "python"}, "'python'"),
        ({"kind": 3}, "3"),
        ({"kind": "label"}, "labels"),
        ({"kind": "label", "labels": "positive"}, "labels"),
        ({"kind": "label", "labels": [1, 2]}, "labels"),
        ({"kind": "label", "labels": ["a"], "aliases": ["b"]}, "aliases"),
        ({"kind": "label", "labels": ["a"], "colour": "red"}, "colour"),
        ({"kind": "number", "tolerance": "0.1"}, "tolerance"),
        ({"kind": "number", "mode": "first"}, "mode"),
        ({"kind": "choice", "letters": ["AB"]}, "letters"),
        ({"kind": "regex"}, "pattern"),
        ({"kind": "regex", "pattern": "(", "group": 1}, "pattern"),
        ({"kind": "regex", "pattern": "(a)", "group": 1.5}, "group"),
        ({"kind": "json_field", "field": ""}, "field"),
        ({"kind": "exact", "tag": "<x>"}, "tag"),
    ],
)
def test_invalid_specs_raise_value_error_naming_the_field(spec: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parser_from_spec(spec)


def test_invalid_spec_that_is_not_a_mapping() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        parser_from_spec(["label"])  # type: ignore[arg-type]


def test_code_like_spec_strings_are_plain_data() -> None:
    payload = "__import__('os').system('x')"
    parser = parser_from_spec({"kind": "label", "labels": [payload, "other"]})
    assert isinstance(parser, LabelParser)
    assert parser.labels == (payload, "other")
    assert parser.parse(tagged(payload)).value == payload
    exact = parser_from_spec({"kind": "exact", "tag": "__import__"})
    assert exact.parse("<__import__>x</__import__>").value == "x"
    with pytest.raises(ValueError, match="kind"):
        parser_from_spec({"kind": "__import__('os')"})
